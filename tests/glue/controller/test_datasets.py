"""Fluid Datasets → registry datasets: the pure translation of Dataset objects (shaped like the
pinned Fluid v1.0.8 CRD's), and the event handler against a real registry served on loopback
(outages are a closed port, not a mock)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from glue.controller import datasets as ctl
from glue.model_registry.client import RegistryClient
from tests.support.aio import run_isolated
from tests.support.net import free_port
from tests.support.registry import RegistryServer

#: A Fluid Dataset as the apiserver returns it, with a status as Fluid's controller writes it.
DATASET: dict[str, Any] = {
    "apiVersion": "data.fluid.io/v1alpha1",
    "kind": "Dataset",
    "metadata": {"name": "digits", "namespace": "cv-train", "uid": "0b7c-uid-1"},
    "spec": {
        "mounts": [
            {
                "name": "digits",
                "mountPoint": "s3://AKIA:secret@data/digits",
                "path": "/digits",
                "readOnly": True,
                "options": {"fs.s3a.access.key": "AKIA"},
                "encryptOptions": [{"name": "k", "valueFrom": {"secretKeyRef": {"name": "s"}}}],
            },
            {"mountPoint": "pvc://labels/v2"},
        ]
    },
    "status": {
        "phase": "Bound",
        "ufsTotal": "953.7MiB",
        "fileNum": "1797",
        "cacheStates": {
            "cacheCapacity": "2.00GiB",
            "cached": "0.00B",
            "cachedPercentage": "0.0%",
            "cacheHitRatio": "0.0%",
        },
    },
}


def dataset(**status: Any) -> dict[str, Any]:
    body = copy.deepcopy(DATASET)
    body["status"].update(status)
    return body


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1.00GiB", 1024**3),
        ("953.7MiB", round(953.7 * 1024**2)),
        ("0.00B", 0),
        ("12KB", 12_000),
        ("512", 512),
        ("1.5 TiB", round(1.5 * 1024**4)),
        ("[Calculating]", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_size(text: Any, size: int | None) -> None:
    assert ctl.parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("3 parsecs", "is not a size"),
        ("9.9YiB", "beyond"),  # beyond 2**53 - 1
        ("1e400B", "beyond"),  # float overflow: was an OverflowError escaping the handler
        ("1e400", "beyond"),
        ("-5B", "is not a size"),
        (12, "is not a size"),
    ],
)
def test_parse_size_refuses_what_it_cannot_hold(text: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ctl.parse_size(text)


def test_parse_counts_and_percentages() -> None:
    assert ctl.parse_count("1797") == 1797 and ctl.parse_count("[Calculating]") is None
    assert ctl.parse_count(None) is None
    assert ctl.parse_percent("50.0%") == 50.0 and ctl.parse_percent("100%") == 100.0
    assert ctl.parse_percent("[Calculating]") is None
    for bad in (-1, True, 2**53, "1" * 5000, "²", "1.5", "12 files"):
        with pytest.raises(ValueError, match=r"count|beyond"):
            ctl.parse_count(bad)
    for bad in ("150%", "0.5", "1" * 400 + "%", "1e400%"):
        with pytest.raises(ValueError, match="percentage"):
            ctl.parse_percent(bad)


def test_build_sync_names_the_status_field_it_cannot_read() -> None:
    with pytest.raises(ValueError, match=r"status\.ufsTotal: '1e400B'"):
        ctl.build_sync(dataset(ufsTotal="1e400B"))
    states = {**DATASET["status"]["cacheStates"], "cacheHitRatio": "1e400%"}
    with pytest.raises(ValueError, match=r"status\.cacheStates\.cacheHitRatio"):
        ctl.build_sync(dataset(cacheStates=states))


@pytest.mark.parametrize(
    ("point", "recorded"),
    [
        (
            "https://h/p?X-Amz-Signature=abc&X-Amz-Credential=AKIA%2F2026",
            "https://h/p",
        ),
        ("https://u:pw@h/p?sig=1#frag", "https://h/p"),
        ("s3://data/digits#AKIA", "s3://data/digits"),
        ("pvc://labels/v2", "pvc://labels/v2"),
    ],
)
def test_mount_points_are_recorded_without_credentials(point: str, recorded: str) -> None:
    body = copy.deepcopy(DATASET)
    body["spec"]["mounts"] = [{"mountPoint": point}]
    (mount,) = ctl.build_sync(body).mounts
    assert mount.mount_point == recorded


def test_build_sync_keeps_no_credentials() -> None:
    body = ctl.build_sync(DATASET)
    assert body.source.model_dump() == {
        "kind": "Dataset",
        "api_version": "data.fluid.io/v1alpha1",
        "namespace": "cv-train",
        "name": "digits",
        "uid": "0b7c-uid-1",
    }
    assert [m.model_dump() for m in body.mounts] == [
        {
            "name": "digits",
            "mount_point": "s3://data/digits",
            "path": "/digits",
            "read_only": True,
            "shared": False,
        },
        {
            "name": "",
            "mount_point": "pvc://labels/v2",
            "path": "",
            "read_only": False,
            "shared": False,
        },
    ]
    assert "AKIA" not in body.model_dump_json() and "secret" not in body.model_dump_json()
    assert body.phase == "Bound" and body.file_count == 1797
    assert body.size_bytes == round(953.7 * 1024**2)
    assert body.cache.model_dump() == {
        "capacity_bytes": 2 * 1024**3,
        "cached_bytes": 0,
        "cached_percentage": 0.0,
        "hit_ratio": 0.0,
    }
    assert body.deleted is False and ctl.build_sync(DATASET, deleted=True).deleted is True


def test_build_sync_of_a_fresh_dataset_without_status() -> None:
    fresh = {k: v for k, v in DATASET.items() if k != "status"}
    body = ctl.build_sync(fresh)
    assert body.phase == "" and body.size_bytes is None and body.file_count is None
    assert body.cache.model_dump() == dict.fromkeys(
        ("capacity_bytes", "cached_bytes", "cached_percentage", "hit_ratio")
    )


def test_build_sync_names_what_cannot_be_mirrored() -> None:
    no_mounts = copy.deepcopy(DATASET)
    no_mounts["spec"]["mounts"] = []
    with pytest.raises(ValueError, match=r"spec\.mounts is empty"):
        ctl.build_sync(no_mounts)
    no_point = copy.deepcopy(DATASET)
    del no_point["spec"]["mounts"][1]["mountPoint"]
    with pytest.raises(ValueError, match=r"spec\.mounts\[1\]\.mountPoint"):
        ctl.build_sync(no_point)


def test_team_of_namespace() -> None:
    ns = {"metadata": {"name": "cv-train", "labels": {"kubeai.dev/team": "cv"}}}
    assert ctl.team_of(ns, "kubeai.dev/team") == "cv"
    assert ctl.team_of(ns, "other") is None
    assert ctl.team_of({"metadata": {"labels": {"kubeai.dev/team": ""}}}, "kubeai.dev/team") is None
    assert ctl.team_of({"metadata": {}}, "kubeai.dev/team") is None


# -- the handler against a real registry ------------------------------------------------------


class Warnings:
    """Records the Kubernetes events the handler would post (kopf posts them in an operator)."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    def __call__(self, body: Any, *, reason: str, message: str = "") -> None:
        self.posted.append((body["metadata"]["name"], reason, message))


