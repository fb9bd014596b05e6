"""Starting ``kubeai demo`` as a separate process, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def start_demo(workdir: Path, *extra: str, stdout: int | None = None) -> subprocess.Popen[str]:
    """``kubeai demo --workdir WORKDIR --swap-seconds 20 --clients 2 EXTRA...`` (stderr piped)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "glue.cli.main",
            "demo",
            "--workdir",
            str(workdir),
            "--swap-seconds",
            "20",
            "--clients",
            "2",
            *extra,
        ],
        stdout=subprocess.DEVNULL if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
