"""Named hardware profiles: one GPU node generation and its scale-out NICs, every number sourced.

A :class:`Profile` feeds two places:

* the topology builders (``leaf_spine(profile="h100-ndr400")`` ...) read ``gpus_per_node``,
  ``nvlink_gbps``, ``nic_gbps`` and the three link latencies;
* :meth:`fabricsim.Fabric.from_networkx` (``profile=...``) reads :attr:`Profile.efficiency`,
  the usable fraction of each edge kind's line rate.

Units follow the rest of fabricsim: ``*_gbps`` are Gb/s **per direction**, ``*_latency_us``
one-way µs, ``peak_tflops_bf16`` dense (no sparsity) TFLOP/s per GPU.

>>> from fabricsim.fabric import profiles
>>> p = profiles.get_profile("h100-ndr400")
>>> p.nvlink_gbps, p.nic_gbps, p.gpus_per_node
(3600.0, 400.0, 8)
>>> round(p.nic_busbw_GBps, 1)  # nccl-tests measure 46-49 GB/s per 400G NIC
48.0
>>> sorted(p.efficiency)
['access', 'default', 'fabric', 'nvlink', 'pcie', 'wan']
>>> profiles.list_profiles()  # doctest: +NORMALIZE_WHITESPACE
['a100-hdr200', 'a100-hdr200x4', 'b200-xdr800', 'gb200-nvl72', 'h100-ndr400', 'h100-roce200x8',
 'h100-roce400x4', 'h200-ndr400']
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

from fabricsim.exceptions import InvalidArgumentError, InvalidTypeError, UnknownNameError

# Latency constants shared by every profile. Sources:
#
# NCCL src/graph/tuning.cc (v2.18+) models a collective as
#   time = baseLat + steps * hwLat + bytes / bw
# with baseLat (per collective) 6.6-8.4 µs for Ring and hwLat (per step) for
#   NVLink: Ring LL 0.6, LL128 1.9, Simple 3.4 µs;  network: Ring LL 2.7, LL128 4.0, Simple 14 µs.
# LL is the protocol with the least software on the path, so its per-step figures bound the
# hardware latency from above: one NVLink step (GPU -> NVSwitch -> GPU, two links) <= 0.6 µs.
_NVLINK_LATENCY_US = 0.3  # per GPU<->NVSwitch link: half of NCCL's 0.6 µs Ring/LL NVLink step
# Per network hop: switch cut-through (a few hundred ns for NVIDIA Quantum-2 / Spectrum-4 class
# ASICs per NVIDIA's switch datasheets) + PAM4 SerDes/FEC + tens of metres of fibre at 5 ns/m
# (reference.md: 5 µs/km) ~= 0.6 µs. Also the topology builders' built-in default.
_FABRIC_LATENCY_US = 0.6
# GPU NIC -> first switch: the NIC pipeline (NVIDIA ConnectX product briefs quote
# sub-microsecond end-to-end latency) + the cable; the same 0.6 µs as a fabric hop, so that a
# one-leaf network step (2 access links = 1.2 µs) plus the software overhead below stays within
# NCCL's 2.7-4.0 µs network step (tuning.cc hwLat, Ring LL/LL128).
_ACCESS_LATENCY_US = 0.6
# Software/launch overhead per algorithm step (one send/recv of a ring or tree), added once per
# step by the collective models. NCCL's per-step NVLink hwLat for LL128 is 1.9 µs; minus the
# 0.6 µs of wire (two NVLink links above) leaves ~1.3 µs, and its network step (LL128 4.0 µs)
# minus ~2.4 µs of wire across a leaf-spine leaves ~1.6 µs. 1.5 µs sits between the two;
# NCCL's per-collective baseLat (6.6-8.4 µs) is a separate, one-off cost. Check against a
# measurement: reference.md's 1 KiB all-reduce on 8 x H100 (0.07 GB/s busbw) took ~26 µs;
# 14 ring steps x (0.6 µs wire + 1.5 µs) = 29 µs.
_BASE_LATENCY_US = 1.5

# Usable fraction of the NIC line rate. nccl-tests (issues #267, #290) measure 46-49 GB/s busbw
# per 400G NDR / RoCE ConnectX-7 NIC: 48 GB/s = 400 Gb/s / 8 * 0.96; nccl-tests #160 measures
# ~24 GB/s per 200G HDR NIC = 200 / 8 * 0.96. The 4% covers packet headers + flow control at a
# 4 KiB MTU. No public nccl-tests figure exists yet for 800G (XDR / ConnectX-8), so the same
# protocol efficiency is assumed there.
_NIC_EFFICIENCY = 0.96


@dataclass(frozen=True, kw_only=True)
class Profile:
    """One GPU node generation and its scale-out network, as the model sees it.

    ``efficiency`` maps edge kinds to the usable fraction of their capacity (NVLink links use
    ``nvlink_efficiency``, every network kind ``nic_efficiency``). Values are checked on
    construction, so a hand-made profile is as safe as a built-in one:

    >>> Profile(name="mine", gpu="X", gpus_per_node=4, nvlink_gbps=1000.0, nic_gbps=100.0,
    ...         nvlink_latency_us=0.3, access_latency_us=0.6, fabric_latency_us=0.6,
    ...         base_latency_us=1.5, nvlink_efficiency=0.8, nic_efficiency=1.2,
    ...         peak_tflops_bf16=100.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fabricsim.exceptions.InvalidArgumentError: ...: nic_efficiency must be a number in (0, 1]...
    """

    name: str
    gpu: str
    nic: str = ""
    gpus_per_node: int
    nvlink_gbps: float
    nic_gbps: float
    nvlink_latency_us: float
    access_latency_us: float
    fabric_latency_us: float
    base_latency_us: float
    nvlink_efficiency: float
    nic_efficiency: float
    peak_tflops_bf16: float
    #: Maximum input power of one node (``gpus_per_node`` GPUs, CPUs, NICs, fans), kW. ``None``:
    #: unknown (the facility model then refuses the profile).
    server_power_kw: float | None = None
    #: Board power of one GPU at its default limit (its TDP) and the lowest limit the driver
    #: accepts (``nvidia-smi -q -d POWER``: Default / Min Power Limit), W.
    gpu_tdp_w: float | None = None
    gpu_min_power_w: float | None = None
    #: Sustained throughput against the GPU power limit: ``((power_fraction,
    #: throughput_fraction), ...)`` with power as a fraction of ``gpu_tdp_w``; interpolated
    #: linearly, proportional to power below the first point. See :data:`POWER_CAP_CURVE`.
    power_curve: tuple = ()
    #: GPU generation row of NCCL's tuning tables ("volta", "ampere", "hopper"); newer GPUs
    #: use "hopper", the newest row of the NCCL version modelled (docs/nccl-model.md).
    nccl_arch: str = "hopper"
    #: NVLS (NVLink SHARP) all-reduce algorithm bandwidth one GPU reaches through its
    #: NVSwitch, GB/s; None: the node has no NVLS (or no public figure for it).
    nvls_algbw_GBps: float | None = None
    #: NICs per node when GPUs share them (builders' ``nics_per_host`` / ``nics_per_node``);
    #: None: one NIC per GPU.
    nics_per_node: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgumentError(f"profile: name must be a non-empty str, got {self.name!r}")
        who = f"profile {self.name!r}"
        for key in ("gpu", "nic"):
            if not isinstance(getattr(self, key), str):
                raise InvalidTypeError(f"{who}: {key} must be a str, got {getattr(self, key)!r}")
        g = self.gpus_per_node
        if isinstance(g, bool) or not isinstance(g, numbers.Integral) or g < 1:
            raise InvalidArgumentError(f"{who}: gpus_per_node must be an integer >= 1, got {g!r}")
        for key in (
            "nvlink_gbps",
            "nic_gbps",
            "nvlink_latency_us",
            "access_latency_us",
            "fabric_latency_us",
            "peak_tflops_bf16",
        ):
            v = getattr(self, key)
            if not _is_real(v) or not (math.isfinite(v) and v > 0):
                raise InvalidArgumentError(f"{who}: {key} must be a finite number > 0, got {v!r}")
        v = self.base_latency_us
        if not _is_real(v) or not (math.isfinite(v) and v >= 0):
            raise InvalidArgumentError(
                f"{who}: base_latency_us must be a finite number >= 0, got {v!r}"
            )
        if self.nccl_arch not in ("volta", "ampere", "hopper"):
            raise InvalidArgumentError(
                f"{who}: nccl_arch must be 'volta', 'ampere' or 'hopper', got {self.nccl_arch!r}"
            )
        v = self.nvls_algbw_GBps
        if v is not None and (not _is_real(v) or not (math.isfinite(v) and v > 0)):
            raise InvalidArgumentError(
                f"{who}: nvls_algbw_GBps must be None or a finite number > 0, got {v!r}"
            )
        k = self.nics_per_node
        if k is not None and (
            isinstance(k, bool)
            or not isinstance(k, numbers.Integral)
            or k < 1
            or self.gpus_per_node % k
        ):
            raise InvalidArgumentError(
                f"{who}: nics_per_node must be None or an integer >= 1 dividing gpus_per_node "
                f"({self.gpus_per_node}), got {k!r}"
            )
        for key in ("nvlink_efficiency", "nic_efficiency"):
            v = getattr(self, key)
            if not _is_real(v) or not 0 < v <= 1:
                raise InvalidArgumentError(f"{who}: {key} must be a number in (0, 1], got {v!r}")
        for key in ("server_power_kw", "gpu_tdp_w", "gpu_min_power_w"):
            v = getattr(self, key)
            if v is not None and (not _is_real(v) or not (math.isfinite(v) and v > 0)):
                raise InvalidArgumentError(
                    f"{who}: {key} must be a finite number > 0 or None, got {v!r}"
                )
        if self.gpu_tdp_w is not None and self.server_power_kw is not None:
            if self.gpus_per_node * self.gpu_tdp_w > self.server_power_kw * 1e3:
                raise InvalidArgumentError(
                    f"{who}: server_power_kw ({self.server_power_kw:g}) is less than "
                    f"gpus_per_node x gpu_tdp_w ({self.gpus_per_node * self.gpu_tdp_w:g} W)"
                )
        if self.gpu_min_power_w is not None and self.gpu_tdp_w is not None:
            if self.gpu_min_power_w > self.gpu_tdp_w:
                raise InvalidArgumentError(
                    f"{who}: gpu_min_power_w ({self.gpu_min_power_w:g}) exceeds gpu_tdp_w "
                    f"({self.gpu_tdp_w:g})"
                )
        object.__setattr__(self, "power_curve", check_power_curve(self.power_curve, who))

    @property
    def efficiency(self) -> dict[str, float]:
        """Usable fraction of capacity per edge kind, for ``Fabric.from_networkx``."""
        e = float(self.nic_efficiency)
        return {
            "nvlink": float(self.nvlink_efficiency),
            "access": e,
            "fabric": e,
            "wan": e,
            "pcie": e,  # GPU -> shared NIC: carries the NIC's traffic, at its protocol's rate
            "default": e,
        }

    @property
    def nic_busbw_GBps(self) -> float:
        """Bus bandwidth one NIC sustains, GB/s: ``nic_gbps / 8 * nic_efficiency``."""
        return self.nic_gbps / 8.0 * self.nic_efficiency

    @property
    def nvlink_busbw_GBps(self) -> float:
        """Bus bandwidth a GPU sustains over NVLink, GB/s: ``nvlink_gbps / 8 * efficiency``."""
        return self.nvlink_gbps / 8.0 * self.nvlink_efficiency

    @property
    def node_nic_gbps(self) -> float:
        """Scale-out line rate of one node: NICs x ``nic_gbps`` (one NIC per GPU unless
        ``nics_per_node`` says otherwise)."""
        return (self.nics_per_node or self.gpus_per_node) * self.nic_gbps


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_power_curve(curve: object, who: str = "power_curve") -> tuple:
    """``curve`` as a tuple of ``(power_fraction, throughput_fraction)`` float pairs, checked:
    power fractions strictly increasing in (0, 1], the last one 1.0 with throughput 1.0,
    throughput in (0, 1] and non-decreasing (more power never runs slower). An empty curve
    stays empty (unknown)."""
    if isinstance(curve, (str, bytes)) or not hasattr(curve, "__iter__"):
        raise InvalidTypeError(f"{who}: power_curve must be a list of (power, throughput) pairs")
    pts = []
    for i, pt in enumerate(curve):
        try:
            p, t = pt
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"{who}: power_curve[{i}] must be a (power_fraction, throughput_fraction) pair, "
                f"got {pt!r}"
            ) from None
        if not (_is_real(p) and _is_real(t) and 0 < p <= 1 and 0 < t <= 1):
            raise InvalidArgumentError(
                f"{who}: power_curve[{i}] must hold two fractions in (0, 1], got {pt!r}"
            )
        pts.append((float(p), float(t)))
    if not pts:
        return ()
    for (p0, t0), (p1, t1) in zip(pts, pts[1:], strict=False):
        if not p1 > p0 or t1 < t0:
            raise InvalidArgumentError(
                f"{who}: power_curve must have increasing power fractions and non-decreasing "
                f"throughput, got {pts!r}"
            )
    if pts[-1] != (1.0, 1.0):
        raise InvalidArgumentError(
            f"{who}: power_curve must end at (1.0, 1.0) (full power, full throughput), got "
            f"{pts[-1]!r}"
        )
    return tuple(pts)


def throughput_fraction(curve: tuple, power_fraction: float) -> float:
    """Sustained throughput (fraction of full) at ``power_fraction`` of TDP on ``curve``:
    linear between points, proportional to power below the first point (the performance per
    watt of the lowest published point, no better), 1.0 at or above full power.

    >>> round(throughput_fraction(POWER_CAP_CURVE, 0.85), 3)
    0.974
    >>> throughput_fraction(POWER_CAP_CURVE, 1.0)
    1.0
    """
    x = float(power_fraction)
    if x >= 1.0:
        return 1.0
    p0, t0 = curve[0]
    if x <= p0:
        return max(0.0, t0 * x / p0)
    for (pa, ta), (pb, tb) in zip(curve, curve[1:], strict=False):
        if x <= pb:
            return ta + (tb - ta) * (x - pa) / (pb - pa)
    return 1.0  # pragma: no cover - the last point is (1, 1)


# Power cap -> sustained throughput, for the facility model (fabricsim.analysis.facility).
# Published points (power as a fraction of the GPU's default limit, throughput as a fraction of
# the uncapped throughput):
# - (1.0, 1.0) by definition.
# - NVIDIA "Optimize Data Center Efficiency for AI and HPC Workloads with Power Profiles"
#   (developer.nvidia.com blog, 2025, and NVIDIA's paper "Datacenter Energy Optimized Power
#   Profiles"): the Blackwell Max-Q profile saves "up to 15 % energy while maintaining
#   performance levels above 97 %". Energy = power x time, so power = 0.85 x 0.97 = 0.8245 of
#   default at 0.97 of the throughput. (McDonald et al., "Great Power, Great Responsibility",
#   arXiv 2205.09646, report the same shape on V100: a 150 W cap of 250 W cuts training
#   energy ~15 % for a marginal increase in time.)
# Below the lowest point throughput is taken proportional to power (that point's performance
# per watt, which is the best published): conservative, since performance per watt usually
# keeps improving at lower caps until static power dominates.
POWER_CAP_CURVE: tuple = ((0.85 * 0.97, 0.97), (1.0, 1.0))


#: Power of an 8 x H100 SXM server: NVIDIA DGX H100 user guide, "Power Specifications" (6 x
#: 3.3 kW supplies, 4+2 redundant; maximum system input 10.2 kW); nvidia-smi -q -d POWER on H100
#: SXM5 80GB: Default Power Limit 700 W, Min Power Limit 200 W (H100 datasheet: TDP up to 700 W).
_DGX_H100_POWER: dict[str, Any] = dict(
    server_power_kw=10.2, gpu_tdp_w=700.0, gpu_min_power_w=200.0, power_curve=POWER_CAP_CURVE
)
#: Power of an 8 x A100 SXM4 server: NVIDIA DGX A100 datasheet / user guide (6.5 kW max system
#: power, 6 x 3 kW supplies, 3+3 redundant); nvidia-smi -q -d POWER on A100 SXM4 80GB: Default
#: Power Limit 400 W, Min Power Limit 100 W.
_DGX_A100_POWER: dict[str, Any] = dict(
    server_power_kw=6.5, gpu_tdp_w=400.0, gpu_min_power_w=100.0, power_curve=POWER_CAP_CURVE
)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="h100-ndr400",
            # NVIDIA H100 Tensor Core GPU datasheet (SXM5) / DGX H100 datasheet: 8 GPUs per
            # node on NVSwitch, 8 x ConnectX-7 400 Gb/s (NDR InfiniBand or 400GbE RoCE).
            gpu="H100 SXM5 80GB",
            nic="ConnectX-7 400G (NDR IB / RoCE)",
            gpus_per_node=8,
            # H100 datasheet: NVLink 4 900 GB/s bidirectional = 450 GB/s = 3600 Gb/s per dir.
            nvlink_gbps=3600.0,
            nic_gbps=400.0,  # ConnectX-7 NDR line rate (reference.md, "Hardware figures")
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            # nccl-tests #212: ring all-reduce on 8 x H100 SXM reaches ~370 GB/s busbw of the
            # 450 GB/s per-direction NVLink rate: 370 / 450 = 0.82. (NVLS goes higher, 479 GB/s
            # in reference.md's Azure table, because the NVSwitch reduces in-network.)
            nvlink_efficiency=0.82,
            nic_efficiency=_NIC_EFFICIENCY,  # 48 GB/s per NIC; nccl-tests #267, #290
            peak_tflops_bf16=989.0,  # H100 SXM datasheet: 1,979 TFLOPS BF16 with sparsity
            **_DGX_H100_POWER,
            # NVIDIA/nccl issue #1455 (8 x H100 SXM, nccl-tests all_reduce 2-4 GiB,
            # NCCL_ALGO=NVLS): algbw ~273 GB/s (busbw ~480 GB/s, GTC S62129's figure), below
            # the 369 GB/s ring NVLink rate: the NVSwitch's reduction/multicast rate.
            nvls_algbw_GBps=273.0,
        ),
        Profile(
            name="a100-hdr200",
            # NVIDIA A100 datasheet (SXM4) / DGX A100 datasheet: 8 GPUs on NVSwitch, 8 x
            # ConnectX-6 200 Gb/s HDR InfiniBand for the compute fabric.
            gpu="A100 SXM4 80GB",
            nic="ConnectX-6 200G (HDR IB)",
            gpus_per_node=8,
            # A100 datasheet: NVLink 3 600 GB/s bidirectional = 300 GB/s = 2400 Gb/s per dir.
            nvlink_gbps=2400.0,
            nic_gbps=200.0,  # ConnectX-6 HDR line rate
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            # NCCL tuning.cc caps intra-node busbw on compute capability 8.0 (A100) at
            # 235 GB/s ("if (compCap80) busBw = std::min(busBw, 235.0f)"): 235 / 300 = 0.78.
            nvlink_efficiency=0.78,
            nic_efficiency=_NIC_EFFICIENCY,  # ~24 GB/s per HDR NIC; nccl-tests #160
            peak_tflops_bf16=312.0,  # A100 datasheet: 312 TFLOPS BF16 dense (624 sparse)
            **_DGX_A100_POWER,
            nccl_arch="ampere",  # no NVLS: NVLink SHARP arrived with H100's third-gen NVSwitch
        ),
        Profile(
            name="b200-xdr800",
            # NVIDIA DGX B200 datasheet: 8 x B200 on NVLink 5 NVSwitch; 8 x 800 Gb/s
            # ConnectX-8 SuperNIC class ports (XDR InfiniBand Quantum-X800 / Spectrum-X800).
            gpu="B200 SXM 180GB",
            nic="ConnectX-8 800G (XDR IB / RoCE)",
            gpus_per_node=8,
            # NVIDIA Blackwell / HGX B200 datasheet: NVLink 5 1.8 TB/s bidirectional per GPU
            # = 900 GB/s = 7200 Gb/s per direction.
            nvlink_gbps=7200.0,
            nic_gbps=800.0,
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            # No public nccl-tests ring figure for B200 in reference.md: the H100 ratio
            # (nccl-tests #212, 370 / 450 GB/s) is assumed for the same NVSwitch ring design.
            nvlink_efficiency=0.82,
            nic_efficiency=_NIC_EFFICIENCY,  # see _NIC_EFFICIENCY: assumed equal to 400G
            # HGX B200 datasheet: 4.5 PFLOPS FP16/BF16 with sparsity per GPU -> 2.25 dense.
            peak_tflops_bf16=2250.0,
            # NVIDIA DGX B200 datasheet / user guide "Power Specifications": ~14.3 kW max
            # system power (6 x 3.3 kW supplies).
            server_power_kw=14.3,
            # HGX B200 datasheet: up to 1,000 W per GPU. No public nvidia-smi Min Power Limit
            # for B200 was found: the H100's 200 W floor is assumed.
            gpu_tdp_w=1000.0,
            gpu_min_power_w=200.0,
            # The curve's one published point below full power is NVIDIA's Blackwell Max-Q
            # result (POWER_CAP_CURVE); the same curve serves Hopper and Ampere.
            power_curve=POWER_CAP_CURVE,
        ),
        Profile(
            name="h200-ndr400",
            # MLCommons inference v4.1, NVIDIA H200-SXM-141GBx8 system description: "18x 4th
            # Gen NVLink, 900GB/s", NICs 400 Gb/s InfiniBand (8 compute + 2 storage); NVIDIA
            # DGX H200 datasheet: 8 x ConnectX-7 400 Gb/s for the compute fabric.
            gpu="H200 SXM5 141GB",
            nic="ConnectX-7 400G (NDR IB / RoCE)",
            gpus_per_node=8,
            nvlink_gbps=3600.0,  # 900 GB/s bidirectional = 450 GB/s per direction
            nic_gbps=400.0,
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            # Same NVLink 4 / third-generation NVSwitch as H100: nccl-tests #212's ring ratio
            # and nccl #1455's NVLS rate (measured on H100) are assumed to carry over.
            nvlink_efficiency=0.82,
            nic_efficiency=_NIC_EFFICIENCY,
            peak_tflops_bf16=989.0,  # H200 datasheet: 1,979 TFLOPS BF16 with sparsity
            # The DGX H100/H200 user guide gives both systems the same 10.2 kW maximum input;
            # H200 SXM datasheet: TDP up to 700 W. No public nvidia-smi Min Power Limit for
            # H200 was found: the H100 SXM's 200 W (same board family) is assumed.
            **_DGX_H100_POWER,
            nvls_algbw_GBps=273.0,
        ),
        Profile(
            name="gb200-nvl72",
            # One NVLink domain of 72 Blackwell GPUs (NVIDIA Multi-Node NVLink tuning guide:
            # 18 compute trays x 4 GPUs, 9 NVLink switch trays; ConnectX-7 in each tray).
            # MLCommons inference v6.1 (Crusoe, GB200-NVL72): 4 ConnectX-7-class NICs per
            # 4-GPU tray, i.e. one 400 Gb/s NIC per GPU for the scale-out fabric. Builders
            # treat the rack as one "host" of 72 GPUs on one NVSwitch.
            gpu="GB200 (B200 in Grace-Blackwell superchip)",
            nic="ConnectX-7 400G (NDR IB / RoCE)",
            gpus_per_node=72,
            # NVLink 5: 1.8 TB/s bidirectional per GPU = 900 GB/s = 7200 Gb/s per direction
            nvlink_gbps=7200.0,
            nic_gbps=400.0,
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            # No public nccl-tests ring figure: the H100 ratio (nccl-tests #212) is assumed.
            nvlink_efficiency=0.82,
            nic_efficiency=_NIC_EFFICIENCY,
            # GB200 NVL72 datasheet: 360 PFLOPS FP16/BF16 with sparsity over 72 GPUs
            # = 5 PFLOPS per GPU sparse, 2.5 dense.
            peak_tflops_bf16=2500.0,
            # Power: the whole rack is one "server" here. NVIDIA GB200 NVL72 materials and
            # deployment guides: ~120 kW per liquid-cooled rack (120-132 kW; the low end is
            # used). GB200 NVL72 datasheet: up to 1,200 W per Blackwell GPU. No public Min
            # Power Limit: the H100's 200 W floor is assumed, as for b200-xdr800.
            server_power_kw=120.0,
            gpu_tdp_w=1200.0,
            gpu_min_power_w=200.0,
            power_curve=POWER_CAP_CURVE,
            # NVLS runs on NVL72, but no public per-GPU NVLS rate: not modelled (None).
        ),
        Profile(
            name="a100-hdr200x4",
            # The a100-hdr200 node with 4 HDR NICs shared by pairs of GPUs (the 4-NIC HGX
            # A100 layout the issue describes): NIC figures as a100-hdr200 (nccl-tests #160:
            # ~24 GB/s per 200G HDR NIC).
            gpu="A100 SXM4 80GB",
            nic="ConnectX-6 200G (HDR IB), 4 per node",
            gpus_per_node=8,
            nvlink_gbps=2400.0,
            nic_gbps=200.0,
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            nvlink_efficiency=0.78,
            nic_efficiency=_NIC_EFFICIENCY,
            peak_tflops_bf16=312.0,
            **_DGX_A100_POWER,
            nccl_arch="ampere",
            nics_per_node=4,
        ),
        Profile(
            name="h100-roce200x8",
            # Cloud-style H100 node: 8 x 200 Gb/s RoCE ports, one per GPU. ConnectX-7 runs
            # a 400G port at 200 Gb/s (NVIDIA MMS4X00-NS400 transceiver spec: "200Gb/s
            # NDR200 rate"); per-NIC efficiency as measured for 200G HDR (nccl-tests #160).
            gpu="H100 SXM5 80GB",
            nic="ConnectX-7 at 200G (RoCE)",
            gpus_per_node=8,
            nvlink_gbps=3600.0,
            nic_gbps=200.0,
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            nvlink_efficiency=0.82,
            nic_efficiency=_NIC_EFFICIENCY,
            peak_tflops_bf16=989.0,
            # Power: the DGX H100 figures stand for this 8 x H100 SXM server; a cloud HGX
            # chassis's own rating may differ.
            **_DGX_H100_POWER,
            nvls_algbw_GBps=273.0,
        ),
        Profile(
            name="h100-roce400x4",
            # Cloud-style H100 node with 4 x 400G RoCE NICs, each shared by two GPUs over PCIe
            # (the "8 GPUs behind 4 x 400G RoCE NICs" server of the issue). NIC figures as
            # h100-ndr400 (nccl-tests #267, #290: 46-49 GB/s per 400G NIC).
            gpu="H100 SXM5 80GB",
            nic="ConnectX-7 400G (RoCE), 4 per node",
            gpus_per_node=8,
            nvlink_gbps=3600.0,
            nic_gbps=400.0,
            nvlink_latency_us=_NVLINK_LATENCY_US,
            access_latency_us=_ACCESS_LATENCY_US,
            fabric_latency_us=_FABRIC_LATENCY_US,
            base_latency_us=_BASE_LATENCY_US,
            nvlink_efficiency=0.82,
            nic_efficiency=_NIC_EFFICIENCY,
            peak_tflops_bf16=989.0,
            # Power: the DGX H100 figures stand for this 8 x H100 SXM server; a cloud HGX
            # chassis's own rating may differ.
            **_DGX_H100_POWER,
            nvls_algbw_GBps=273.0,
            nics_per_node=4,
        ),
    )
}
"""Every built-in profile by name."""

ALIASES: dict[str, str] = {
    "h100": "h100-ndr400",
    "a100": "a100-hdr200",
    "b200": "b200-xdr800",
    "h200": "h200-ndr400",
    "gb200": "gb200-nvl72",
}
"""Short names accepted by :func:`get_profile`."""


def list_profiles() -> list[str]:
    """Names of the built-in profiles, sorted."""
    return sorted(PROFILES)


def get_profile(name_or_obj: str | Profile) -> Profile:
    """The profile called ``name_or_obj`` (a built-in name or alias, case-insensitive), or the
    :class:`Profile` itself when one is passed.

    >>> get_profile("A100").name
    'a100-hdr200'
    >>> get_profile("tpu-v5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fabricsim.exceptions.UnknownNameError: profile: unknown name 'tpu-v5'; valid: a100-hdr200, ...
    """
    if isinstance(name_or_obj, Profile):
        return name_or_obj
    if not isinstance(name_or_obj, str):
        raise InvalidTypeError(
            f"profile: expected a profile name or a fabricsim.fabric.profiles.Profile, "
            f"got {type(name_or_obj).__name__}"
        )
    key = name_or_obj.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return PROFILES[key]
    except KeyError:
        raise UnknownNameError(
            f"profile: unknown name {name_or_obj!r}; valid: {', '.join(list_profiles())} "
            f"(aliases: {', '.join(sorted(ALIASES))})"
        ) from None


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Profile))
"""Field names of :class:`Profile`, in declaration order."""


# ---------------------------------------------------------------------------- facilities


@dataclass(frozen=True)
class Cooling:
    """One cooling technology as the facility model sees it.

    ``max_rack_kw``: the heat one rack (one tank, for immersion) can reject, kW: the low end
    of the published range ``rack_kw_range``, i.e. what every product of the class delivers.
    ``pue_range``: (best, worst) annual PUE of halls with this cooling; the model moves from
    best to worst as the design dry-bulb goes from ``AMBIENT_FREE_COOLING_C`` to
    ``AMBIENT_MECHANICAL_C``. ``thermal_sensitivity``: 1 when the GPUs sit in air (their
    clocks follow inlet temperature, so the Llama 3 diurnal swing applies), 0 when the cold
    plate or the fluid holds the die temperature (below ``max_rack_kw``).
    """

    name: str
    max_rack_kw: float
    rack_kw_range: tuple
    pue_range: tuple
    thermal_sensitivity: float
    source: str


COOLING: dict[str, Cooling] = {
    c.name: c
    for c in (
        Cooling(
            "air",
            30.0,
            (30.0, 40.0),
            (1.5, 1.6),
            1.0,
            "ASHRAE TC 9.9 / vendor guidance: practical air-cooling limit ~30-40 kW per rack; "
            "Uptime Institute Global Data Center Survey 2024: average PUE 1.56 (air-cooled "
            "enterprise halls ~1.5-1.6)",
        ),
        Cooling(
            "rear_door",
            55.0,
            (55.0, 75.0),
            (1.5, 1.6),
            1.0,
            "Rear-door heat exchanger datasheets (Motivair ChilledDoor, Vertiv Liebert DCD): "
            "up to ~55-75 kW per rack. The servers stay air-cooled inside and the plant is the "
            "air hall's, so the air hall's PUE range and thermal sensitivity are kept",
        ),
        Cooling(
            "direct_liquid",
            100.0,
            (100.0, 140.0),
            (1.1, 1.2),
            0.0,
            "Direct-to-chip liquid: 100-140+ kW per rack in GB200 NVL72 deployments (NVIDIA "
            "GB200 NVL72 ~120-132 kW per rack; OCP advanced-cooling material); PUE ~1.1-1.2 "
            "for liquid-cooled hyperscale halls (operators' published PUE, Uptime survey)",
        ),
        Cooling(
            "immersion",
            60.0,
            (60.0, 300.0),
            (1.03, 1.1),
            0.0,
            "Single-phase immersion tanks: 60-300 kW per tank (GRC ICEraQ, Submer SmartPod, "
            "LiquidStack datasheets); vendors publish PUE ~1.03 (best); the liquid-cooled "
            "hyperscale 1.1 is kept as the worst case",
        ),
    )
}
"""The cooling types :class:`fabricsim.Facility` accepts, each with its sources."""

#: ASHRAE TC 9.9 thermal guidelines: recommended server inlet 18-27 °C. Below 18 °C design
#: dry-bulb, outside air (economisers) carries the load most hours (best PUE of the range, no
#: thermal slowdown); at 27 °C and above chillers carry it (worst PUE, the full Llama 3
#: mid-day slowdown). Linear in between; the slowdown keeps growing linearly above 27 °C.
AMBIENT_FREE_COOLING_C = 18.0
AMBIENT_MECHANICAL_C = 27.0

#: Sinha et al., "Not All GPUs Are Created Equal: Characterizing Variability in Large-Scale,
#: Accelerator-Rich Systems" (SC '22, arXiv 2208.11035): 8 % average (max 22 %) performance
#: variation between identical GPUs of one cluster, whatever the cooling method, outliers up to
#: 1.5x slower than the median. Read as the spread between the fastest and the slowest GPU
#: relative to the median, measured over >90 % of Summit's 27,648 V100s.
GPU_VARIATION_SPREAD = 0.08
GPU_VARIATION_GPUS = int(0.9 * 27_648)

#: Llama 3 paper (Meta, "The Llama 3 Herd of Models", 2024, sec. 3.3.4): "a diurnal 1-2 %
#: throughput variation based on time-of-day ... the result of higher mid-day temperatures
#: impacting GPU dynamic voltage and frequency scaling", on a 16K-H100 job in Meta's
#: air-cooled Grand Teton servers. The midpoint, 1.5 %, is the job-level slowdown at the top
#: of the ASHRAE envelope against its bottom.
DIURNAL_SLOWDOWN = 0.015
DIURNAL_JOB_GPUS = 16_384

#: Light in fibre: ~4.9-5.0 µs per km one way (refractive index ~1.47; fabricsim.Carrier's
#: default latency_us_per_km = 5.0). Fibre routes are longer than the great circle: 1.3x is the
#: median over US conduit maps (Bozkurt et al., "Dissecting Latency in the Internet's Fiber
#: Infrastructure", arXiv 1811.10737); 2.1x is the planners' pessimistic rule of thumb.
FIBRE_ROUTE_FACTOR = 1.3
FIBRE_ROUTE_FACTOR_PESSIMISTIC = 2.1

#: Carriers' published SLAs: ~99.7 % for an unprotected circuit, ~99.99 % for a protected one.
CARRIER_AVAILABILITY_UNPROTECTED = 0.997
CARRIER_AVAILABILITY_PROTECTED = 0.9999


def sources() -> list[dict]:
    """Every facility constant the model uses, with its value, unit and public source: what
    ``fabricsim.profiles`` documents beside the node profiles.

    >>> rows = sources()
    >>> [r["name"] for r in rows][:2]
    ['server_power_kw[a100-hdr200]', 'server_power_kw[a100-hdr200x4]']
    >>> all(r["source"] for r in rows)
    True
    """
    rows: list[dict[str, Any]] = []
    for name in list_profiles():
        p = PROFILES[name]
        rows.append(
            {
                "name": f"server_power_kw[{name}]",
                "value": p.server_power_kw,
                "unit": "kW",
                "source": f"{p.gpu}: NVIDIA DGX user guide / datasheet",
            }
        )
    for name in list_profiles():
        p = PROFILES[name]
        rows.append(
            {
                "name": f"gpu_power_w[{name}]",
                "value": (p.gpu_min_power_w, p.gpu_tdp_w),
                "unit": "W (min, default limit)",
                "source": "nvidia-smi -q -d POWER (Min / Default Power Limit); GPU datasheet TDP",
            }
        )
    rows.append(
        {
            "name": "POWER_CAP_CURVE",
            "value": POWER_CAP_CURVE,
            "unit": "(power fraction, throughput fraction)",
            "source": "NVIDIA power profiles (Blackwell Max-Q): up to 15 % energy saved "
            "at >= 97 % performance; McDonald et al. arXiv 2205.09646",
        }
    )
    for c in COOLING.values():
        rows.append(
            {
                "name": f"cooling[{c.name}]",
                "value": {
                    "max_rack_kw": c.max_rack_kw,
                    "rack_kw_range": c.rack_kw_range,
                    "pue_range": c.pue_range,
                    "thermal_sensitivity": c.thermal_sensitivity,
                },
                "unit": "kW per rack, PUE",
                "source": c.source,
            }
        )
    rows += [
        {
            "name": "AMBIENT_FREE_COOLING_C..AMBIENT_MECHANICAL_C",
            "value": (AMBIENT_FREE_COOLING_C, AMBIENT_MECHANICAL_C),
            "unit": "°C",
            "source": "ASHRAE TC 9.9 recommended inlet envelope 18-27 °C",
        },
        {
            "name": "GPU_VARIATION_SPREAD",
            "value": GPU_VARIATION_SPREAD,
            "unit": "fraction over GPU_VARIATION_GPUS GPUs",
            "source": "Sinha et al., SC '22 (arXiv 2208.11035)",
        },
        {
            "name": "DIURNAL_SLOWDOWN",
            "value": DIURNAL_SLOWDOWN,
            "unit": "fraction over DIURNAL_JOB_GPUS GPUs",
            "source": "The Llama 3 Herd of Models (Meta, 2024): 1-2 % diurnal throughput swing",
        },
        {
            "name": "FIBRE_ROUTE_FACTOR",
            "value": FIBRE_ROUTE_FACTOR,
            "unit": "route km / great-circle km",
            "source": "Bozkurt et al., arXiv 1811.10737 (median 1.3x; 2.1x rule of thumb)",
        },
        {
            "name": "CARRIER_AVAILABILITY",
            "value": (CARRIER_AVAILABILITY_UNPROTECTED, CARRIER_AVAILABILITY_PROTECTED),
            "unit": "fraction (unprotected, protected)",
            "source": "carriers' published SLAs",
        },
    ]
    return rows


__all__ = [
    "Profile",
    "PROFILES",
    "ALIASES",
    "FIELDS",
    "get_profile",
    "list_profiles",
    "POWER_CAP_CURVE",
    "check_power_curve",
    "throughput_fraction",
    "Cooling",
    "COOLING",
    "AMBIENT_FREE_COOLING_C",
    "AMBIENT_MECHANICAL_C",
    "GPU_VARIATION_SPREAD",
    "GPU_VARIATION_GPUS",
    "DIURNAL_SLOWDOWN",
    "DIURNAL_JOB_GPUS",
    "FIBRE_ROUTE_FACTOR",
    "FIBRE_ROUTE_FACTOR_PESSIMISTIC",
    "CARRIER_AVAILABILITY_UNPROTECTED",
    "CARRIER_AVAILABILITY_PROTECTED",
    "sources",
]