@pytest.fixture
def factory(registry: RegistryServer) -> Iterator[ctl.ClientFactory]:
    yield lambda: registry.client(team=None)


def test_handler_creates_updates_and_marks_deleted(
    registry: RegistryServer, factory: ctl.ClientFactory
) -> None:
    warnings = Warnings()

    def handle(kind: str | None, body: dict[str, Any], teams: list[str]) -> str:
        return run_isolated(
            ctl.handle_event(kind, body, teams=teams, client_factory=factory, warn=warnings)
        )

    assert handle("ADDED", DATASET, []) == "ignored"  # not a team namespace
    with registry.client() as client:
        assert client.list_datasets().total == 0
    assert handle(None, DATASET, ["cv"]) == "created"
    assert handle("MODIFIED", DATASET, ["cv"]) == "synced"
    cached = dataset(cacheStates={**DATASET["status"]["cacheStates"], "cached": "953.7MiB"})
    assert handle("MODIFIED", cached, ["cv"]) == "synced"
    with registry.client() as client:
        record = client.get_dataset("digits")
        assert record.cache is not None and record.cache.cached_bytes == round(953.7 * 1024**2)
        assert record.source is not None and record.source.namespace == "cv-train"
        assert record.deleted_at is None
        actions = [e.detail["outcome"] for e in client.audit(team="cv").items]
    assert actions == ["updated", "created"]  # the unchanged resend wrote nothing
    assert handle("DELETED", cached, ["cv"]) == "synced"
    with registry.client() as client:
        assert client.get_dataset("digits").deleted_at is not None
        # the PVC a job mounts leads to the dataset; other namespaces' claims do not
        assert ctl.dataset_for_claim(client, team="cv", namespace="cv-train", claim="digits") == (
            "digits"
        )
        assert ctl.dataset_for_claim(client, team="cv", namespace="cv-dev", claim="digits") is None
        assert ctl.dataset_for_claim(client, team="cv", namespace="cv-train", claim="x") is None
        assert ctl.dataset_for_claim(client, team="cv", namespace="cv-train", claim="A_B") is None
    assert warnings.posted == []


