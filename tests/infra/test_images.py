"""infra/images.py: the mirror mapping, chart image values, and every image of every example
stack rendered with a mirror configured (the air-gap guarantee).

The render tests expand each example platform stack as ``pulumi up`` would create it: the
program under mocks, our charts rendered, every upstream release ``helm template``-d from its
pinned archive (hooks included) and every kustomize overlay built. Every image any object names
(containers and init containers of every pod spec, images handed to operators through env and
arguments, GPU Operator operands in the ClusterPolicy) must come from the mirror, with the tag
of its source.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import versions
from infra.addons import REPO_ROOT
from infra.addons.values import merge_values
from infra.config import ConfigError, ImageSettings, PlatformOutputs, parse_config
from infra.config.outputs import platform_outputs
from infra.images import (
    ImageRef,
    chart_image_values,
    main,
    mirrored,
    mirrored_repository,
    normalized,
    object_images,
    stack_images,
    stack_objects,
    write_stack,
)
from tests.infra import factories

MIRROR = "mirror.test:5000/kubeai"
PULL_SECRET = "mirror-pull"
IMAGES = {"registry": MIRROR, "pullSecrets": [PULL_SECRET]}
PLATFORMS = ("local", "prod-eks", "prod-gke", "prod-ack")
#: The platform variant that installs the GPU Operator (no example stack does).
OPERATOR_STACK = "prod-ack-operator"


# -- the mapping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "nvcr.io/nvidia/tritonserver:26.07-py3",
            f"{MIRROR}/nvcr.io/nvidia/tritonserver:26.07-py3",
        ),
        ("busybox:1.36", f"{MIRROR}/docker.io/library/busybox:1.36"),
        ("alluxio/alluxio-dev:2.9.0", f"{MIRROR}/docker.io/alluxio/alluxio-dev:2.9.0"),
        ("localhost:5000/glue:1", f"{MIRROR}/localhost:5000/glue:1"),
        (
            "ghcr.io/a/b@sha256:" + "a" * 64,
            f"{MIRROR}/ghcr.io/a/b@sha256:" + "a" * 64,
        ),
        (f"{MIRROR}/ghcr.io/a/b:1", f"{MIRROR}/ghcr.io/a/b:1"),  # already mirrored: kept
    ],
)
def test_mirrored_keeps_host_path_and_tag(source: str, expected: str) -> None:
    assert mirrored(source, MIRROR) == expected
    assert mirrored(source, None) == source


def test_prefixes_keep_docker_hub_organisations() -> None:
    assert normalized("alluxio", prefix=True) == "docker.io/alluxio"
    assert normalized("docker.io", prefix=True) == "docker.io"
    assert normalized("alluxio") == "docker.io/library/alluxio"
    assert mirrored_repository("nvcr.io/nvidia", MIRROR, prefix=True) == f"{MIRROR}/nvcr.io/nvidia"


@pytest.mark.parametrize("image", ["nvcr.io/nvidia/tritonserver", "ghcr.io/x/y:latest"])
def test_unpinned_images_are_refused(image: str) -> None:
    with pytest.raises(ValueError, match="pin"):
        mirrored(image, MIRROR)
    with pytest.raises(ValueError, match="pin"):
        ImageRef.parse(image)


def test_image_values_merge_like_helm_mappings_merge_and_lists_replace() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert merge_values(base, {"a": {"c": [2], "e": 3}}) == {
        "a": {"b": 1, "c": [2], "e": 3},
        "d": 1,
    }
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}


def test_object_images_finds_env_args_and_operands() -> None:
    obj = {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"image": "a/init:1"}],
                    "containers": [
                        {
                            "image": "a/main:1",
                            "args": ["--executor-image", "q.io/x/exec:2", "--other-image=q.io/y:3"],
                            "env": [
                                {"name": "RUNTIME_IMAGE_ENV", "value": "r.io/z/rt:4"},
                                {"name": "MODE", "value": "a/b"},
                            ],
                        }
                    ],
                }
            }
        },
        "operand": {"repository": "nvcr.io/nvidia", "image": "driver", "version": "5"},
    }
    assert object_images(obj) == {
        "a/init:1",
        "a/main:1",
        "q.io/x/exec:2",
        "q.io/y:3",
        "r.io/z/rt:4",
        "nvcr.io/nvidia/driver:5",
    }


# -- config and outputs ----------------------------------------------------------------------------


def platform_values(**images: Any) -> dict[str, Any]:
    values = factories.platform_config("eks").model_dump(by_alias=True, exclude_none=True)
    values["images"] = images
    return values


@pytest.mark.parametrize(
    ("images", "path", "message"),
    [
        ({"registry": "https://mirror.test"}, "kubeai:images.registry", "without a scheme"),
        ({"registry": "Mirror.Test/x"}, "kubeai:images.registry", "lowercase"),
        ({"registry": "mirror.test/x:1"}, "kubeai:images.registry", "<host>[:port]"),
        ({"registry": "mirror..corp"}, "kubeai:images.registry", "<host>[:port]"),
        ({"registry": "mirror.corp:99999"}, "kubeai:images.registry", "<host>[:port]"),
        ({"pullSecrets": ["Bad_Name"]}, "kubeai:images.pullSecrets[0]", "pattern"),
        ({"pullSecrets": ["a", "a"]}, "kubeai:images.pullSecrets", "duplicate"),
        ({"mirror": "x"}, "kubeai:images.mirror", "valid keys: pullSecrets, registry"),
    ],
)
def test_bad_images_config_names_the_key(images: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(platform_values(**images))
    assert any(p == path and message in m for p, m in raised.value.problems), raised.value.problems


def test_outputs_export_mirrored_images_and_older_exports_parse() -> None:
    config = parse_config(platform_values(**IMAGES))
    outputs = platform_outputs(config)  # type: ignore[arg-type]
    assert outputs.triton_image == f"{MIRROR}/{versions.TRITON_IMAGE}"
    assert outputs.glue_image.startswith(f"{MIRROR}/ghcr.io/")
    assert (outputs.image_registry, outputs.image_pull_secrets) == (MIRROR, [PULL_SECRET])
    exported = outputs.model_dump(by_alias=True)
    for key in ("imageRegistry", "imagePullSecrets"):
        exported.pop(key)
    older = PlatformOutputs.model_validate(exported)
    assert (older.image_registry, older.image_pull_secrets) == (None, [])


def test_no_mirror_changes_no_chart_values() -> None:
    assert chart_image_values(versions.FLUID, ImageSettings()) == {}


# -- every image of every example stack, rendered -------------------------------------------------


@pytest.fixture(scope="module")
def mirrored_stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``stacks/`` whose platform stacks set ``kubeai:images`` (plus the GPU Operator
    variant of prod-ack)."""
    stacks = tmp_path_factory.mktemp("stacks") / "stacks"
    shutil.copytree(REPO_ROOT / "stacks", stacks)
    for name in PLATFORMS:
        raw = yaml.safe_load((stacks / f"Pulumi.{name}.yaml").read_text())["config"]
        write_stack(stacks, name, {**raw, "kubeai:images": IMAGES})
    raw = yaml.safe_load((stacks / "Pulumi.prod-ack.yaml").read_text())["config"]
    addons = {**raw.get("kubeai:addons", {}), "gpu": {"mode": "gpuOperator"}}
    write_stack(stacks, OPERATOR_STACK, {**raw, "kubeai:images": IMAGES, "kubeai:addons": addons})
    return stacks


