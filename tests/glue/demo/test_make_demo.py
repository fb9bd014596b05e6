"""The first ``make demo`` builds ``.venv``: it installs only what the demo runs, with uv, and says
what it does (it used to install every extra with pip ``--quiet``, silent for about 5.5
minutes). The steps and the installer's commands are tools/venv.py's (tests/tools/test_venv.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _dry_run(target: str) -> list[str]:
    out = subprocess.run(
        ["make", "--dry-run", "--always-make", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [line for line in out.splitlines() if "tools/venv.py" in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_the_demo_extras_only() -> None:
    (install,) = _dry_run("demo")
    assert "--extras glue,demo " in install and "--stamp stamp-demo" in install
    assert "--quiet" not in install and " -q" not in install


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", [".venv/.stamp", "lint", ".venv-bench/.stamp"])
def test_test_and_bench_install_every_extra(target: str) -> None:
    installs = _dry_run(target)
    assert installs, target
    assert all("--extras glue,demo,dev,infra,aws,gcp,alicloud" in line for line in installs)
