"""``python -m fabricsim``: exactly the ``fabricsim`` command (without a command, both run
``fabricsim compare``: the built-in example scenario when no file is given). ``python -m
fabricsim erosion|collective|sweep|calibrate|scorecard|example|demo ...`` runs the other
commands (see
:mod:`fabricsim.cli`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fabricsim.cli.commands import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return cli_main(args, prog="python -m fabricsim")


if __name__ == "__main__":
    sys.exit(main())
