"""Argument checks shared by the strategy functions: each raises Hypothesis's
``InvalidArgument`` naming the argument, before anything is drawn."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fabricsim.testing.strategies needs Hypothesis, which is not installed: "
        "pip install 'fabricsim[test]' (or pip install hypothesis)"
    ) from _e

from fabricsim import _validate
from fabricsim.exceptions import FabricError
from fabricsim.fabric import schema
from fabricsim.fabric.compiled import Fabric

_SWITCH_ROLES = ("leaf", "spine", "core", "nvswitch", "nic", "border", "carrier_pop")
assert set(_SWITCH_ROLES) == set(schema.ROLES) - set(schema.ENDPOINT_ROLES)


def _int(name: str, value: Any, min_value: int = 0, max_value: int | None = None) -> int:
    """:func:`fabricsim._validate.integer`, its error raised as Hypothesis's InvalidArgument."""
    try:
        return _validate.integer(name, value, minimum=min_value, maximum=max_value)
    except FabricError as e:
        raise InvalidArgument(str(e)) from None


def _real(
    name: str,
    value: Any,
    *,
    min_value: float,
    max_value: float,
    exclude_min: bool = False,
    exclude_max: bool = False,
) -> float:
    """:func:`fabricsim._validate.real`, its error raised as Hypothesis's InvalidArgument."""
    try:
        return _validate.real(
            name,
            value,
            minimum=min_value,
            maximum=max_value,
            min_open=exclude_min,
            max_open=exclude_max,
        )
    except FabricError as e:
        raise InvalidArgument(str(e)) from None


def _ordered(lo_name: str, lo: float, hi_name: str, hi: float) -> None:
    if lo > hi:
        raise InvalidArgument(f"{lo_name}={lo!r} must be <= {hi_name}={hi!r}")


def _strategy(name: str, value: Any, default: SearchStrategy, check=None) -> SearchStrategy:
    """``None`` -> ``default``; a strategy as is; a plain value (checked) -> ``st.just``."""
    if value is None:
        return default
    if isinstance(value, SearchStrategy):
        return value
    if check is not None:
        check(name, value)
    return st.just(value)


def _positive_real(name: str, value: Any) -> None:
    _real(name, value, min_value=0.0, max_value=math.inf, exclude_min=True, exclude_max=True)


def _names(name: str, value: Any, valid: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{name}={value!r} must be a list of names from {list(valid)}")
    out = tuple(value)
    if not out:
        raise InvalidArgument(f"{name}={value!r} must name at least one of {list(valid)}")
    bad = [v for v in out if v not in valid]
    if bad:
        raise InvalidArgument(f"{name}: unknown name {bad[0]!r}; valid: {', '.join(valid)}")
    return out


def _fabric_arg(fabric: Any) -> Fabric:
    if not isinstance(fabric, Fabric):
        raise InvalidArgument(
            f"fabric={fabric!r} must be a fabricsim.Fabric (draw one first, e.g. "
            "data.draw(fabrics()) or fabrics().flatmap(...))"
        )
    return fabric


def _min_count(needed: int, per_unit: int) -> int:
    """Smallest number of units of ``per_unit`` GPUs each that holds ``needed`` GPUs."""
    return max(1, -(-needed // per_unit))


@st.composite
def _drawn(draw, build):
    """``build(draw)`` as a strategy. Decorated once here: ``st.composite`` inspects the source
    of what it wraps, far too slow to redo every time a strategy function is called."""
    return build(draw)


def _palette(draw, values: SearchStrategy) -> SearchStrategy:
    """One to three distinct values to draw every edge's value from: ties (equal-cost paths,
    equal rates) stay common, and the example shrinks to a single value."""
    return st.sampled_from(draw(st.lists(values, min_size=1, max_size=3, unique=True)))
