# Hand-written stubs of the Rust extension fabricsim._core (kept in step with rust/fabricsim-py).
# Node and link arguments are integer indices of a compiled fabric; units are bytes, bytes/s, s.

import numpy as np
import numpy.typing as npt

__version__: str

class CoreFabric:
    def __init__(
        self,
        n_nodes: int,
        link_src: npt.NDArray[np.int64],
        link_dst: npt.NDArray[np.int64],
        capacity_bps: npt.NDArray[np.float64],
        latency_s: npt.NDArray[np.float64],
        transit: npt.NDArray[np.bool_],
    ) -> None: ...
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
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], float]: ...
    def paths(self, src: int, dst: int, metric: str = "hops", limit: int = 1024) -> list[list[int]]: ...
    def precompute(self, dsts: npt.NDArray[np.int64] | None = None, metric: str = "hops") -> int: ...
    def offered_link_bytes(
        self,
        src: npt.NDArray[np.int64],
        dst: npt.NDArray[np.int64],
        size_bytes: npt.NDArray[np.float64],
        via: npt.NDArray[np.int64],
        flow_key: npt.NDArray[np.uint64],
        policy: str = "ecmp",
        seed: int = 0,
        metric: str = "hops",
    ) -> npt.NDArray[np.float64]: ...
    def simulate(
        self,
        src: npt.NDArray[np.int64],
        dst: npt.NDArray[np.int64],
        size_bytes: npt.NDArray[np.float64],
        release_s: npt.NDArray[np.float64],
        delay_s: npt.NDArray[np.float64],
        dep_ptr: npt.NDArray[np.int64],
        dep_idx: npt.NDArray[np.int64],
        via: npt.NDArray[np.int64],
        flow_key: npt.NDArray[np.uint64],
        policy: str = "ecmp",
        seed: int = 0,
        metric: str = "hops",
        capacity_factor: npt.NDArray[np.float64] | None = None,
        latency_scale: npt.NDArray[np.float64] | None = None,
    ) -> dict[str, np.ndarray | int]: ...

def thread_count() -> int: ...
