"""Every module's examples run and pass, on the installed package (the docs cannot go stale).

Each example is sized to run in well under a second; ``pytest --durations`` shows them."""

import doctest
import importlib
import pkgutil

import pytest

import fabricsim

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(fabricsim.__path__, prefix="fabricsim.")
    if m.name != "fabricsim.__main__"
)


def test_every_subpackage_is_walked():
    assert {
        "fabricsim.fabric.compiled",
        "fabricsim.traffic.collectives.api",
        "fabricsim.analysis.training",
        "fabricsim.cli.scenario",
        "fabricsim.testing.strategies.graphs",
        "fabricsim._engine",
    } <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
