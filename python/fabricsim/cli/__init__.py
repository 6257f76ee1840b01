"""The command line: ``fabricsim compare | erosion | collective | example | demo``.

:mod:`~fabricsim.cli.commands` (the commands and their output),
:mod:`~fabricsim.cli.scenario` (the TOML scenario format), :mod:`~fabricsim.cli.toml_lines`
(where each key of a TOML file stands, for errors that name file:line:key) and
:mod:`~fabricsim.cli.demo` (a guided tour of a small fabric).
"""

from fabricsim.cli.commands import COMMANDS, main

__all__ = ["COMMANDS", "main"]
