"""TritonRepository (index/load/unload/wait_ready) against the session's real tritonserver.

Each test uses its own model names, so the shared server's state does not leak between tests.
"""

from __future__ import annotations

import shutil
import threading

import httpx
import pytest

from glue.triton.config import config_to_json, parse_model_config
from glue.triton.layout import block_bytecode_cache
from glue.triton.repository import (
    TritonError,
    TritonLoadError,
    TritonRepository,
    TritonUnavailable,
)
from glue.triton.server import free_ports
from tests.support.triton import TritonFixture, infer, inits, wait_until, write_model

pytestmark = pytest.mark.integration


def add_version(triton: TritonFixture, name: str, version: int, k: float, **kw: object) -> None:
    """Write version ``version`` of ``name`` into the session repository (as the agent would)."""
    write_model(triton.repository / name, name, k, version_dir=str(version), **kw)  # type: ignore[arg-type]
    block_bytecode_cache(triton.repository / name / str(version))


def config_json(triton: TritonFixture, name: str, versions: list[int]) -> str:
    text = (triton.repository / name / "config.pbtxt").read_text()
    return config_to_json(parse_model_config(text), versions=versions)


def test_index_load_infer_unload(triton_server: TritonFixture) -> None:
    repo = TritonRepository(triton_server.url)
    add_version(triton_server, "repo-basic", 1, 3.0)
    (triton_server.repository / ".staging").mkdir(exist_ok=True)
    rows = [e for e in repo.index() if e.name == "repo-basic"]
    assert [(e.version, e.state) for e in rows] == [(None, "")]  # known, never loaded
    assert not any(e.name.startswith(".") for e in repo.index())

    repo.load("repo-basic")
    repo.wait_ready("repo-basic", [1], timeout=10)
    assert repo.ready_versions("repo-basic") == {1}
    assert infer(triton_server.url, "repo-basic", [1.0, 2.0]) == (1, [3.0, 6.0])

    repo.unload("repo-basic")
    assert repo.wait_not_ready("repo-basic", [1], timeout=10)
    state = repo.versions("repo-basic")[1]
    assert state.state in ("UNLOADING", "UNAVAILABLE")


def test_specific_versions_overlap_then_switch(triton_server: TritonFixture) -> None:
    repo = TritonRepository(triton_server.url)
    add_version(triton_server, "repo-swap", 1, 2.0)
    add_version(triton_server, "repo-swap", 2, 5.0)
    repo.load("repo-swap", config_json(triton_server, "repo-swap", [1]))
    repo.wait_ready("repo-swap", [1], timeout=10)
    repo.load("repo-swap", config_json(triton_server, "repo-swap", [1, 2]))
    repo.wait_ready("repo-swap", [1, 2], timeout=10)
    assert repo.ready_versions("repo-swap") == {1, 2}
    # Triton kept version 1 loaded (no second initialize) when only version_policy changed.
    assert inits(triton_server.repository, "repo-swap") == [1, 2]
    assert not (triton_server.repository / "repo-swap" / "1" / "__pycache__").is_dir()
    repo.load("repo-swap", config_json(triton_server, "repo-swap", [2]))
    repo.wait_ready("repo-swap", [2], timeout=10)
    assert repo.wait_not_ready("repo-swap", [1], timeout=10)
    assert infer(triton_server.url, "repo-swap", [1.0])[1] == [5.0]
    assert inits(triton_server.repository, "repo-swap") == [1, 2]  # nor version 2 again
    repo.unload("repo-swap")


def test_direct_load_of_the_new_version_never_reinitialises_the_served_one(
    triton_server: TritonFixture,
) -> None:
    """The agent's swap: one load of ``[2]`` while 1 serves. Triton loads 2, then unloads 1;
    version 1 is never initialised again (a re-initialisation concurrent with another load is
    what crashed tritonserver 2.51 in an earlier design)."""
    repo = TritonRepository(triton_server.url)
    for version, k in ((1, 2.0), (2, 5.0)):
        write_model(triton_server.repository / "repo-pyc", "repo-pyc", k, version_dir=str(version))
    repo.load("repo-pyc", config_json(triton_server, "repo-pyc", [1]))
    repo.wait_ready("repo-pyc", [1], timeout=10)
    repo.load("repo-pyc", config_json(triton_server, "repo-pyc", [2]))
    repo.wait_ready("repo-pyc", [2], timeout=10)
    assert repo.wait_not_ready("repo-pyc", [1], timeout=10)
    assert infer(triton_server.url, "repo-pyc", [1.0])[1] == [5.0]
    assert inits(triton_server.repository, "repo-pyc") == [1, 2]
    repo.unload("repo-pyc")


