"""Analysis: what the traffic costs.

:mod:`~fabricsim.analysis.tail` (Monte Carlo tail latency), :mod:`~fabricsim.analysis.queueing`
(per-hop queueing delay), :mod:`~fabricsim.analysis.edge` (edge sites and carriers),
:mod:`~fabricsim.analysis.failures` (failure what-ifs and bisection),
:mod:`~fabricsim.analysis.training` (training-job step time and erosion) and
:mod:`~fabricsim.analysis.comparison` (fabric designs side by side) and
:mod:`~fabricsim.analysis.sweep` (design-space sweeps, locally or on Dask).
"""

from fabricsim.analysis import comparison, edge, failures, queueing, sweep, tail, training

__all__ = ["comparison", "edge", "failures", "queueing", "sweep", "tail", "training"]
