"""Stand-ins for a spawned sweep process that die at a chosen message, for
``tests/analysis/test_sweep.py``. The children are spawned, so what they run must be importable
there: pytest puts ``tests/`` on ``sys.path`` (``pythonpath`` in pyproject.toml) and spawn hands
the parent's ``sys.path`` to the child, which imports this module to unpickle its target."""

from __future__ import annotations

import os
import signal
from typing import Any

from fabricsim.analysis import sweep


class _DiesAt:
    """The child's end of its pipe, which kills the process instead of sending the first
    message of kind ``kind`` (the messages before it are sent: they are in the pipe)."""

    def __init__(self, conn: Any, kind: str, how: str) -> None:
        self.conn, self.kind, self.how = conn, kind, how

    def send(self, msg: tuple) -> None:
        if msg[0] == self.kind:
            if self.how == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(3)  # no cleanup, no flush, no exception: the process is gone
        self.conn.send(msg)

    def close(self) -> None:
        self.conn.close()


def _worker(kind: str, how: str, *args: Any) -> None:
    *head, conn, t0_wall = args  # sweep._process_worker's arguments, its pipe second to last
    sweep._process_worker(*head, _DiesAt(conn, kind, how), t0_wall)


def exits_after_its_last_rows(*args: Any) -> None:
    """Computes its shares, sends every row, then ``os._exit(3)`` instead of its cost report."""
    _worker("done", "exit", *args)


def killed_holding_a_share(*args: Any) -> None:
    """Takes a share (and says so), computes it, and is SIGKILLed before sending its rows."""
    _worker("rows", "sigkill", *args)


def _dies_at_claim(n: int, *args: Any) -> None:
    """Runs as the spawned process, and ``os._exit(3)``s right after taking its ``n``-th share
    off the shared counter, before announcing it."""
    claim = sweep._claim
    shares = []

    def claim_and_die(*a: Any) -> range:
        share = claim(*a)
        if share:
            shares.append(share)
            if len(shares) == n:
                os._exit(3)
        return share

    sweep._claim = claim_and_die  # in this (spawned) process only
    sweep._process_worker(*args)


def dies_after_taking_a_share_unannounced(*args: Any) -> None:
    """Takes a share off the shared counter and ``os._exit(3)``s before announcing it."""
    _dies_at_claim(1, *args)


def fails_at_start(*args: Any) -> None:
    """Exits with code 1 before doing anything, as a spawned child whose imports fail does."""
    os._exit(1)


def dies_after_taking_a_second_share_unannounced(*args: Any) -> None:
    """Computes and sends its first share, then takes a second off the shared counter and
    ``os._exit(3)``s before announcing it."""
    _dies_at_claim(2, *args)
