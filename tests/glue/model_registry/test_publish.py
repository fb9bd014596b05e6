"""The one publish step against a real registry server and a local artifact store."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue.artifacts.store import ArtifactStore
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import DatasetConflict, publish_dataset, publish_model
from tests.glue.model_registry.conftest import CONFIG, SIGNATURE
from tests.support.registry import RegistryServer


def model_dir(root: Path, text: str) -> Path:
    (root / "1").mkdir(parents=True)
    (root / "config.pbtxt").write_text(text)
    (root / "1" / "model.py").write_text("# m\n")
    return root


def test_publish_model_registers_once_per_source(registry: RegistryServer, tmp_path: Path) -> None:
    store = ArtifactStore(registry.settings.artifacts)
    src = model_dir(tmp_path / "digits", CONFIG.format(name="digits"))
    source = schemas.SourceRef(kind="PyTorchJob", namespace="cv", name="job", uid="uid-1")
    with RegistryClient(registry.url) as client:
        calls = [
            publish_model(
                store=store,
                registry=client,
                model=schemas.ModelCreate(name="digits", team="cv"),
                model_dir=src,
                uri=store.local_uri("models", "digits", "a"),
                source=source,
                metrics={"accuracy": 0.9},
            )
            for _ in range(2)  # a retry sends the same source and artifact
        ]
    assert [c.created for c in calls] == [True, False]
    assert calls[0].record.version == calls[1].record.version == 1
    assert calls[0].record.signature == schemas.Signature(**SIGNATURE)  # read from config.pbtxt


def test_a_bad_config_is_refused_before_anything_is_uploaded(
    registry: RegistryServer, tmp_path: Path
) -> None:
    store = ArtifactStore(registry.settings.artifacts)
    src = model_dir(tmp_path / "broken", "name: 'x' input [")
    uri = store.local_uri("models", "broken", "a")
    with RegistryClient(registry.url) as client, pytest.raises(ValueError, match=r"config\.pbtxt"):
        publish_model(
            store=store,
            registry=client,
            model="broken",
            model_dir=src,
            uri=uri,
            source=schemas.SourceRef(kind="Job", namespace="t", name="j", uid="u"),
        )
    assert not store.exists(uri)


def test_publish_dataset_is_idempotent_and_refuses_other_files_before_uploading(
    registry: RegistryServer, tmp_path: Path
) -> None:
    store = ArtifactStore(registry.settings.artifacts)
    data = tmp_path / "clicks"
    data.mkdir()
    (data / "part-0.csv").write_text("a\n1\n")
    uri = store.local_uri("datasets", "clicks")
    args = {"name": "clicks", "team": "search", "rows": 1}
    with RegistryClient(registry.url) as client:
        first = publish_dataset(store=store, registry=client, source_dir=data, uri=uri, **args)
        again = publish_dataset(store=store, registry=client, source_dir=data, uri=uri, **args)
        assert (first.created, again.created) == (True, False)
        assert again.record.manifest == first.record.manifest
        (data / "part-1.csv").write_text("b\n")
        with pytest.raises(DatasetConflict, match="already recorded"):
            publish_dataset(store=store, registry=client, source_dir=data, uri=uri, **args)
    assert store.list_files(uri) == ["part-0.csv"]
