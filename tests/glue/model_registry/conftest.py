"""Fixtures for registry tests: an app over a real SQLite file and a local artifact root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from glue.artifacts.store import ArtifactStore
from glue.model_registry.app import create_app
from glue.model_registry.publish import upload_model
from tests.support.registry import registry_settings

CONFIG = """name: "{name}"
backend: "python"
max_batch_size: 32
input [ {{ name: "IMAGE" data_type: TYPE_FP32 dims: [ 64 ] }} ]
output [ {{ name: "LABEL" data_type: TYPE_INT64 dims: [ 1 ] }} ]
"""

SIGNATURE = {
    "inputs": [{"name": "IMAGE", "datatype": "FP32", "dims": [-1, 64]}],
    "outputs": [{"name": "LABEL", "datatype": "INT64", "dims": [-1, 1]}],
}


class Env:
    """A registry app (TestClient) plus the artifact store it reads from."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "artifacts").mkdir(exist_ok=True)
        self.tmp = tmp
        self.settings = registry_settings(tmp)
        self.store = ArtifactStore(self.settings.artifacts)
        self.client = TestClient(create_app(self.settings), raise_server_exceptions=False)

    def upload_model(self, name: str, tag: str, *, config: str | None = None) -> dict[str, Any]:
        """Write and upload a Triton model dir; returns artifact_uri and manifest (JSON)."""
        src = self.tmp / "src" / tag / name
        (src / "1").mkdir(parents=True, exist_ok=True)
        (src / "config.pbtxt").write_text(
            config if config is not None else CONFIG.format(name=name)
        )
        (src / "1" / "model.py").write_text(f"# model {name} {tag}\n")
        uploaded = upload_model(
            store=self.store, model_dir=src, uri=self.store.local_uri("models", name, tag)
        )
        return {
            "artifact_uri": uploaded.artifact_uri,
            "manifest": uploaded.manifest.model_dump(mode="json"),
        }

    def version_body(self, name: str, uid: str, **extra: Any) -> dict[str, Any]:
        """A valid registration body for a freshly uploaded artifact."""
        body = {
            **self.upload_model(name, uid),
            "signature": SIGNATURE,
            "metrics": {"accuracy": 0.95},
            "params": {"C": "1.0"},
            "source": {
                "kind": "PyTorchJob",
                "namespace": "cv",
                "name": f"train-{uid}",
                "uid": uid,
            },
        }
        body.update(extra)
        return body

    def create_model(self, name: str = "digits", team: str = "cv") -> None:
        r = self.client.post(f"/api/v1/teams/{team}/models", json={"name": name, "task": "x"})
        assert r.status_code == 201, r.text


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """A fresh registry over SQLite in ``tmp_path``."""
    e = Env(tmp_path)
    with e.client:
        yield e
