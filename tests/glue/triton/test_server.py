"""TritonServerProcess against the real tritonserver binary from nvidia-pytriton."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from glue.triton.repository import TritonRepository
from glue.triton.server import (
    TritonServerError,
    TritonServerProcess,
    UnsupportedPlatform,
    check_platform,
    free_ports,
)
from tests.support.triton import TritonFixture

pytestmark = pytest.mark.integration


def test_session_server_is_live_on_loopback(triton_server: TritonFixture) -> None:
    server = triton_server.server
    assert server.running() and server.pid
    assert httpx.get(f"{server.http_url}/v2/health/live").status_code == 200
    assert server.http_url.startswith("http://127.0.0.1:")
    assert len({server.http_port, server.grpc_port, server.metrics_port}) == 3
    assert "nv_" in httpx.get(server.metrics_url).text  # Triton's own metrics endpoint
    command = " ".join(server.command())
    for arg in (
        "--model-control-mode=explicit",
        "--disable-auto-complete-config",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
    ):
        assert arg in command
    backend = server.workdir / "backends" / "python"
    links = [
        backend / name
        for name in (
            "libtriton_python.so",
            "triton_python_backend_utils.py",
            "triton_python_backend_stub",
        )
    ]
    assert all(p.is_symlink() and p.resolve().is_file() for p in links)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert links[2].resolve().parent.name == python  # the stub built for this interpreter
    rss = server.rss_bytes()
    assert 10 * 2**20 < rss < 4 * 2**30
    assert server.rss_bytes(include_children=False) <= rss


def test_start_stop_reaps_the_process_and_frees_the_port(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    server = TritonServerProcess(repository, tmp_path / "work", exit_timeout=2)
    with server:
        pid, port = server.pid, server.http_port
        assert pid is not None
        started = time.monotonic()
    stop_seconds = time.monotonic() - started
    assert server.pid is None and not server.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the port is free again
    assert stop_seconds < 10
    assert server.stop() is None  # idempotent


def test_start_listens_on_the_ports_given(tmp_path: Path) -> None:
    """Ports chosen before the start (a caller that must know the URL in advance)."""
    repository = tmp_path / "repo"
    repository.mkdir()
    http, grpc, metrics = free_ports(3)
    server = TritonServerProcess(repository, tmp_path / "work", exit_timeout=2)
    try:
        server.start(ports=(http, grpc, metrics))
        server.wait_live()
        assert (server.http_port, server.grpc_port, server.metrics_port) == (http, grpc, metrics)
        assert server.http_url == f"http://127.0.0.1:{http}"
        assert TritonRepository(server.http_url, grpc_url=server.grpc_url).index() == []
    finally:
        server.stop()


def test_wait_live_raises_with_the_log_tail_when_the_server_dies(tmp_path: Path) -> None:
    server = TritonServerProcess(tmp_path / "no-such-repository", tmp_path / "work")
    with pytest.raises(TritonServerError) as caught, server:
        pass
    message = str(caught.value)
    assert "exited with code" in message
    assert "no-such-repository" in message  # the log tail says what was wrong
    assert not server.running()


def test_wait_live_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TritonServerError, match="not started"):
        TritonServerProcess(tmp_path, tmp_path / "work").wait_live(1)


@pytest.mark.parametrize("version", [(3, 7), (3, 14), (2, 7)])
def test_unsupported_python_versions_are_named(version: tuple[int, int]) -> None:
    with pytest.raises(UnsupportedPlatform, match=f"not {version[0]}.{version[1]}"):
        check_platform(version)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
