"""The swapper against the session's real tritonserver.

Versions are written straight into the shared model repository (the installer's job, tested on
its own); each test uses its own model names. Models answer ``OUTPUT = INPUT * k``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest
import structlog
from structlog.testing import capture_logs

from glue.artifacts.manifest import build_manifest
from glue.model_registry.schemas import DesiredState, DesiredVersion
from glue.serving_agent.metrics import AgentMetrics
from glue.serving_agent.swapper import Swapper
from glue.triton.config import ModelConfig, config_to_json, parse_model_config
from glue.triton.layout import block_bytecode_cache
from glue.triton.repository import TritonLoadError, TritonRepository
from tests.support.triton import TritonFixture, infer, inits, write_model

pytestmark = pytest.mark.integration

#: Seconds a load may take (a safety net: loads take about a second).
READY_TIMEOUT = 60.0
LOG = structlog.get_logger("test", origin="swapper")  # lazy: bound at each call


def events(logs: Iterable[Mapping[str, object]]) -> list[object]:
    return [e["event"] for e in logs if e.get("origin") == "swapper"]


@pytest.fixture
def triton(triton_server: TritonFixture) -> TritonRepository:
    return TritonRepository(triton_server.url)


@pytest.fixture
def swapper(triton: TritonRepository) -> Swapper:
    return Swapper(triton, AgentMetrics(), LOG, ready_timeout=READY_TIMEOUT)


def add_version(
    triton_server: TritonFixture, name: str, version: int, k: float, **kw: object
) -> ModelConfig:
    """Write version ``version`` of ``name`` into the repository; returns the model's config."""
    root = triton_server.repository / name
    write_model(root, name, k, version_dir=str(version), **kw)  # type: ignore[arg-type]
    block_bytecode_cache(root / str(version))
    return parse_model_config((root / "config.pbtxt").read_text())


def test_swap_loads_the_new_version_before_the_old_one_goes(
    triton_server: TritonFixture, triton: TritonRepository, swapper: Swapper
) -> None:
    name = "swapper-swap"
    config = add_version(triton_server, name, 1, 2.0)
    add_version(triton_server, name, 2, 3.0)
    with capture_logs() as logs:
        swapper.swap(name, 1, [], config, LOG)
    assert triton.ready_versions(name) == {1}
    assert events(logs) == ["load"]
    swapper.swap(name, 2, [1], config, LOG)
    assert triton.ready_versions(name) == {2}  # confirmed in the index: the old one is gone
    assert infer(triton_server.url, name, [1.0]) == (2, [3.0])
    assert inits(triton_server.repository, name) == [1, 2]  # 1 was never loaded again
    triton.unload(name)


def test_failed_load_leaves_the_old_version_serving(
    triton_server: TritonFixture, triton: TritonRepository, swapper: Swapper
) -> None:
    name = "swapper-fail"
    config = add_version(triton_server, name, 1, 2.0)
    add_version(triton_server, name, 2, 3.0, fail_init=True)
    swapper.swap(name, 1, [], config, LOG)
    with pytest.raises(TritonLoadError) as caught:
        swapper.swap(name, 2, [1], config, LOG)
    assert not caught.value.timed_out and "initialize failed on purpose" in str(caught.value)
    assert triton.ready_versions(name) == {1}
    assert infer(triton_server.url, name, [1.0]) == (1, [2.0])
    triton.unload(name)


def test_finish_swap_leaves_only_the_desired_version(
    triton_server: TritonFixture, triton: TritonRepository, swapper: Swapper
) -> None:
    """An agent restarted in the middle of an old-style swap finds two versions loaded."""
    name = "swapper-finish"
    config = add_version(triton_server, name, 1, 2.0)
    add_version(triton_server, name, 2, 3.0)
    triton.load(name, config_to_json(config, versions=[1, 2]))
    triton.wait_ready(name, [1, 2], READY_TIMEOUT)
    swapper.finish_swap(name, 2, {1}, config, LOG)
    assert triton.ready_versions(name) == {2}
    triton.unload(name)


def test_unload_undesired_keeps_desired_and_unresolved_models(
    triton_server: TritonFixture, triton: TritonRepository, swapper: Swapper
) -> None:
    names = {role: f"swapper-unload-{role}" for role in ("kept", "unresolved", "gone")}
    for name in names.values():
        swapper.swap(name, 1, [], add_version(triton_server, name, 1, 2.0), LOG)
    kept = names["kept"]
    state = DesiredState(
        service="s",
        pod="p",
        models=[
            DesiredVersion(
                model=kept,
                version=1,
                role="primary",
                artifact_uri="file:///unused",
                manifest=build_manifest(triton_server.repository / kept),
            )
        ],
        unresolved=[names["unresolved"]],
    )
    swapper.metrics.served_version.labels(model=names["gone"]).set(1)
    with capture_logs() as logs:
        swapper.unload_undesired(state, triton.index())
    assert events(logs) == ["model_unloaded"]
    assert logs[-1]["model"] == names["gone"]
    assert triton.wait_not_ready(names["gone"], [1], READY_TIMEOUT)
    assert triton.ready_versions(kept) == {1}
    assert triton.ready_versions(names["unresolved"]) == {1}
    labels = {"model": names["gone"]}
    assert swapper.metrics.value("kubeai_agent_served_version", labels) == 0
    for name in (kept, names["unresolved"]):
        triton.unload(name)
