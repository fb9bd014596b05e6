"""One exit-status table for every command: ``kubeai ...``, the training entrypoint, the demo.

README.md ("Exit status") shows the same table. Import-light on purpose (no typer, no rich):
the training container imports it too.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses, the same for every command."""

    #: Done (also: already done by an earlier attempt, e.g. a retried registration).
    OK = 0
    #: Failed: the request was refused (conflict, unknown name, 401 not authenticated, 403 not
    #: allowed) or a step failed.
    FAILED = 1
    #: Bad input: an argument, setting or file is invalid; nothing was changed. Do not retry.
    BAD_INPUT = 2
    #: The registry or the artifact storage could not be reached; worth a retry.
    UNAVAILABLE = 3
    #: Stopped because the terminal closed (128 + SIGHUP) after stopping every child process.
    HUNG_UP = 129
    #: Stopped by Ctrl-C (128 + SIGINT) after stopping every child process.
    INTERRUPTED = 130
    #: Stopped by SIGTERM (128 + SIGTERM) after stopping every child process.
    TERMINATED = 143
