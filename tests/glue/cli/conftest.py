"""Every CLI test runs without the user's kubeai config file and connection variables."""

from __future__ import annotations

from pathlib import Path

import pytest

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
