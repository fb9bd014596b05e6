"""The reporter: failure labels, retry and outage backoff, observed state, sending reports."""

from __future__ import annotations

import pytest

from glue.artifacts.errors import (
    ArtifactNotFound,
    ChecksumMismatch,
    InvalidArtifactURI,
    StorageUnavailable,
)
from glue.serving_agent.reporter import failure_reason
from glue.triton.layout import LayoutError
from glue.triton.repository import TritonLoadError


@pytest.mark.parametrize(
    ("exc", "label"),
    [
        (ChecksumMismatch("x"), "checksum_mismatch"),
        (ArtifactNotFound("x"), "artifact_not_found"),
        (StorageUnavailable("x"), "storage_unavailable"),
        (InvalidArtifactURI("x"), "invalid_uri"),
        (LayoutError("x", field="."), "layout"),
        (TritonLoadError("m", [1], "boom"), "load_refused"),
        (TritonLoadError("m", [1], "slow", timed_out=True), "not_ready"),
        (OSError("disk full"), "io"),
    ],
)
def test_failure_reason(exc: BaseException, label: str) -> None:
    assert failure_reason(exc) == label
