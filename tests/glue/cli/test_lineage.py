"""``kubeai lineage``: dataset (with its Fluid source) → job → version → serving pods, as a tree
and as JSON, against a real registry on loopback; unknown models and versions are one red line
with exit 1, bad names exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glue.artifacts.store import ArtifactStore
from glue.cli import main as cli_main
from glue.cli.main import app
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_model
from tests.glue.model_registry.conftest import CONFIG
from tests.support.registry import RegistryServer

runner = CliRunner()

SYNC = schemas.DatasetSync(
    source=schemas.DatasetSource(namespace="cv-train", name="digits-fluid", uid="ds-uid-1"),
    mounts=[schemas.DatasetMount(mount_point="s3://data/digits", path="/digits", read_only=True)],
    phase="Bound",
    size_bytes=1024**3,
    file_count=1797,
    cache=schemas.DatasetCache(capacity_bytes=2 * 1024**3, cached_percentage=50.0),
)


@pytest.fixture
def lineage_registry(registry: RegistryServer, tmp_path: Path) -> RegistryServer:
    """Model ``digits``: v1 (no dataset) and v2 (trained on the synced Fluid Dataset, alias
    production, served READY by pod ``svc-0`` of service ``digits-svc``)."""
    store = ArtifactStore(registry.settings.artifacts)
    src = tmp_path / "src" / "digits"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text(CONFIG.format(name="digits"))
    (src / "1" / "model.py").write_text("# m\n")
    with RegistryClient(registry.url, team="cv") as client:
        client.sync_dataset("digits-fluid", SYNC)
        for i in (1, 2):
            publish_model(
                store=store,
                registry=client,
                model=schemas.ModelCreate(name="digits", task="classification"),
                model_dir=src,
                uri=store.local_uri("models", "digits", str(i)),
                metrics={"accuracy": 0.9 + i / 100},
                dataset="digits-fluid" if i == 2 else None,
                source=schemas.SourceRef(
                    kind="PyTorchJob", namespace="cv-train", name=f"train-{i}", uid=f"job-uid-{i}"
                ),
            )
        client.set_alias("digits", "production", 2)
        client.create_service(
            schemas.ServiceCreate(
                name="digits-svc",
                team="cv",
                assignments=[schemas.Assignment(model="digits", alias="production")],
            )
        )
        client.report_pod_status(
            "digits-svc",
            "svc-0",
            schemas.PodStatusReport(
                models=[schemas.ObservedModel(model="digits", version=2, state="READY")]
            ),
        )
    return registry


#: A log line of the registry serving in this process (it shares stdout with the command).
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def invoke(registry: RegistryServer, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout without the in-process registry's log lines, stderr."""
    result = runner.invoke(
        app, ["lineage", *args, "--registry-url", registry.url, "--team", "cv"], color=False
    )
    out = "".join(line for line in result.stdout.splitlines(True) if not LOG_LINE.match(line))
    err = "".join(line for line in result.stderr.splitlines(True) if not LOG_LINE.match(line))
    return result.exit_code, out, err


def test_tree_of_one_version_by_alias(
    lineage_registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_main.console, "width", 200)  # one tree node per line
    code, out, _ = invoke(lineage_registry, "digits", "production")
    assert code == 0, out
    lines = [line.strip("│├└─ ") for line in out.splitlines()]
    assert lines[0] == "digits (team cv)"
    assert lines[1] == "v2  aliases: production  metrics: accuracy=0.92"
    assert lines[2] == ("dataset digits-fluid: Fluid Dataset cv-train/digits-fluid uid=ds-uid-1")
    assert lines[3] == ("phase Bound, size 1.0 GiB, 1797 files, cached 50%, cache capacity 2.0 GiB")
    assert lines[4] == "mount s3://data/digits → /digits (read-only)"
    assert lines[5] == "job PyTorchJob cv-train/train-2 uid=job-uid-2"
    assert lines[6] == "served by 1 pod(s)"
    assert lines[7] == "service digits-svc pod svc-0 READY"


def test_json_of_every_version_newest_first(lineage_registry: RegistryServer) -> None:
    code, out, _ = invoke(lineage_registry, "digits", "--json")
    assert code == 0, out
    document = json.loads(out)
    assert document["model"] == "digits" and document["team"] == "cv"
    assert [v["version"] for v in document["versions"]] == [2, 1]
    newest, oldest = document["versions"]
    assert newest["dataset"]["source"]["uid"] == "ds-uid-1"
    assert newest["dataset"]["cache"]["cached_percentage"] == 50.0
    assert newest["job"] == {
        "kind": "PyTorchJob",
        "namespace": "cv-train",
        "name": "train-2",
        "uid": "job-uid-2",
    }
    assert [(d["service"], d["pod"], d["state"]) for d in newest["served_by"]] == [
        ("digits-svc", "svc-0", "READY")
    ]
    assert oldest["dataset"] is None and oldest["served_by"] == [] and oldest["aliases"] == []
    code, out, _ = invoke(lineage_registry, "digits", "--limit", "1")
    assert code == 0 and "v2" in out and "v1 " not in out and "more: --offset 1" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("nope",), 1, "model 'nope'"),
        (("digits", "7"), 1, "no version 7"),
        (("digits", "staging"), 1, "staging"),
        (("Bad_Name",), 2, "MODEL 'Bad_Name'"),
    ],
)
def test_unknown_or_bad_names_are_one_red_line(
    lineage_registry: RegistryServer, args: tuple[str, ...], code: int, message: str
) -> None:
    exit_code, out, err = invoke(lineage_registry, *args)
    assert exit_code == code, (out, err)
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert message in err and out == ""
