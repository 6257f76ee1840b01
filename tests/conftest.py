"""Test-suite configuration: the Hypothesis settings profile.

``FABRICSIM_HYPOTHESIS_PROFILE=fast`` (the default: 25 examples per property, for CI) or
``thorough`` (2,000 examples, nightly) picks one of the profiles ``fabricsim.testing.strategies``
registers; any other registered profile name works too. Tests that are expensive per example
scale their example count from the loaded profile (see ``tests/test_properties.py``).
"""

from fabricsim.testing.strategies import load_profile

load_profile()
