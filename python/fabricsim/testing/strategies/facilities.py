"""Strategies for facilities: :class:`fabricsim.Facility` sites valid for a hardware profile."""

from __future__ import annotations

import math
from collections.abc import Sequence

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.strategies import SearchStrategy
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fabricsim.testing.strategies needs Hypothesis, which is not installed: "
        "pip install 'fabricsim[test]' (or pip install hypothesis)"
    ) from _e

from fabricsim.analysis.facility import COOLING_TYPES, Facility, min_rack_power_kw
from fabricsim.fabric import profiles as _profiles
from fabricsim.testing.strategies._args import _drawn, _int, _names, _ordered, _real


def facilities(
    *,
    profile: str = "h100-ndr400",
    coolings: Sequence[str] = COOLING_TYPES,
    min_it_power_mw: float = 0.05,
    max_it_power_mw: float = 200.0,
    max_rack_power_kw: float = 150.0,
    min_ambient_c: float = -10.0,
    max_ambient_c: float = 45.0,
    max_ambient_series: int = 4,
    regions: Sequence[str] = (),
    max_carriers: int = 3,
    pue: bool = True,
) -> SearchStrategy[Facility]:
    """:class:`fabricsim.Facility` sites that can host ``profile``'s servers: IT power in
    ``[min_it_power_mw, max_it_power_mw]``, rack power from one server at its minimum GPU
    power cap (:func:`fabricsim.analysis.facility.min_rack_power_kw`) up to
    ``max_rack_power_kw``, a cooling from ``coolings``, a design dry-bulb or a series of up to
    ``max_ambient_series`` temperatures, sometimes a PUE override (with ``pue``), growth,
    1..``max_carriers`` carriers and a distance to each of ``regions``. Shrinks towards one
    temperate air-cooled site with one carrier.

    >>> from hypothesis import find
    >>> f = find(facilities(regions=["paris"]), lambda f: f.cooling == "immersion")
    >>> f.cooling, sorted(f.distance_km), len(f.carriers)
    ('immersion', ['paris'], 1)
    """
    try:
        _profiles.get_profile(profile)
        floor_kw = min_rack_power_kw(profile)
    except Exception as e:
        raise InvalidArgument(f"profile={profile!r}: {e}") from None
    coolings = _names("coolings", coolings, COOLING_TYPES)
    lo_mw = _real(
        "min_it_power_mw",
        min_it_power_mw,
        min_value=0.0,
        max_value=math.inf,
        exclude_min=True,
        exclude_max=True,
    )
    hi_mw = _real(
        "max_it_power_mw",
        max_it_power_mw,
        min_value=0.0,
        max_value=math.inf,
        exclude_min=True,
        exclude_max=True,
    )
    _ordered("min_it_power_mw", lo_mw, "max_it_power_mw", hi_mw)
    hi_rack = _real(
        "max_rack_power_kw",
        max_rack_power_kw,
        min_value=floor_kw,
        max_value=math.inf,
        exclude_max=True,
    )
    lo_amb = _real("min_ambient_c", min_ambient_c, min_value=-60.0, max_value=60.0)
    hi_amb = _real("max_ambient_c", max_ambient_c, min_value=-60.0, max_value=60.0)
    _ordered("min_ambient_c", lo_amb, "max_ambient_c", hi_amb)
    n_series = _int("max_ambient_series", max_ambient_series, 1)
    if isinstance(regions, str):
        raise InvalidArgument(f"regions={regions!r} must be a list of region names")
    regions = tuple(regions)
    if len(set(regions)) != len(regions) or not all(isinstance(g, str) and g for g in regions):
        raise InvalidArgument(f"regions={regions!r} must be distinct non-empty names")
    max_carriers = _int("max_carriers", max_carriers, 1)
    if not isinstance(pue, bool):
        raise InvalidArgument(f"pue={pue!r} must be a bool")
    temperate = min(max(20.0, lo_amb), hi_amb)

    def build(draw) -> Facility:
        amb = st.floats(lo_amb, hi_amb, allow_nan=False)
        n = draw(st.integers(1, n_series))
        ambient = (
            draw(st.just(temperate) | amb)
            if n == 1
            else tuple(draw(st.lists(amb, min_size=n, max_size=n)))
        )
        k = draw(st.integers(1, max_carriers))
        carriers = [
            {
                "name": f"carrier{i}",
                "capacity_gbps": draw(st.sampled_from([100.0, 400.0])),
                "availability": draw(
                    st.sampled_from(
                        [
                            _profiles.CARRIER_AVAILABILITY_UNPROTECTED,
                            _profiles.CARRIER_AVAILABILITY_PROTECTED,
                        ]
                    )
                ),
                "jitter_us": draw(st.sampled_from([0.0, 50.0])),
            }
            for i in range(k)
        ]
        return Facility(
            name=draw(st.sampled_from(["site", "site-a", "site-b"])),
            it_power_mw=draw(st.floats(lo_mw, hi_mw)),
            rack_power_kw=draw(st.floats(floor_kw, hi_rack)),
            cooling=draw(st.sampled_from(coolings)),
            ambient_c=ambient,
            pue=draw(st.none() | st.floats(1.0, 2.0)) if pue else None,
            growth_mw=draw(st.just(0.0) | st.floats(0.0, hi_mw)),
            growth_lead_months=draw(st.floats(0.0, 36.0)),
            carriers=carriers,
            distance_km={g: draw(st.floats(0.0, 5000.0)) for g in regions},
            power_price_per_mwh=draw(st.floats(0.0, 300.0)),
        )

    return _drawn(build)


__all__ = ["facilities"]
