"""Termination signals as exceptions: SIGTERM and SIGHUP unwind a run the way Ctrl-C does.

A process that owns children (the demo's ``ChildProcesses``, a control plane harness) installs
``raise_stop`` for SIGTERM and SIGHUP: the signal becomes a ``KeyboardInterrupt`` subclass, so
``with`` blocks and ``finally`` clauses stop every child, callers that already handle Ctrl-C
handle it too, and pytest ends its session and runs its finalizers instead of failing one test and
going on. ``exit_code`` is the conventional status of a process ended by that signal, 128 + the
signal number (the same values as ``glue.cli.exit_codes.ExitCode``).
"""

from __future__ import annotations

import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM stopped the run; ``exit_code`` 143 (128 + SIGTERM)."""

    exit_code = 128 + int(signal.SIGTERM)


class HungUp(Terminated):
    """SIGHUP (the terminal was closed) stopped the run; handled like SIGTERM, ``exit_code``
    129 (128 + SIGHUP)."""

    exit_code = 128 + int(signal.SIGHUP)


#: What each stop signal raises (SIGINT: Python's own ``KeyboardInterrupt``).
STOP_SIGNALS: dict[int, type[KeyboardInterrupt]] = {
    signal.SIGINT: KeyboardInterrupt,
    signal.SIGTERM: Terminated,
    signal.SIGHUP: HungUp,
}


def raise_stop(signum: int, _frame: FrameType | None = None) -> None:
    """A signal handler: raise the exception ``STOP_SIGNALS`` names for ``signum``."""
    raise STOP_SIGNALS.get(signum, KeyboardInterrupt)()
