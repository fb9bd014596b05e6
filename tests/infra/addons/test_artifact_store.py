"""infra/addons/artifact_store.py: the chart ``artifacts`` block and the static-key Secret."""

from __future__ import annotations

import pytest

from infra.addons.artifact_store import (
    ARTIFACT_SECRET,
    ARTIFACT_SECRET_ACCESS_KEY,
    ARTIFACT_SECRET_SECRET_KEY,
    artifact_values,
    static_keys,
)
from tests.infra import factories


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("eks", {"allowedSchemes": ["s3"], "s3": {"region": "us-east-1"}}),
        ("gke", {"allowedSchemes": ["gs"], "gcs": {"token": "google_default"}}),
        (
            "ack",
            {
                "allowedSchemes": ["oss"],
                "oss": {
                    "endpointUrl": "https://oss-cn-hangzhou.aliyuncs.com",
                    "region": "cn-hangzhou",
                },
            },
        ),
        (
            "existing",
            {
                "allowedSchemes": ["s3"],
                "s3": {"endpointUrl": "http://minio.minio:9000", "addressingStyle": "path"},
            },
        ),
    ],
)
def test_artifact_values_per_store(kind: str, expected: dict) -> None:
    assert artifact_values(factories.store(kind), existing_secret=None) == expected


def test_static_keys_reference_the_secret() -> None:
    values = artifact_values(factories.store("eks"), existing_secret=ARTIFACT_SECRET)
    assert values["s3"] == {
        "region": "us-east-1",
        "existingSecret": ARTIFACT_SECRET,
        "accessKeyIdKey": ARTIFACT_SECRET_ACCESS_KEY,
        "secretAccessKeyKey": ARTIFACT_SECRET_SECRET_KEY,
    }


def test_static_keys_need_both_secrets() -> None:
    assert static_keys({"artifactStoreAccessKeyId": "id"}) is None  # type: ignore[dict-item]
    both = {"artifactStoreAccessKeyId": "id", "artifactStoreSecretAccessKey": "key"}
    assert static_keys(both) == ("id", "key")  # type: ignore[arg-type]
