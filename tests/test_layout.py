"""The package's layering holds: ``_engine`` is the only module that imports the extension, and
every module imports only its own layer and the layers below it (DEVELOPERS.md, "Layout")."""

import ast
from pathlib import Path

import pytest

import fabricsim

PACKAGE = Path(fabricsim.__file__).parent

# Lower number = lower layer. A module may import modules of its own layer or lower ones.
LAYERS = {
    "fabricsim.exceptions": 0,
    "fabricsim._validate": 0,
    "fabricsim._engine": 0,
    "fabricsim._progress": 0,
    "fabricsim._aliases": 0,
    "fabricsim._display": 0,
    "fabricsim._files": 0,
    "fabricsim._memory": 0,
    "fabricsim.types": 0,
    "fabricsim._core": 0,
    "fabricsim.testing.reference": 0,  # the oracle: exceptions only (flows runs it on request)
    "fabricsim.fabric": 1,
    "fabricsim.traffic": 2,
    "fabricsim.analysis": 3,
    "fabricsim.cli": 4,
    "fabricsim.testing": 5,
}


def layer(module: str) -> int:
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every fabricsim import in the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("fabricsim")]
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fabricsim")
        ):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                # "from fabricsim.fabric import profiles" imports a module, not a name
                base = PACKAGE.parent / Path(*sub.split("."))
                is_module = base.is_dir() or any(
                    base.with_suffix(s).exists() for s in (".py", ".pyi")
                )
                out.append((node.lineno, sub if is_module else node.module))
    return out


SOURCES = sorted(
    p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py" and p != PACKAGE / "__init__.py"
)


def test_sources_found():
    assert len(SOURCES) > 30


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_engine_imports_the_extension(path):
    name = module_name(path)
    for line, mod in imports(path):
        if mod == "fabricsim._core":
            assert name == "fabricsim._engine", f"{path.name}:{line} imports fabricsim._core"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path):
    name = module_name(path)
    if name in ("fabricsim", "fabricsim._aliases"):
        return
    mine = layer(name)
    for line, mod in imports(path):
        if mod == "fabricsim":  # "from fabricsim import _validate" and the like
            continue
        assert layer(mod) <= mine, (
            f"{name} (layer {mine}) imports {mod} (layer {layer(mod)}) at line {line}"
        )