def test_load_failure_carries_tritons_reason(triton_server: TritonFixture) -> None:
    repo = TritonRepository(triton_server.url)
    add_version(triton_server, "repo-broken", 1, 1.0, fail_init=True)
    with pytest.raises(TritonLoadError) as caught:
        repo.load("repo-broken")
    assert "initialize failed on purpose" in caught.value.reason
    assert not caught.value.timed_out
    # The index shows the version UNAVAILABLE; wait_ready reports that reason at once.
    with pytest.raises(TritonLoadError, match="initialize failed on purpose") as waited:
        repo.wait_ready("repo-broken", [1], timeout=10)
    assert waited.value.versions == [1]


def test_unknown_model_load_is_refused(triton_server: TritonFixture) -> None:
    with pytest.raises(TritonLoadError, match="repo-nothing"):
        TritonRepository(triton_server.url).load("repo-nothing")


def test_wait_ready_times_out_for_a_version_never_loaded(triton_server: TritonFixture) -> None:
    repo = TritonRepository(triton_server.url)
    add_version(triton_server, "repo-never", 1, 1.0)
    with pytest.raises(TritonLoadError, match=r"not READY after 0\.3s") as caught:
        repo.wait_ready("repo-never", [1], timeout=0.3)
    assert caught.value.timed_out
    assert "absent from the index" in str(caught.value)


def test_unreachable_server_raises_triton_unavailable() -> None:
    repo = TritonRepository(f"http://127.0.0.1:{free_ports(1)[0]}", timeout=1)
    assert not repo.is_live()
    for call in (repo.index, lambda: repo.load("m"), lambda: repo.unload("m")):
        with pytest.raises(TritonUnavailable, match="unreachable"):
            call()
    assert issubclass(TritonUnavailable, TritonError)


