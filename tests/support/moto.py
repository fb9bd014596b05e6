"""Session fixtures for moto: a real S3 API server (``moto_server``) on 127.0.0.1.

``moto_s3`` starts the ``moto_server`` binary of the running interpreter's venv once per session
on a free loopback port and stops it at the end; ``s3_bucket`` creates a fresh, empty bucket per
test. The server gets dummy credentials and ``AWS_EC2_METADATA_DISABLED=true`` so no SDK ever
probes an instance-metadata address.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MOTO_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""Environment for moto_server and for any SDK client talking to it."""

_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class MotoServer:
    """A running moto_server: ``endpoint_url`` is ``http://127.0.0.1:<port>``."""

    endpoint_url: str
    port: int
    access_key_id: str = MOTO_ENV["AWS_ACCESS_KEY_ID"]
    secret_access_key: str = MOTO_ENV["AWS_SECRET_ACCESS_KEY"]
    region: str = MOTO_ENV["AWS_DEFAULT_REGION"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server_binary() -> str:
    candidate = Path(sys.executable).parent / "moto_server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("moto_server")
    if found is None:
        pytest.skip("moto_server not installed (pip install 'moto[server]', the dev extra)")
    return found


def _wait_until_up(proc: subprocess.Popen[bytes], endpoint_url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"moto_server exited with {proc.returncode}: {log.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(f"{endpoint_url}/moto-api/", timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {endpoint_url} in {_START_TIMEOUT_S} s")


def _start(log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start moto_server on a free port, retrying if another process grabbed the port first."""
    env = {**os.environ, **MOTO_ENV}
    error: RuntimeError | None = None
    for _ in range(3):
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [_moto_server_binary(), "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            _wait_until_up(proc, f"http://127.0.0.1:{port}", log)
        except RuntimeError as exc:
            exited = proc.poll() is not None
            _stop(proc)
            if not exited:  # running but silent: another port will not help
                raise
            error = exc
            continue
        return proc, port
    assert error is not None
    raise error


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A real S3 API server (moto_server) on loopback, shared by the whole session.

    While it runs, the dummy credentials of ``MOTO_ENV`` are in ``os.environ`` where no value
    was set, so SDK clients built without explicit keys also reach it without any probing.
    """
    added = [key for key in MOTO_ENV if key not in os.environ]
    for key in added:
        os.environ[key] = MOTO_ENV[key]
    proc, port = _start(tmp_path_factory.mktemp("moto") / "moto_server.log")
    try:
        yield MotoServer(endpoint_url=f"http://127.0.0.1:{port}", port=port)
    finally:
        _stop(proc)
        for key in added:
            os.environ.pop(key, None)


@pytest.fixture
def s3_bucket(moto_s3: MotoServer) -> str:
    """Name of a fresh, empty bucket on the session's moto_server (real S3 API on loopback)."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:20]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint_url,
        region_name=moto_s3.region,
        aws_access_key_id=moto_s3.access_key_id,
        aws_secret_access_key=moto_s3.secret_access_key,
    )
    client.create_bucket(Bucket=name)
    return name