def test_refusals_are_posted_as_warnings_and_not_retried(factory: ctl.ClientFactory) -> None:
    warnings = Warnings()
    assert (
        run_isolated(ctl.handle_event(None, DATASET, teams=["cv"], client_factory=factory))
        == "created"
    )
    other = copy.deepcopy(DATASET)
    other["metadata"]["namespace"] = "cv-dev"
    outcome = run_isolated(
        ctl.handle_event("ADDED", other, teams=["cv"], client_factory=factory, warn=warnings)
    )
    assert outcome == "refused"
    assert warnings.posted[0][:2] == ("digits", "DatasetNotRecorded")
    assert "body.source.namespace" in warnings.posted[0][2]
    broken = copy.deepcopy(DATASET)
    broken["spec"]["mounts"] = []
    outcome = run_isolated(
        ctl.handle_event("ADDED", broken, teams=["cv"], client_factory=factory, warn=warnings)
    )
    assert outcome == "invalid" and "spec.mounts" in warnings.posted[1][2]
    # a gone Dataset gets no event
    assert (
        run_isolated(
            ctl.handle_event("DELETED", broken, teams=["cv"], client_factory=factory, warn=warnings)
        )
        == "invalid"
    )
    assert len(warnings.posted) == 2


def test_an_unreadable_status_is_a_warning_never_an_escaping_exception(
    registry: RegistryServer, factory: ctl.ClientFactory
) -> None:
    warnings = Warnings()
    overflowing = dataset(ufsTotal="1e400B")
    outcome = run_isolated(
        ctl.handle_event("ADDED", overflowing, teams=["cv"], client_factory=factory, warn=warnings)
    )
    assert outcome == "invalid"
    ((name, reason, message),) = warnings.posted
    assert (name, reason) == ("digits", "DatasetNotRecorded") and "status.ufsTotal" in message
    odd = copy.deepcopy(DATASET)
    odd["spec"]["mounts"] = [{"mountPoint": 42}]  # not a string: a TypeError inside
    outcome = run_isolated(
        ctl.handle_event("ADDED", odd, teams=["cv"], client_factory=factory, warn=warnings)
    )
    assert outcome == "invalid" and warnings.posted[1][1] == "DatasetNotRecorded"
    with registry.client() as client:
        assert client.list_datasets().total == 0


def test_registry_outage_is_waited_out(registry: RegistryServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    calls: list[str] = []

    def flaky() -> RegistryClient:
        url = dead if len(calls) < 3 else registry.url
        calls.append(url)
        return RegistryClient(url, timeout=5)

    outcome = run_isolated(
        ctl.handle_event(
            "ADDED", DATASET, teams=["cv"], client_factory=flaky, retry_first=0.01, retry_max=0.02
        )
    )
    assert outcome == "created" and calls.count(dead) == 3 and len(calls) == 4