@pytest.mark.parametrize("url", ["ftp://h:1", "http://h:1/v2", "http://"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="must be http://host:port"):
        TritonRepository(url)


def test_control_calls_to_one_server_share_one_lock(triton_server: TritonFixture) -> None:
    a = TritonRepository(triton_server.url)
    b = TritonRepository(triton_server.url.replace("http://", ""))
    assert a._lock is b._lock
    # While one thread holds the lock, another's call waits for it.
    order: list[str] = []
    with a._lock:
        worker = threading.Thread(target=lambda: (b.index(), order.append("index")))
        worker.start()
        worker.join(timeout=0.3)
        order.append("released")
    worker.join(timeout=10)
    assert order == ["released", "index"]


def test_is_live(triton_server: TritonFixture) -> None:
    assert TritonRepository(triton_server.url).is_live()


# -- repository control over gRPC (the agent's path) ----------------------------------------------


def grpc_repo(triton: TritonFixture, **kw: float) -> TritonRepository:
    return TritonRepository(triton.url, grpc_url=triton.server.grpc_url, **kw)


def test_grpc_control_index_load_swap_unload(triton_server: TritonFixture) -> None:
    repo = grpc_repo(triton_server)
    assert repo.control == f"grpc://{triton_server.server.grpc_url}"
    add_version(triton_server, "repo-grpc", 1, 2.0)
    add_version(triton_server, "repo-grpc", 2, 5.0)
    rows = [e for e in repo.index() if e.name == "repo-grpc"]
    assert [(e.version, e.state) for e in rows] == [(None, "")]  # known, never loaded
    assert not any(e.name.startswith(".") for e in repo.index())

    repo.load("repo-grpc", config_json(triton_server, "repo-grpc", [1]))
    repo.wait_ready("repo-grpc", [1], timeout=10)
    assert infer(triton_server.url, "repo-grpc", [1.0]) == (1, [2.0])
    repo.load("repo-grpc", config_json(triton_server, "repo-grpc", [2]))
    repo.wait_ready("repo-grpc", [2], timeout=10)
    assert repo.wait_not_ready("repo-grpc", [1], timeout=10)
    assert infer(triton_server.url, "repo-grpc", [1.0]) == (2, [5.0])
    assert inits(triton_server.repository, "repo-grpc") == [1, 2]

    repo.unload("repo-grpc")
    assert repo.wait_not_ready("repo-grpc", [2], timeout=10)
    assert repo.versions("repo-grpc")[2].state in ("UNLOADING", "UNAVAILABLE")


def test_grpc_failed_load_carries_tritons_reason_and_keeps_the_served_version(
    triton_server: TritonFixture,
) -> None:
    repo = grpc_repo(triton_server)
    add_version(triton_server, "repo-grpc-fail", 1, 2.0)
    repo.load("repo-grpc-fail", config_json(triton_server, "repo-grpc-fail", [1]))
    repo.wait_ready("repo-grpc-fail", [1], timeout=10)
    add_version(triton_server, "repo-grpc-fail", 2, 3.0, fail_init=True)
    with pytest.raises(TritonLoadError) as caught:
        repo.load("repo-grpc-fail", config_json(triton_server, "repo-grpc-fail", [2]))
    assert "initialize failed on purpose" in caught.value.reason
    assert not caught.value.timed_out
    assert repo.ready_versions("repo-grpc-fail") == {1}
    assert infer(triton_server.url, "repo-grpc-fail", [1.0]) == (1, [2.0])
    repo.unload("repo-grpc-fail")

    with pytest.raises(TritonLoadError, match="repo-nothing"):
        repo.load("repo-nothing")


def test_grpc_load_never_holds_up_http_inference(triton_server: TritonFixture) -> None:
    """While a slow load runs over gRPC, a request on each of 16 open HTTP connections (more than
    Triton's 8 HTTP threads, so every thread serves one) is answered before the load returns.
    Over HTTP, the connections of the thread running the load would wait for it (#8958)."""
    repo = grpc_repo(triton_server)
    add_version(triton_server, "repo-grpc-serving", 1, 2.0)
    repo.load("repo-grpc-serving")
    repo.wait_ready("repo-grpc-serving", [1], timeout=10)
    add_version(triton_server, "repo-grpc-slow", 1, 1.0, init_delay=4.0)
    clients = [httpx.Client(timeout=30) for _ in range(16)]
    try:
        for client in clients:  # open every connection before the load starts
            assert infer(triton_server.url, "repo-grpc-serving", [1.0], client=client)[0] == 1
        loaded = threading.Event()
        loader = threading.Thread(
            target=lambda: (repo.load("repo-grpc-slow"), loaded.set()), daemon=True
        )
        loader.start()
        assert wait_until(lambda: repo_loading(triton_server, "repo-grpc-slow"), timeout=30)
        answered = []
        for client in clients:
            answered.append(infer(triton_server.url, "repo-grpc-serving", [2.0], client=client))
            assert not loaded.is_set(), f"request {len(answered)} waited for the load"
        assert answered == [(1, [4.0])] * 16
        loader.join(timeout=60)
        assert loaded.is_set()
    finally:
        for client in clients:
            client.close()
    repo.unload("repo-grpc-slow")
    repo.unload("repo-grpc-serving")


def repo_loading(triton: TritonFixture, model: str) -> bool:
    """True once Triton's index shows ``model`` LOADING (asked directly: ``TritonRepository``
    calls wait for the control lock the load holds)."""
    rows = httpx.post(f"{triton.url}/v2/repository/index", timeout=10).json()
    return any(r["name"] == model and r.get("state") == "LOADING" for r in rows)


def test_unreachable_grpc_endpoint_raises_triton_unavailable(triton_server: TritonFixture) -> None:
    repo = TritonRepository(triton_server.url, grpc_url=f"127.0.0.1:{free_ports(1)[0]}", timeout=1)
    assert repo.is_live()  # health stays on HTTP
    for call in (repo.index, lambda: repo.load("m"), lambda: repo.unload("m")):
        with pytest.raises(TritonUnavailable, match=r"grpc://127\.0\.0\.1:\d+ unreachable"):
            call()


@pytest.mark.parametrize(
    "grpc_url", ["127.0.0.1", "http://127.0.0.1:8001", "127.0.0.1:0", "h:1/x", ":8001", "h:port"]
)
def test_bad_grpc_urls_are_refused(grpc_url: str) -> None:
    with pytest.raises(ValueError, match="must be host:port"):
        TritonRepository("http://127.0.0.1:8000", grpc_url=grpc_url)


@pytest.fixture(autouse=True, scope="module")
def _cleanup(triton_server: TritonFixture):
    yield
    for name in (
        "repo-basic",
        "repo-swap",
        "repo-broken",
        "repo-never",
        "repo-pyc",
        "repo-grpc",
        "repo-grpc-fail",
        "repo-grpc-serving",
        "repo-grpc-slow",
    ):
        shutil.rmtree(triton_server.repository / name, ignore_errors=True)
