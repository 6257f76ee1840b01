# Hand-written stubs of the Rust extension fabricsim._core (rust/fabricsim-py), checked against
# the built module by `python -m mypy.stubtest fabricsim._core` in .ci/run.
# Only fabricsim._engine imports this module. Node and link arguments are integer indices of a
# compiled fabric; units are bytes, bytes/s and seconds.

from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str
__all__ = ["CoreFabric", "__version__", "monte_carlo", "thread_count"]

_I64 = npt.NDArray[np.int64]
_U64 = npt.NDArray[np.uint64]
_F64 = npt.NDArray[np.float64]

@final
class CoreFabric:
    def __new__(
        cls,
        n_nodes: int,
        link_src: _I64,
        link_dst: _I64,
        capacity_bps: _F64,
        latency_s: _F64,
        transit: npt.NDArray[np.bool_],
    ) -> CoreFabric: ...
    @property
    def n_nodes(self) -> int: ...
    @property
    def n_links(self) -> int: ...
    def distance(self, src: int, dst: int, metric: str = "hops") -> int | None: ...
    def route(
        self,
        src: int,
        dst: int,
        policy: str = "ecmp",
        seed: int = 0,
        flow_key: int = 0,
        metric: str = "hops",
        via: int | None = None,
    ) -> tuple[_I64, _F64, float]: ...
    def paths(
        self, src: int, dst: int, metric: str = "hops", limit: int = 1024
    ) -> list[list[int]]: ...
    def precompute(
        self, dsts: _I64 | None = None, metric: str = "hops", threads: int = 0
    ) -> int: ...
    def offered_link_bytes(
        self,
        src: _I64,
        dst: _I64,
        size_bytes: _F64,
        via: _I64,
        flow_key: _U64,
        policy: str = "ecmp",
        seed: int = 0,
        metric: str = "hops",
        threads: int = 0,
    ) -> _F64: ...
    def simulate(
        self,
        src: _I64,
        dst: _I64,
        size_bytes: _F64,
        release_s: _F64,
        delay_s: _F64,
        dep_ptr: _I64,
        dep_idx: _I64,
        via: _I64,
        flow_key: _U64,
        policy: str = "ecmp",
        seed: int = 0,
        metric: str = "hops",
        capacity_factor: _F64 | None = None,
        latency_scale: _F64 | None = None,
        lane_ptr: _I64 | None = None,
        lane_src: _I64 | None = None,
        lane_dst: _I64 | None = None,
        lane_via: _I64 | None = None,
        lane_key: _U64 | None = None,
        threads: int = 0,
    ) -> dict[str, Any]: ...

def monte_carlo(
    fabric: CoreFabric,
    src: _I64,
    dst: _I64,
    via: _I64,
    flow_key: _U64,
    size_bytes: _F64,
    release_s: _F64,
    delay_s: _F64,
    dep_ptr: _I64,
    dep_idx: _I64,
    latency_scale: _F64,
    n_job: int,
    samples: int,
    seed: int,
    policy: str = "ecmp",
    metric: str = "hops",
    vary_hash: bool = True,
    placement_pool: _I64 | None = None,
    capacity_factor: _F64 | None = None,
    threads: int = 0,
    bg_endpoints: _I64 | None = None,
    bg_inject_bps: _F64 | None = None,
    bg_load: float = 0.0,
    bg_pattern: str = "uniform",
    bg_receivers: int = 1,
    bg_size_values: _F64 | None = None,
    bg_size_cdf: _F64 | None = None,
    bg_start_s: float = 0.0,
    bg_end_s: float = 0.0,
    event_budget: int = 0,
    work_budget: int = 0,
    first_sample: int = 0,
) -> dict[str, Any]: ...
def thread_count() -> int: ...
