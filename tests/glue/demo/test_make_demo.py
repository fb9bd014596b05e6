"""The first ``make demo`` builds ``.venv`` for minutes: it says what it does, and pip shows each
package (it used to run with ``--quiet``, silent for about 5.5 minutes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_venv_recipe_shows_progress() -> None:
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", ".venv/.stamp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    installs = [line for line in dry_run.splitlines() if "pip install" in line]
    assert len(installs) == 2 and not any("--quiet" in line or " -q" in line for line in installs)
    steps = [line for line in dry_run.splitlines() if line.startswith('echo "==> [')]
    assert len(steps) == 3, dry_run
