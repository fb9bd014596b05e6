"""Cloud identities, dataset credentials and secret checksums as the apiserver keeps them.

The team stacks ``team-search-prod`` (on prod-eks: IRSA for training and serving) and
``team-cv-prod`` (on prod-ack: an ``oss://`` mount with ``options`` and ``encryptOptions``) are
rendered (``infra.controlplane.install.plan_stack``) under other team names, so nothing here
touches the objects of ``test_tenancy``, and server-side applied after the pinned upstream CRDs;
the inference services' Deployments are applied with ``dryRun=All`` (their pods would only take
the session's KWOK capacity). Checked on what the apiserver returns, not on what was sent: the
Fluid Dataset in the cache namespace keeps its mount options and secret references (the v1.0.8
CRD schema does not prune them) beside the Secret they name; the training ServiceAccount keeps
its IRSA annotation; each inference service's ServiceAccount carries the IRSA annotation and its
pod template the ``checksum/artifact-store`` annotation. What the clouds' identity webhooks then
do is theirs (none runs here). Config's label and annotation key rules (``LabelKey``,
``AnnotationKey``) admit exactly the keys the apiserver admits, on dry-run ServiceAccounts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import upstream
from infra.controlplane.harness import ControlPlane
from infra.controlplane.install import plan_stack
from tests.infra.config.test_shared import (
    ANNOTATION_ONLY_NAMES,
    NOT_QUALIFIED_NAMES,
    QUALIFIED_NAMES,
)
from tests.support.helm import REPO_ROOT
from tests.support.kubeapi import APPLY_CONTENT_TYPE, DRY_RUN, FIELD_MANAGER, KubeApi, message

STACKS_DIR = REPO_ROOT / "stacks"
#: team stack -> (its platform stack, the team name it is rendered under here)
TEAMS = {"team-search-prod": ("prod-eks", "searchid"), "team-cv-prod": ("prod-ack", "cvid")}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}
IRSA = "eks.amazonaws.com/role-arn"


def _stacks(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    for stack, (platform, team) in TEAMS.items():
        (tmp / f"Pulumi.{platform}.yaml").write_text(
            (STACKS_DIR / f"Pulumi.{platform}.yaml").read_text()
        )
        document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
        document["config"]["kubeai:team"]["name"] = team
        (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp


@pytest.fixture(scope="module")
def kube(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[KubeApi, dict[str, dict[str, Any]]]]:
    """The plane's API after the CRDs and both renamed team stacks are applied; the rendered
    Deployments (dry-run applied) under ``kube.deployments``."""
    tmp = tmp_path_factory.mktemp("identity")
    stacks_dir = _stacks(tmp / "stacks")
    crds: list[dict[str, Any]] = []
    for path in sorted(upstream.ensure("crds").rglob("*.yaml")):
        crds += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    crds = [d for d in crds if d.get("kind") == "CustomResourceDefinition"]
    with control_plane.client(timeout=60.0) as client:
        api = KubeApi(client)
        api.apply_all(crds)
        api.wait_established([crd["metadata"]["name"] for crd in crds])
        deployments: dict[str, dict[str, Any]] = {}
        for stack in TEAMS:
            docs = [m.obj for m in plan_stack(stack, tmp / "render", stacks_dir=stacks_dir).objects]
            api.apply_all(d for d in docs if d["kind"] not in WORKLOADS)
            for doc in docs:
                if doc["kind"] != "Deployment":
                    continue
                response = client.patch(
                    api.object_path(doc),
                    params={"fieldManager": FIELD_MANAGER, "force": "true", **DRY_RUN},
                    content=json.dumps(doc),
                    headers={"Content-Type": APPLY_CONTENT_TYPE},
                )
                assert response.is_success, message(response)
                deployments[doc["metadata"]["name"]] = response.json()
        yield api, deployments


def _get(api: KubeApi, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
    response = api.client.get(api.path(api_version, kind, namespace=namespace, name=name))
    assert response.is_success, message(response)
    return response.json()


def test_dataset_keeps_options_and_secret_references_beside_its_secret(
    kube: tuple[KubeApi, dict[str, dict[str, Any]]],
) -> None:
    api, _ = kube
    dataset = _get(api, "data.fluid.io/v1alpha1", "Dataset", "kubeai-cache-cvid", "imagenet-1k")
    [mount] = dataset["spec"]["mounts"]
    assert mount["options"] == {"fs.oss.endpoint": "oss-cn-hangzhou-internal.aliyuncs.com"}
    refs = {o["name"]: o["valueFrom"]["secretKeyRef"] for o in mount["encryptOptions"]}
    assert refs == {
        "fs.oss.accessKeyId": {"name": "kubeai-dataset-credentials", "key": "access-key-id"},
        "fs.oss.accessKeySecret": {
            "name": "kubeai-dataset-credentials",
            "key": "access-key-secret",
        },
    }
    secret = _get(api, "v1", "Secret", "kubeai-cache-cvid", "kubeai-dataset-credentials")
    assert set(secret["data"]) == {"access-key-id", "access-key-secret"}


def test_training_account_keeps_its_identity(
    kube: tuple[KubeApi, dict[str, dict[str, Any]]],
) -> None:
    api, _ = kube
    account = _get(api, "v1", "ServiceAccount", "searchid", "kubeai-training")
    assert account["metadata"]["annotations"][IRSA].endswith(":role/kubeai-search-training")
    assert account["automountServiceAccountToken"] is False


def test_inference_services_carry_identity_and_secret_checksums(
    kube: tuple[KubeApi, dict[str, dict[str, Any]]],
) -> None:
    api, deployments = kube
    services = {
        name: d for name, d in deployments.items() if d["metadata"]["namespace"] == "searchid"
    }
    assert services
    for name, deployment in services.items():
        template = deployment["spec"]["template"]
        assert len(template["metadata"]["annotations"]["checksum/artifact-store"]) == 64
        account_name = template["spec"]["serviceAccountName"]
        account = _get(api, "v1", "ServiceAccount", "searchid", account_name)
        assert account["metadata"]["annotations"][IRSA].endswith(":role/kubeai-search-serving"), (
            name
        )


@pytest.mark.parametrize(
    ("key", "label", "annotation"),
    [(key, True, True) for key in QUALIFIED_NAMES]
    + [(key, False, True) for key in ANNOTATION_ONLY_NAMES]
    + [(key, False, False) for key, _ in NOT_QUALIFIED_NAMES],
)
def test_label_and_annotation_keys_config_accepts_are_the_ones_the_apiserver_admits(
    control_plane: ControlPlane, key: str, label: bool, annotation: bool
) -> None:
    """``LabelKey`` (pool labels, node selectors) and ``AnnotationKey`` (ServiceAccount
    annotations) against the apiserver's own rules: dry-run ServiceAccounts with the key as a
    label, then as an annotation."""
    with control_plane.client(timeout=60.0) as admin:
        for field, admitted in (("labels", label), ("annotations", annotation)):
            account = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "keys", field: {key: "v"}},
            }
            response = admin.post(
                "/api/v1/namespaces/default/serviceaccounts", params=DRY_RUN, json=account
            )
            expected = 201 if admitted else 422
            assert response.status_code == expected, (field, message(response))
            if not admitted:
                assert f"metadata.{field}" in message(response)
