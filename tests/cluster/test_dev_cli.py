"""``kubeai dev cluster up`` runs the plane in the foreground and Ctrl-C stops every process."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.support.helm import REPO_ROOT

START_TIMEOUT_S = 120.0


def children(pid: int) -> set[int]:
    """Direct children of ``pid`` (from ``/proc``)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def test_cluster_up_serves_nodes_until_ctrl_c(
    loopback_namespace: None, control_plane_binaries: dict[str, Path], tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "glue.cli.dev", "cluster", "up", f"--workdir={tmp_path}"]
    command += ["--stack=prod-eks", "--nodes-per-pool=1", "--system-nodes=0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
    cli = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert cli.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(line.startswith("kubeconfig:") for line in lines):
            line = cli.stdout.readline()
            assert line and time.monotonic() < deadline, "no kubeconfig line:\n" + "".join(lines)
            lines.append(line)
        kubeconfig = Path(lines[-1].split(":", 1)[1].strip())
        config = yaml.safe_load(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        response = httpx.get(
            f"{cluster['server']}/api/v1/nodes",
            headers={"Authorization": f"Bearer {user['token']}"},
            verify=ssl.create_default_context(cafile=cluster["certificate-authority"]),
            trust_env=False,
        )
        names = sorted(n["metadata"]["name"] for n in response.json()["items"])
        assert names == ["kwok-cpu-general-0", "kwok-gpu-h100-0", "kwok-gpu-l4-0"]
        components = children(cli.pid)
        assert len(components) == 5

        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=30) == 0, cli.stdout.read()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert all(not Path(f"/proc/{pid}").exists() for pid in components)
    assert list(tmp_path.iterdir()) == [], "the run's folder was not removed"
