"""AI-factory facilities: ready-now power, rack power, cooling, climate and location, turned into
GPUs, clocks, step-time tails, energy per token and inference latency.

Every constant below comes from :mod:`fabricsim.fabric.profiles` (``profiles.sources()`` lists
them with their public sources); docs/facilities.md explains each model at length.

Power -> GPUs and clocks
    A rack takes the power ``min(rack_power_kw, cooling limit)`` (the electrical path and the
    cooling must both carry it: *usable kW per rack*). It holds ``floor(usable / server kW)``
    servers at full draw (the profile's ``server_power_kw``, e.g. DGX H100 10.2 kW). When the
    rack cannot carry even one server at full draw, it holds one server whose GPUs are
    power-capped to what is left once the rest of the server (server kW - GPUs x TDP) is fed;
    below the GPUs' minimum limit (``nvidia-smi`` Min Power Limit) the facility is refused.
    A capped GPU sustains the throughput fraction the profile's ``power_curve`` gives (the
    *clock fraction*; NVIDIA's Max-Q point: 97 % of the throughput at ~82 % of the power).
    Ready-now GPUs = ``floor(IT kW / server draw) x GPUs per server``; the same with
    ``growth_mw`` added gives the GPUs the site grows to after ``growth_lead_months``. A job
    with more GPUs than that still runs if capping every GPU lets its servers share the IT
    power (no lower than the minimum limit): the site is then bound by power, at a lower clock.
Cooling and heat -> stragglers
    A synchronous step waits for its slowest GPU, so its compute time is the nominal time
    (divided by the clock fraction) times the largest per-GPU slowdown over the job's GPUs.
    Per GPU the slowdown is ``exp(sigma Z) x (1 + T)``: ``exp(sigma Z)`` (Z standard normal)
    is the persistent manufacturing / power-management variation every cooling type shows
    (Sinha et al. SC '22: 8 % spread between identical GPUs over ~25,000 V100s, so
    ``sigma = 0.08 / E[range of 24,883 normals]``); ``T`` is exponential with mean ``mu``, the
    thermal throttling of GPUs in air: ``mu = mu_hot x sensitivity x heat`` where ``heat`` goes
    linearly from 0 at 18 °C to 1 at 27 °C dry-bulb (ASHRAE's recommended envelope; it keeps
    growing above) and ``mu_hot`` makes the expected maximum over a 16,384-GPU job equal the
    1.5 % mid-day slowdown the Llama 3 paper reports for Meta's air-cooled H100 fleet
    (``mu_hot = 0.015 / H_16384``, H the harmonic number, since the maximum of n exponentials
    has mean ``mu H_n``). Liquid and immersion cooling hold the die temperature below their
    limit: sensitivity 0. The maximum of more GPUs is larger (extreme value), so large jobs
    suffer more. An ``ambient_c`` series is sampled: each Monte Carlo sample takes one of its
    values (an hour or a day), so the p99 sees the hot hours.
Energy
    PUE: the ``pue`` given, else the cooling's range interpolated by the mean ambient over the
    same 18-27 °C envelope. Facility power = IT power x PUE; tokens per MWh = tokens/s x 3600
    / facility MW; energy cost per million tokens = price per MWh x 1e6 / tokens per MWh.
Location and carriers
    Each user region is an edge site homed on all the facility's carriers at the fibre route
    length ``distance_km[region] x route_factor`` (1.3x the great circle, the median over
    conduit maps; Bozkurt et al.), through :func:`fabricsim.edge_sites` and
    :func:`fabricsim.edge_latency`: p50/p99 request latency, SLO attainment and availability
    ``1 - prod(1 - a_i)`` over the carriers.

>>> import fabricsim as fs
>>> f = fs.Facility.preset("legacy-air-colo", name="metro")
>>> f.cooling, f.usable_rack_kw("h100"), f.servers_per_rack("h100")
('air', 30.0, 2)
>>> round(f.pue_value, 2), f.ready_gpus("h100")
(1.58, 15680)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from fabricsim import _validate
from fabricsim._engine import bounded_threads
from fabricsim.analysis.edge import edge_latency
from fabricsim.analysis.training import TrainingJob, exposed_comm, step
from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError
from fabricsim.fabric import profiles
from fabricsim.fabric.builders import Carrier, edge_sites
from fabricsim.fabric.compiled import Fabric
from fabricsim.types import EdgePolicy, Routing

COOLING_TYPES = tuple(profiles.COOLING)

# --------------------------------------------------------------------------- presets

#: Named facilities for common cases. Each figure is a class value from the sources in
#: :mod:`fabricsim.fabric.profiles` (rack power = the cooling class's published range;
#: ambient = a temperate design dry-bulb), not a particular site; ``Facility.preset(name,
#: **changes)`` starts from one.
PRESETS: dict[str, dict] = {
    # An enterprise colocation hall: Uptime's 2024 survey puts the average rack at 8-10 kW and
    # air-cooling's practical limit at 30-40 kW; a hall built for dense racks feeds 30 kW.
    "legacy-air-colo": dict(
        it_power_mw=20.0,
        rack_power_kw=30.0,
        cooling="air",
        ambient_c=25.0,
        carriers=(
            dict(
                name="carrier-a",
                capacity_gbps=400.0,
                availability=profiles.CARRIER_AVAILABILITY_UNPROTECTED,
            ),
            dict(
                name="carrier-b",
                capacity_gbps=400.0,
                availability=profiles.CARRIER_AVAILABILITY_UNPROTECTED,
            ),
        ),
    ),
    # The same hall retrofitted with rear-door heat exchangers (55-75 kW per rack).
    "rear-door-retrofit": dict(
        it_power_mw=20.0,
        rack_power_kw=55.0,
        cooling="rear_door",
        ambient_c=25.0,
        carriers=(
            dict(
                name="carrier-a",
                capacity_gbps=400.0,
                availability=profiles.CARRIER_AVAILABILITY_UNPROTECTED,
            ),
            dict(
                name="carrier-b",
                capacity_gbps=400.0,
                availability=profiles.CARRIER_AVAILABILITY_UNPROTECTED,
            ),
        ),
    ),
    # A liquid-cooled AI campus: direct-to-chip liquid at the class's 100 kW per rack floor
    # (GB200 NVL72 racks run 120-132 kW), protected carrier circuits.
    "liquid-ai-campus": dict(
        it_power_mw=100.0,
        rack_power_kw=100.0,
        cooling="direct_liquid",
        ambient_c=25.0,
        carriers=(
            dict(
                name="carrier-a",
                capacity_gbps=800.0,
                availability=profiles.CARRIER_AVAILABILITY_PROTECTED,
            ),
            dict(
                name="carrier-b",
                capacity_gbps=800.0,
                availability=profiles.CARRIER_AVAILABILITY_PROTECTED,
            ),
        ),
    ),
    # Single-phase immersion tanks at the class's 60 kW per tank floor, one carrier.
    "immersion-site": dict(
        it_power_mw=30.0,
        rack_power_kw=60.0,
        cooling="immersion",
        ambient_c=25.0,
        carriers=(
            dict(
                name="carrier-a",
                capacity_gbps=400.0,
                availability=profiles.CARRIER_AVAILABILITY_UNPROTECTED,
            ),
        ),
    ),
}


def _carrier(i: int, c: Any) -> Carrier:
    if isinstance(c, Carrier):
        return c
    if not isinstance(c, Mapping):
        raise InvalidTypeError(
            f"carriers[{i}]: expected a fabricsim.topology.Carrier or a dict, "
            f"got {type(c).__name__}"
        )
    valid = [f.name for f in fields(Carrier)]
    for k in c:
        if k not in valid:
            raise InvalidArgumentError(
                f"carriers[{i}]: unknown key {k!r}; valid keys: {', '.join(valid)}"
            )
    if "name" not in c or "capacity_gbps" not in c:
        raise InvalidArgumentError(f"carriers[{i}]: needs name and capacity_gbps")
    return Carrier(**c)


@dataclass(frozen=True, kw_only=True)
class Facility:
    """One site: its power, cooling, climate, carriers and distance to users. Frozen and
    checked on construction; every bad value is one :class:`fabricsim.InvalidArgumentError`
    (or ``UnknownNameError`` / ``InvalidTypeError``) whose message starts with the field.

    ``it_power_mw``: IT power ready now, MW. ``rack_power_kw``: sustained kW per rack the
    electrical path delivers. ``cooling``: one of :data:`COOLING_TYPES`. ``ambient_c``: the
    design dry-bulb temperature, °C, or a series of them (hourly or daily).
    ``pue``: override of the PUE the cooling and climate give. ``growth_mw`` more IT MW after
    ``growth_lead_months``. ``carriers``: :class:`fabricsim.topology.Carrier` records or dicts
    of its fields. ``distance_km``: great-circle km to each user region (``{region: km}``);
    ``route_factor`` turns it into fibre route km. ``power_price_per_mwh``: energy price per
    MWh (any currency). ``cooling_limit_kw``: override the cooling class's heat removal per
    rack (a specific product's datasheet). ``server_power_kw``: override the profile's.

    >>> Facility(name="x", it_power_mw=-1, rack_power_kw=30, cooling="air")
    Traceback (most recent call last):
    ...
    fabricsim.exceptions.InvalidArgumentError: it_power_mw: must be a finite number > 0, got -1
    """

    name: str
    it_power_mw: float
    rack_power_kw: float
    cooling: str
    ambient_c: Any = 25.0
    pue: float | None = None
    growth_mw: float = 0.0
    growth_lead_months: float = 0.0
    carriers: Sequence = ()
    distance_km: Mapping = field(default_factory=dict, hash=False)
    route_factor: float = profiles.FIBRE_ROUTE_FACTOR
    power_price_per_mwh: float = 0.0
    cooling_limit_kw: float | None = None
    server_power_kw: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgumentError(f"name: must be a non-empty string, got {self.name!r}")
        set_ = object.__setattr__
        set_(self, "it_power_mw", _validate.positive("it_power_mw", self.it_power_mw))
        set_(self, "rack_power_kw", _validate.positive("rack_power_kw", self.rack_power_kw))
        set_(self, "cooling", _validate.choice("cooling", self.cooling, COOLING_TYPES))
        amb = self.ambient_c
        if _validate.is_real(amb):
            series: tuple[float, ...] = (
                _validate.real("ambient_c", amb, minimum=-60.0, maximum=60.0),
            )
        elif isinstance(amb, (str, bytes, Mapping)) or not hasattr(amb, "__iter__"):
            raise InvalidTypeError(
                f"ambient_c: expected a temperature in °C or a series of them, got {amb!r}"
            )
        else:
            series = tuple(
                _validate.real(f"ambient_c[{i}]", x, minimum=-60.0, maximum=60.0)
                for i, x in enumerate(amb)
            )
            if not series:
                raise InvalidArgumentError("ambient_c: the series is empty")
        set_(
            self, "ambient_c", series[0] if len(series) == 1 and _validate.is_real(amb) else series
        )
        if self.pue is not None:
            set_(self, "pue", _validate.real("pue", self.pue, minimum=1.0, maximum=5.0))
        set_(self, "growth_mw", _validate.positive("growth_mw", self.growth_mw, allow_zero=True))
        set_(
            self,
            "growth_lead_months",
            _validate.positive("growth_lead_months", self.growth_lead_months, allow_zero=True),
        )
        if isinstance(self.carriers, (str, bytes, Mapping)) or not hasattr(
            self.carriers, "__iter__"
        ):
            raise InvalidTypeError("carriers: expected a list of Carrier records or dicts")
        cs = tuple(_carrier(i, c) for i, c in enumerate(self.carriers))
        for i, c in enumerate(cs):
            if not isinstance(c.name, str) or not c.name:
                raise InvalidArgumentError(f"carriers[{i}].name: must be a non-empty string")
            _validate.positive(f"carriers[{i}].capacity_gbps", c.capacity_gbps)
            a = _validate.probability(f"carriers[{i}].availability", c.availability)
            if a == 0:
                raise InvalidArgumentError(f"carriers[{i}].availability: must be in (0, 1], got 0")
        names = [c.name for c in cs]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"carriers: a carrier name appears twice: {names}")
        set_(self, "carriers", cs)
        if not isinstance(self.distance_km, Mapping):
            raise InvalidTypeError(
                f"distance_km: expected a mapping region -> km, got {self.distance_km!r}"
            )
        dist = {}
        for region, km in self.distance_km.items():
            if not isinstance(region, str) or not region:
                raise InvalidArgumentError(
                    f"distance_km: region names must be non-empty strings, got {region!r}"
                )
            dist[region] = _validate.positive(f"distance_km[{region!r}]", km, allow_zero=True)
        if dist and not cs:
            raise InvalidArgumentError(
                "carriers: a facility with user regions (distance_km) needs at least one carrier"
            )
        set_(self, "distance_km", dist)
        set_(
            self,
            "route_factor",
            _validate.real("route_factor", self.route_factor, minimum=1.0, maximum=10.0),
        )
        set_(
            self,
            "power_price_per_mwh",
            _validate.positive("power_price_per_mwh", self.power_price_per_mwh, allow_zero=True),
        )
        for key in ("cooling_limit_kw", "server_power_kw"):
            if getattr(self, key) is not None:
                set_(self, key, _validate.positive(key, getattr(self, key)))

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def preset(cls, preset: str, /, **changes: Any) -> Facility:
        """A facility from :data:`PRESETS` with ``changes`` applied (``name`` defaults to the
        preset's name).

        >>> Facility.preset("liquid-ai-campus").cooling
        'direct_liquid'
        """
        _validate.choice("preset", preset, PRESETS)
        kw = {"name": preset, **PRESETS[preset]}
        kw.update(changes)
        return cls(**kw)

    # -- derived quantities -----------------------------------------------------------------
    @property
    def cooling_profile(self) -> profiles.Cooling:
        return profiles.COOLING[self.cooling]

    @property
    def cooling_max_kw(self) -> float:
        """Heat one rack can reject, kW (the override, else the cooling class's)."""
        return self.cooling_limit_kw or self.cooling_profile.max_rack_kw

    @property
    def ambient_series_c(self) -> tuple:
        a = self.ambient_c
        return a if isinstance(a, tuple) else (a,)

    @property
    def pue_value(self) -> float:
        """The PUE the model uses: the override, else the cooling's range at the mean ambient."""
        if self.pue is not None:
            return self.pue
        lo, hi = self.cooling_profile.pue_range
        return lo + (hi - lo) * min(1.0, _heat(float(np.mean(self.ambient_series_c))))

    def usable_rack_kw(self, profile: Any = "h100-ndr400") -> float:
        """kW per rack both the electrical path and the cooling carry."""
        return min(self.rack_power_kw, self.cooling_max_kw)

    def _server(self, profile: Any) -> tuple[profiles.Profile, float]:
        p = profiles.get_profile(profile)
        kw = self.server_power_kw or p.server_power_kw
        if kw is None or p.gpu_tdp_w is None or not p.power_curve:
            raise InvalidArgumentError(
                f"profile {p.name!r}: has no server_power_kw / gpu_tdp_w / power_curve; give "
                "them to use it in a facility"
            )
        if p.gpus_per_node * p.gpu_tdp_w > kw * 1e3:
            raise InvalidArgumentError(
                f"server_power_kw: {kw:g} kW cannot feed {p.gpus_per_node} GPUs of "
                f"{p.gpu_tdp_w:g} W"
            )
        return p, kw

    def servers_per_rack(self, profile: Any = "h100-ndr400") -> int:
        """Servers at full draw per rack; 1 (power-capped) when not even one fits."""
        _, kw = self._server(profile)
        return max(1, int(math.floor(self.usable_rack_kw() / kw + 1e-12)))

    def gpu_power_fraction(self, profile: Any = "h100-ndr400") -> float:
        """The GPUs' power limit as a fraction of their TDP: 1 unless the rack cannot carry one
        server at full draw. Raises InvalidArgumentError naming ``rack_power_kw`` (or the
        cooling) when it cannot carry one server even with its GPUs at their minimum limit."""
        p, kw = self._server(profile)
        usable = self.usable_rack_kw()
        if usable >= kw - 1e-9:
            return 1.0
        tdp_w = float(p.gpu_tdp_w or 0.0)  # checked by _server
        gpu_kw = p.gpus_per_node * tdp_w / 1e3
        rest_kw = kw - gpu_kw
        frac = (usable - rest_kw) / gpu_kw
        floor_w = p.gpu_min_power_w or 0.0
        floor = floor_w / tdp_w
        if frac < floor - 1e-12:
            need = rest_kw + p.gpus_per_node * floor_w / 1e3
            what = (
                "rack_power_kw"
                if self.rack_power_kw <= self.cooling_max_kw
                else f"cooling ({self.cooling}, {self.cooling_max_kw:g} kW per rack)"
            )
            raise InvalidArgumentError(
                f"{what}: {usable:g} kW per rack is below one {p.name} server at its minimum "
                f"GPU power limit ({need:.2f} kW: {p.gpus_per_node} x {floor_w:g} W + "
                f"{rest_kw:.2f} kW for the rest of the server)"
            )
        return frac

    def clock_fraction(self, profile: Any = "h100-ndr400") -> float:
        """Sustained GPU throughput as a fraction of uncapped (the profile's power curve)."""
        p, _ = self._server(profile)
        return profiles.throughput_fraction(p.power_curve, self.gpu_power_fraction(p))

    def server_draw_kw(self, profile: Any = "h100-ndr400") -> float:
        """What one server draws, kW: its full power, or the rack's usable kW when capped."""
        p, kw = self._server(profile)
        return kw if self.gpu_power_fraction(p) >= 1.0 else self.usable_rack_kw()

    def ready_gpus(self, profile: Any = "h100-ndr400", *, with_growth: bool = False) -> int:
        """GPUs the ready-now IT power feeds (plus ``growth_mw`` with ``with_growth``)."""
        p, _ = self._server(profile)
        mw = self.it_power_mw + (self.growth_mw if with_growth else 0.0)
        servers = int(math.floor(mw * 1e3 / self.server_draw_kw(p) + 1e-9))
        return servers * p.gpus_per_node

    def job_power_fraction(self, profile: Any = "h100-ndr400", gpus: int = 8) -> float:
        """The GPU power limit (fraction of TDP) a job of ``gpus`` GPUs runs at here: the
        rack's (:meth:`gpu_power_fraction`), lowered further when the ready-now IT power
        cannot feed the job's servers at that draw (the operator caps every GPU so that the
        job fits). 0.0 when even the minimum cap does not fit the job in the IT power."""
        p, kw = self._server(profile)
        rack = self.gpu_power_fraction(p)
        servers = math.ceil(_validate.integer("gpus", gpus) / p.gpus_per_node)
        per_server_kw = self.it_power_mw * 1e3 / servers
        if per_server_kw >= self.server_draw_kw(p) - 1e-9:
            return rack
        tdp_w = float(p.gpu_tdp_w or 0.0)  # checked by _server
        gpu_kw = p.gpus_per_node * tdp_w / 1e3
        frac = (per_server_kw - (kw - gpu_kw)) / gpu_kw
        floor = (p.gpu_min_power_w or 0.0) / tdp_w
        return min(rack, frac) if frac >= floor - 1e-12 else 0.0

    def job_clock_fraction(self, profile: Any = "h100-ndr400", gpus: int = 8) -> float:
        """Sustained throughput fraction of a ``gpus``-GPU job here (0.0 if it cannot run)."""
        p, _ = self._server(profile)
        frac = self.job_power_fraction(p, gpus)
        return profiles.throughput_fraction(p.power_curve, frac) if frac > 0 else 0.0

    def thermal_mean(self, ambient_c: float) -> float:
        """Mean per-GPU thermal slowdown ``mu`` at ``ambient_c`` (see the module docs)."""
        return _MU_HOT * self.cooling_profile.thermal_sensitivity * _heat(ambient_c)


def min_rack_power_kw(profile: Any = "h100-ndr400") -> float:
    """The least kW per rack that carries one server of ``profile`` with its GPUs at their
    minimum power limit (the rest of the server at full draw): below it a facility is refused.

    >>> round(min_rack_power_kw("h100"), 2)  # 10.2 kW - 8 x 700 W + 8 x 200 W
    6.2
    """
    p = profiles.get_profile(profile)
    if p.server_power_kw is None or p.gpu_tdp_w is None:
        raise InvalidArgumentError(f"profile {p.name!r}: has no server_power_kw / gpu_tdp_w")
    rest = p.server_power_kw - p.gpus_per_node * p.gpu_tdp_w / 1e3
    return rest + p.gpus_per_node * (p.gpu_min_power_w or 0.0) / 1e3


def _heat(ambient_c: float) -> float:
    """0 at or below the free-cooling temperature, 1 at the mechanical one, linear (and on
    above it)."""
    lo, hi = profiles.AMBIENT_FREE_COOLING_C, profiles.AMBIENT_MECHANICAL_C
    return max(0.0, (ambient_c - lo) / (hi - lo))


def _expected_max_normal(n: int) -> float:
    """E[max of n standard normals], Blom's approximation Phi^-1((n - 0.375) / (n + 0.25))."""
    from statistics import NormalDist

    if n <= 1:
        return 0.0
    return NormalDist().inv_cdf((n - 0.375) / (n + 0.25))


#: sigma of the per-GPU log-slowdown: the expected range (2 E[max]) of Sinha et al.'s GPU count
#: spans their 8 % spread.
SIGMA_VARIATION = profiles.GPU_VARIATION_SPREAD / (
    2.0 * _expected_max_normal(profiles.GPU_VARIATION_GPUS)
)
#: mean per-GPU thermal slowdown at the top of the ASHRAE envelope, air-cooled: the maximum of
#: the Llama 3 job's GPUs (mean mu x H_n) is its 1.5 % mid-day slowdown.
_MU_HOT = profiles.DIURNAL_SLOWDOWN / float(
    np.sum(1.0 / np.arange(1, profiles.DIURNAL_JOB_GPUS + 1))
)
MU_HOT = _MU_HOT


def straggler_factors(
    facility: Facility, gpus: int, samples: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample compute slowdown of a synchronous step over ``gpus`` GPUs (max over the GPUs
    of ``exp(sigma Z) x (1 + T)``), and its thermal-only part (max of ``1 + T``); each an
    array of ``samples`` factors (1 = the median GPU at full clocks). Seeded: same seed, same
    factors.

    >>> f = Facility.preset("liquid-ai-campus")
    >>> total, thermal = straggler_factors(f, 64, 4, seed=1)
    >>> bool((thermal == 1).all()), bool((total > 1).all())
    (True, True)
    """
    gpus = _validate.integer("gpus", gpus)
    samples = _validate.integer("samples", samples)
    rng = np.random.default_rng(np.random.SeedSequence([_validate.seed(seed), 0x5EED_FAC]))
    series = np.asarray(facility.ambient_series_c, dtype=float)
    amb = series[rng.integers(0, len(series), size=samples)]
    mu = np.array([facility.thermal_mean(a) for a in amb])
    total = np.empty(samples)
    thermal = np.empty(samples)
    chunk = max(1, 4_000_000 // gpus)
    for s0 in range(0, samples, chunk):
        s1 = min(samples, s0 + chunk)
        z = rng.standard_normal((s1 - s0, gpus))
        t = rng.standard_exponential((s1 - s0, gpus)) * mu[s0:s1, None]
        total[s0:s1] = np.max(np.exp(SIGMA_VARIATION * z) * (1.0 + t), axis=1)
        thermal[s0:s1] = 1.0 + np.max(t, axis=1)
    return total, thermal


# --------------------------------------------------------------------------- site step


@dataclass(frozen=True, eq=False)
class SiteStep:
    """A training job's step on one facility: per-sample arrays (seconds) and what each
    effect costs. ``dominant``: which of ``"network"`` (its tail: p99 - p50 of the exposed
    communication) and ``"stragglers"`` (p99 compute slowdown x compute time) adds more to the
    p99 step time."""

    facility: Facility
    clock_fraction: float
    compute_nominal_s: float  # at full clocks, no stragglers
    compute_s: np.ndarray  # capped clocks x stragglers, per sample
    exposed_comm_s: np.ndarray
    step_time_s: np.ndarray
    straggler: np.ndarray  # compute slowdown factor per sample (>= ~1)
    thermal: np.ndarray  # its thermal part
    tokens_per_step: int = 0

    @property
    def step_time_p50_s(self) -> float:
        return float(np.quantile(self.step_time_s, 0.5))

    @property
    def step_time_p99_s(self) -> float:
        return float(np.quantile(self.step_time_s, 0.99))

    @property
    def tokens_per_s(self) -> float:
        """Tokens/s at the median step time."""
        return self.tokens_per_step / self.step_time_p50_s

    @property
    def straggler_p50(self) -> float:
        return float(np.quantile(self.straggler, 0.5)) - 1.0

    @property
    def straggler_p99(self) -> float:
        return float(np.quantile(self.straggler, 0.99)) - 1.0

    @property
    def thermal_p99(self) -> float:
        return float(np.quantile(self.thermal, 0.99)) - 1.0

    @property
    def network_tail_s(self) -> float:
        return float(np.quantile(self.exposed_comm_s, 0.99) - np.quantile(self.exposed_comm_s, 0.5))

    @property
    def straggler_tail_s(self) -> float:
        return self.compute_nominal_s / self.clock_fraction * max(0.0, self.straggler_p99)

    @property
    def dominant(self) -> str:
        return "network" if self.network_tail_s > self.straggler_tail_s else "stragglers"


def combine_site(
    job: Any, facility: Facility, comm: Mapping[str, np.ndarray], *, samples: int, seed: int = 0
) -> SiteStep:
    """Step time per sample from the job's per-component communication times (``comm``, as
    :attr:`fabricsim.StepResult.comm_time_s`) and the facility's clocks and stragglers, with
    :mod:`fabricsim.analysis.training`'s overlap formula."""

    p = profiles.get_profile(job.profile)
    clock = facility.job_clock_fraction(p, job.gpus) or facility.clock_fraction(p)
    total, thermal = straggler_factors(facility, job.gpus, samples, seed)
    compute = job.compute_time_s / clock * total
    exposed = exposed_comm(job, dict(comm), compute, samples)
    return SiteStep(
        facility=facility,
        clock_fraction=clock,
        compute_nominal_s=job.compute_time_s,
        compute_s=compute,
        exposed_comm_s=exposed,
        step_time_s=compute + exposed,
        straggler=total,
        thermal=thermal,
        tokens_per_step=job.global_batch_tokens,
    )


@bounded_threads
def site_step(
    fabric: Any,
    job: Any,
    facility: Facility,
    background: Any = None,
    *,
    samples: int = 20,
    seed: int = 0,
    routing: Routing = "ecmp",
    threads: int | None = None,
) -> SiteStep:
    """One training step of ``job`` on ``fabric`` at ``facility``: the network's Monte Carlo
    (:func:`fabricsim.step` with ``background``) combined with the facility's power-capped
    clocks and its straggler distribution, sample by sample (``fs.step(..., facility=f).site``).

    >>> import fabricsim as fs
    >>> fab = fs.Fabric.from_networkx(fs.leaf_spine(leaves=2, spines=2, hosts_per_leaf=1))
    >>> job = fs.TrainingJob(params=1e9, layers=8, hidden_size=2048, data_parallel=16,
    ...                      global_batch_tokens=16 * 4096)
    >>> s = site_step(fab, job, Facility.preset("liquid-ai-campus"), samples=4)
    >>> s.clock_fraction, s.step_time_p99_s >= s.step_time_p50_s > 0
    (1.0, True)
    """

    if not isinstance(facility, Facility):
        raise InvalidTypeError(
            f"facility: expected a fabricsim.Facility, got {type(facility).__name__}"
        )
    if not isinstance(job, TrainingJob):
        raise InvalidTypeError(f"job: expected a fabricsim.TrainingJob, got {type(job).__name__}")
    samples = _validate.integer("samples", samples)
    return step(
        fabric, job, background, samples, seed, routing=routing, threads=threads, facility=facility
    ).site


# --------------------------------------------------------------------------- location


def region_latency(
    facility: Facility,
    fabric: Any,
    regions: Sequence[str],
    *,
    slo_ms: float = 100.0,
    server_ms: float = 0.0,
    requests: int = 20_000,
    seed: int = 0,
    policy: EdgePolicy = "lowest_latency",
    access_gbps: float = 100.0,
) -> dict:
    """Inference request latency from each user region to ``facility`` through its carriers:
    ``{region: edge_latency row}`` (p50/p99 ms, within_slo, availability,
    availability_expected). Each region is an edge site homed on every carrier of the facility,
    ``distance_km[region] x route_factor`` away.

    Raises InvalidArgumentError naming the region when the facility has no distance for it."""

    if not facility.carriers:
        raise InvalidArgumentError(
            f"facility {facility.name!r}: carriers: needs at least one "
            "carrier to serve user regions"
        )
    sites = []
    for r in regions:
        if r not in facility.distance_km:
            raise InvalidArgumentError(
                f"facility {facility.name!r}: distance_km: no distance to region {r!r} (it has "
                f"{', '.join(facility.distance_km) or 'none'})"
            )
        sites.append(
            {
                "name": r,
                "carriers": [c.name for c in facility.carriers],
                "distance_km": facility.distance_km[r] * facility.route_factor,
                "capacity_gbps": access_gbps,
            }
        )
    base = fabric.graph
    wan_roles = ("edge_site", "carrier_pop", "border")
    if any(r in wan_roles for _, r in base.nodes(data="role")):
        # The design's own edge sites (a [fabric.edge] table) stand for another site's WAN:
        # the facility's carriers and user regions replace them.
        base = base.copy()
        base.remove_nodes_from([n for n, r in fabric.graph.nodes(data="role") if r in wan_roles])
        for key in ("edge_sites", "edge"):
            base.graph.pop(key, None)
    G = edge_sites(base, carriers=list(facility.carriers), sites=sites)
    edge_fab = Fabric.from_networkx(G, efficiency=fabric.efficiency)
    rep = edge_latency(
        edge_fab,
        policies=(policy,),
        requests=requests,
        slo_ms=slo_ms,
        server_ms=server_ms,
        seed=seed,
    )
    return {r["site"]: r for r in rep.rows}


def availability(carrier_availabilities: Sequence[float]) -> float:
    """A site reached over independent carriers is up when any is: ``1 - prod(1 - a_i)``.

    >>> round(availability([0.997, 0.997]), 6)
    0.999991
    """
    a = [_validate.probability("availability", x) for x in carrier_availabilities]
    return float(1.0 - np.prod([1.0 - x for x in a])) if a else 0.0


__all__ = [
    "Facility",
    "PRESETS",
    "COOLING_TYPES",
    "min_rack_power_kw",
    "SIGMA_VARIATION",
    "MU_HOT",
    "SiteStep",
    "straggler_factors",
    "combine_site",
    "site_step",
    "region_latency",
    "availability",
]
