"""How to run ``kubeai`` again from a fresh shell, for commands the CLI prints for the user."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path


def kubeai_command(argv0: str | None = None) -> str:
    """The shell words that run this ``kubeai`` from a fresh shell (where a virtualenv's
    ``kubeai`` is not on ``PATH``): the running executable's path as it was run
    (``.venv/bin/kubeai``, or absolute), else ``<python> -m glue.cli.main``; shell-quoted.

    ``argv0`` defaults to ``sys.argv[0]``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    path = Path(argv0)
    if path.name != "kubeai" or not path.is_file():
        return f"{shlex.quote(sys.executable)} -m glue.cli.main"
    if path.is_absolute():
        return shlex.quote(argv0)
    return shlex.quote(argv0 if os.sep in argv0 else f".{os.sep}{argv0}")
