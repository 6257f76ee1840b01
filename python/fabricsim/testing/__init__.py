"""Testing helpers shipped with fabricsim, as ``polars.testing`` ships its own.

:mod:`~fabricsim.testing.reference`: the pure-Python reference of routing and the flow engine,
the oracle the Rust core is tested against. :mod:`~fabricsim.testing.strategies`: Hypothesis
strategies to property-test your own fabrics and workloads (needs ``hypothesis``).

Nothing is imported here, so ``import fabricsim.testing`` costs nothing.
"""
