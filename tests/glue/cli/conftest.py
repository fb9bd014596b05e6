"""Every CLI test runs without the user's kubeai config file and connection variables;
``publish_digits`` gives a registry a model with two versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue.artifacts.store import ArtifactStore
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_model
from tests.glue.model_registry.conftest import CONFIG, SIGNATURE
from tests.support.registry import RegistryServer

#: Variables ``glue.cli.context`` reads; a developer's shell must not change a test's answer.
CONNECTION_VARIABLES = (
    "KUBEAI_CONFIG",
    "KUBEAI_CONTEXT",
    "KUBEAI_TEAM",
    "KUBEAI_REGISTRY_URL",
    "KUBEAI_REGISTRY_TOKEN",
    "KUBEAI_REGISTRY_TOKEN_FILE",
    "KUBEAI_REGISTRY_CA_FILE",
)


@pytest.fixture(autouse=True)
def no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """``KUBEAI_CONFIG`` names a file that does not exist (an empty config); the connection
    variables are unset. Returns the config path a test may write."""
    for name in CONNECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path_factory.mktemp("kubeai-config") / "config.yaml"
    monkeypatch.setenv("KUBEAI_CONFIG", str(path))
    return path


def publish_digits(registry: RegistryServer, client: RegistryClient, tmp_path: Path) -> None:
    """Create model ``digits`` in the client's team and publish versions 1 and 2 (accuracy
    0.91 and 0.92, params C=1 and C=2, sources ``job-1``/``job-2`` with uids u1/u2)."""
    store = ArtifactStore(registry.settings.artifacts)
    src = tmp_path / "src" / "digits"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text(CONFIG.format(name="digits"))
    (src / "1" / "model.py").write_text("# m\n")
    for i in (1, 2):
        published = publish_model(
            store=store,
            registry=client,
            model=schemas.ModelCreate(name="digits", task="classification"),
            model_dir=src,
            uri=store.local_uri("models", "digits", "a"),
            metrics={"accuracy": 0.9 + i / 100},
            params={"C": str(i)},
            source=schemas.SourceRef(
                kind="PyTorchJob", namespace="cv", name=f"job-{i}", uid=f"u{i}"
            ),
        )
        assert published.created and published.record.version == i
        assert published.record.signature == schemas.Signature(**SIGNATURE)
