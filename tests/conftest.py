"""Test-suite configuration: the Hypothesis settings profile, and no NCCL overrides.

``FABRICSIM_HYPOTHESIS_PROFILE=fast`` (the default: 25 examples per property, for CI) or
``thorough`` (2,000 examples, nightly) picks one of the profiles ``fabricsim.testing.strategies``
registers; any other registered profile name works too. Tests that are expensive per example
scale their example count from the loaded profile (see ``tests/test_properties.py``).
"""

import pytest

from fabricsim.cli.nccl_env import VARIABLES
from fabricsim.testing.strategies import load_profile

load_profile()


@pytest.fixture(autouse=True)
def _no_nccl_overrides(monkeypatch):
    """``fabricsim collective`` honours NCCL_ALGO, NCCL_PROTO and the channel bounds as NCCL
    does: a machine that sets them for its real runs must not change the suite's numbers.
    Tests that want them set them with monkeypatch."""
    for var in VARIABLES:
        monkeypatch.delenv(var, raising=False)
