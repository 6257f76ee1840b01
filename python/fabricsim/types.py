"""The closed sets of names fabricsim's API takes, as :data:`typing.Literal` types, for type
checkers and editors (``mypy`` flags ``fs.collective(fab, "allreduce", ...)``; an editor
completes ``algorithm="ring"``). At run time every function still checks its arguments and
names the valid values in its error.

Each Literal lists exactly the values of the run-time tuple beside it (a test keeps them
equal): :data:`Op` = ``fabricsim.traffic.collectives.OPS``, :data:`Algorithm` = ``ALGORITHMS``,
:data:`Routing` = ``fabricsim.fabric.ROUTING_POLICIES``, :data:`Metric` = ``METRICS``,
:data:`Engine` = ``fabricsim.traffic.flows.ENGINES``, :data:`Pattern` =
``fabricsim.traffic.background.PATTERNS``, :data:`RankOrder` =
``fabricsim.analysis.training.RANK_ORDERS``, :data:`JobPlacement` =
``fabricsim.analysis.tail.JOB_PLACEMENTS``, :data:`EdgePolicy` =
``fabricsim.analysis.edge.POLICIES``, :data:`Datatype` = the keys of
``fabricsim.traffic.collectives.DATATYPES`` (nccl-tests' ``-d`` names).

>>> from typing import get_args
>>> from fabricsim.types import Routing
>>> get_args(Routing)
('ecmp', 'spray')
"""

from __future__ import annotations

from typing import Literal

Op = Literal[
    "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "send_recv"
]
Algorithm = Literal[
    "auto",
    "ring",
    "tree",
    "halving_doubling",
    "direct",
    "pairwise",
    "hierarchical",
    "nvls",
    "nvls_tree",
    "pat",
    "collnet_direct",
    "collnet_chain",
]
Routing = Literal["ecmp", "spray"]
Metric = Literal["hops", "latency"]
Engine = Literal["rust", "reference"]
Pattern = Literal["uniform", "permutation", "incast", "tenant"]
RankOrder = Literal["rail", "linear", "random"]
JobPlacement = Literal["fixed", "random"]
EdgePolicy = Literal["primary_backup", "split", "lowest_latency"]
Datatype = Literal[
    "int8", "uint8", "int32", "uint32", "int64", "uint64", "half", "float", "double", "bfloat16"
]

__all__ = [
    "Op",
    "Algorithm",
    "Routing",
    "Metric",
    "Engine",
    "Pattern",
    "RankOrder",
    "JobPlacement",
    "EdgePolicy",
    "Datatype",
]