@pytest.fixture(scope="module")
def objects_of(
    mirrored_stacks: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], list[dict[str, Any]]]:
    cache: dict[str, list[dict[str, Any]]] = {}
    workdir = tmp_path_factory.mktemp("render")

    def get(stack: str) -> list[dict[str, Any]]:
        if stack not in cache:
            cache[stack] = stack_objects(stack, workdir, stacks_dir=mirrored_stacks)
        return cache[stack]

    return get


def pod_specs(obj: Any, origin: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(object key, pod spec)`` of every pod spec (a mapping with ``containers``) in ``obj``."""
    if isinstance(obj, list):
        for item in obj:
            yield from pod_specs(item, origin)
    elif isinstance(obj, dict):
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else None
        if meta is not None and "kind" in obj:
            origin = f"{obj['kind']} {meta.get('namespace', '')}/{meta.get('name')}"
        if isinstance(obj.get("containers"), list):
            yield origin, obj
        for value in obj.values():
            yield from pod_specs(value, origin)


def check_source(image: str) -> None:
    """``image`` is the mirror's copy of a normalised, pinned source reference."""
    assert image.startswith(f"{MIRROR}/"), image
    source = image.removeprefix(f"{MIRROR}/")
    parts = source.split("/")
    assert "." in parts[0] or ":" in parts[0], f"{image}: source host not kept"
    assert len(parts) == 2 or "." not in parts[1], f"{image}: two hosts"
    ImageRef.parse(source)  # pinned


@pytest.mark.parametrize("stack", [*PLATFORMS, OPERATOR_STACK])
def test_every_platform_image_comes_from_the_mirror(
    stack: str, objects_of: Callable[[str], list[dict[str, Any]]]
) -> None:
    objects = objects_of(stack)
    images: set[str] = set()
    for obj in objects:
        if obj.get("pulumiType") == "kubernetes:helm.sh/v3:Release":  # cloud-side chart values
            image = (obj.get("inputs") or {}).get("values", {}).get("image", {})
            images.add(f"{image['repository']}:{image['tag']}")
        else:
            images |= object_images(obj)
    assert len(images) > 5
    for image in sorted(images):
        check_source(image)


@pytest.mark.parametrize("stack", [*PLATFORMS, OPERATOR_STACK])
def test_every_platform_pod_references_the_pull_secret(
    stack: str, objects_of: Callable[[str], list[dict[str, Any]]]
) -> None:
    missing = []
    for obj in objects_of(stack):
        for origin, spec in pod_specs(obj):
            names = [s.get("name") for s in spec.get("imagePullSecrets") or []]
            if PULL_SECRET not in names:
                missing.append(origin)
    assert missing == []


def test_gpu_operator_operands_get_the_pull_secret(
    objects_of: Callable[[str], list[dict[str, Any]]],
) -> None:
    (policy,) = [o for o in objects_of(OPERATOR_STACK) if o.get("kind") == "ClusterPolicy"]
    operands = [v for v in policy["spec"].values() if isinstance(v, dict) and "repository" in v]
    assert operands
    for operand in operands:
        if operand["repository"]:
            assert operand["repository"].startswith(MIRROR)
    with_secrets = [o for o in operands if "imagePullSecrets" in o]
    assert with_secrets and all(o["imagePullSecrets"] == [PULL_SECRET] for o in with_secrets)


@pytest.mark.parametrize("team", ["team-search-prod", "team-cv-prod", "team-search-local"])
def test_team_stacks_run_triton_and_the_agent_from_the_mirror(
    team: str, objects_of: Callable[[str], list[dict[str, Any]]]
) -> None:
    images = set().union(*(object_images(o) for o in objects_of(team)))
    assert any("tritonserver" in i for i in images)
    for image in images:
        check_source(image)
    # the inference service pods pull with the mirror's credentials too
    services = [o for o in objects_of(team) if o.get("kind") == "Deployment"]
    assert services
    for service in services:
        for origin, spec in pod_specs(service):
            assert PULL_SECRET in [s.get("name") for s in spec.get("imagePullSecrets") or []], (
                origin
            )


def test_the_listing_maps_each_source_to_what_the_stack_deploys(
    tmp_path: Path, mirrored_stacks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = stack_images("prod-eks", tmp_path / "mirrored", stacks_dir=mirrored_stacks)
    assert (
        main(["--stack", "prod-eks", "--stacks-dir", str(mirrored_stacks), "--format", "pairs"])
        == 0
    )
    pairs = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert {target for _, target in pairs} == deployed
    assert all(target == mirrored(source, MIRROR) for source, target in pairs)
    sources = {source for source, _ in pairs}
    assert "quay.io/argoproj/argoexec:v4.1.2" in sources
    assert versions.TRITON_IMAGE in sources
