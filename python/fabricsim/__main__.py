"""``python -m fabricsim``: the same as ``fabricsim compare`` (the built-in example scenario
when no file is given). ``python -m fabricsim erosion|collective|scorecard|example|demo ...``
runs the other ``fabricsim`` commands (see :mod:`fabricsim.cli`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fabricsim.cli.commands import COMMANDS
from fabricsim.cli.commands import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in (*COMMANDS, "-h", "--help"):
        args = ["compare", *args]
    return cli_main(args, prog="python -m fabricsim")


if __name__ == "__main__":
    sys.exit(main())
