"""``python -m glue.model_registry`` refuses to serve an open registry off loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from glue.model_registry.__main__ import is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("registry.example", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_open_registry_refuses_a_public_bind(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KUBEAI_REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "KUBEAI_ARTIFACTS_LOCAL_ROOT": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "glue.model_registry", "--host", "0.0.0.0", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "refusing to serve without authentication on 0.0.0.0" in done.stderr
    assert "KUBEAI_REGISTRY_AUTH__KUBERNETES__ENABLED" in done.stderr
    assert not (tmp_path / "r.db").exists()  # refused before touching the database
