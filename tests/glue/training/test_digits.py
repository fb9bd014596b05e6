"""The digits training entrypoint against a real registry (uvicorn + SQLite) and a real local
artifact store: dataset -> trained, uploaded, registered version with lineage."""

from __future__ import annotations

import json

import pytest

from glue.artifacts.store import ArtifactStore
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.training import digits
from glue.training.datasets import read_digits_dataset, write_digits_dataset
from tests.support.registry import RegistryServer


@pytest.fixture
def dataset(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> str:
    root = registry.settings.artifacts.local_root
    monkeypatch.setenv("KUBEAI_ARTIFACTS_LOCAL_ROOT", str(root))
    store = ArtifactStore(registry.settings.artifacts)
    uri = store.local_uri("datasets", "digits")
    split, manifest = write_digits_dataset(store, uri)
    assert split.rows == 1797 and len(split.y_test) == 450
    again = read_digits_dataset(store, uri, manifest)
    assert (again.y_test == split.y_test).all()
    with RegistryClient(registry.url) as client:
        client.register_dataset(
            schemas.DatasetCreate(
                name="digits", team="cv", uri=uri, manifest=manifest, rows=split.rows
            )
        )
    return uri


def test_train_register_with_lineage_and_retry_is_idempotent(
    registry: RegistryServer, dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--registry-url",
        registry.url,
        "--team",
        "cv",
        "--algorithm",
        "logistic_regression",
        "--param",
        "C=0.5",
        "--source-kind",
        "PyTorchJob",
        "--source-namespace",
        "team-cv",
        "--source-name",
        "digits-train-1",
        "--source-uid",
        "uid-123",
    ]
    assert digits.main(argv) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["version"] == 1 and printed["metrics"]["accuracy"] >= 0.9
    with RegistryClient(registry.url) as client:
        version = client.get_version("digits", 1)
        assert version.dataset == "digits"
        assert version.source.kind == "PyTorchJob" and version.source.uid == "uid-123"
        assert version.params == {"algorithm": "logistic_regression", "C": "0.5"}
        assert set(version.manifest.files) == {"config.pbtxt", "1/model.py", "1/model.joblib"}
        assert [t.name for t in version.signature.outputs] == ["LABEL", "PROBABILITIES"]
    # A retried job (same uid) does not create a second version.
    assert digits.main(argv) == 0
    with RegistryClient(registry.url) as client:
        assert client.get_model("digits").latest_version == 1


def test_bad_params_exit_2(registry: RegistryServer, dataset: str, capsys) -> None:
    argv = ["--registry-url", registry.url, "--algorithm", "svc", "--param", "bogus=1"]
    assert digits.main(argv) == 2
    assert "--param" in capsys.readouterr().err
    assert digits.main(["--registry-url", registry.url, "--param", "novalue"]) == 2
