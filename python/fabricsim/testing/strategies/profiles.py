"""Hypothesis settings profiles for fabricsim: ``fabricsim-fast`` (CI) and
``fabricsim-thorough`` (nightly), picked by :func:`load_profile`."""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
    from hypothesis.errors import InvalidArgument
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fabricsim.testing.strategies needs Hypothesis, which is not installed: "
        "pip install 'fabricsim[test]' (or pip install hypothesis)"
    ) from _e

PROFILE_ENV = "FABRICSIM_HYPOTHESIS_PROFILE"
"""Environment variable :func:`load_profile` reads: ``fast``, ``thorough`` or a profile name."""

SETTINGS_PROFILES = {"fast": "fabricsim-fast", "thorough": "fabricsim-thorough"}

settings.register_profile(
    "fabricsim-fast",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fabricsim-thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def load_profile(name: str | None = None) -> str:
    """Load a settings profile and return its name: ``name``, else the value of the
    ``FABRICSIM_HYPOTHESIS_PROFILE`` environment variable, else ``"fabricsim-fast"``.
    ``"fast"`` and ``"thorough"`` are short for the two fabricsim profiles; any other
    registered profile name works too."""
    if name is None:
        name = os.environ.get(PROFILE_ENV) or "fast"
    if not isinstance(name, str):
        raise InvalidArgument(f"name={name!r} must be a profile name (str)")
    full = SETTINGS_PROFILES.get(name, name)
    try:
        settings.load_profile(full)
    except InvalidArgument:
        raise InvalidArgument(
            f"{PROFILE_ENV} / name={name!r}: unknown Hypothesis settings profile; fabricsim's "
            f"are {', '.join(f'{k!r} ({v})' for k, v in SETTINGS_PROFILES.items())}"
        ) from None
    return full
