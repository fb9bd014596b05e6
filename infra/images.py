"""Container images of the platform: references, the registry mirror, chart image values.

One module owns where every image the platform runs is pulled from (``kubeai:images``,
``infra.config.ImageSettings``). Without ``registry`` every image is pulled from its source, as
pinned in ``infra.versions``, the pinned charts' own ``values.yaml`` and the stack config. With
``registry: <host>[:port][/prefix]`` every image is pulled from that one mirror instead, with the
same tag (or digest), by this mapping (``mirrored``):

    <source host>/<path>:<tag>  ->  <registry>/<source host>/<path>:<tag>

The source host stays a path segment, so images of different registries never collide in the
mirror (``quay.io/argoproj/argocli`` and ``docker.io/argoproj/argocli`` are two repositories)
and the mapping can be read back. References are normalised first, as the container runtime
does: no host means Docker Hub (``docker.io``), one path segment there means ``library/``
(``busybox:1.36`` -> ``docker.io/library/busybox:1.36``). Examples:

    nvcr.io/nvidia/tritonserver:26.07-py3
        ->  mirror.corp/kubeai/nvcr.io/nvidia/tritonserver:26.07-py3
    fluidcloudnative/dataset-controller:v1.0.8-6533239
        ->  mirror.corp/kubeai/docker.io/fluidcloudnative/dataset-controller:v1.0.8-6533239

An image already under the mirror (the glue image pushed straight to it) is left as it is.
``stack_images`` lists every image a stack deploys, read from its objects as they are created
(rendered, every upstream release and overlay expanded); ``python -m infra.images --stack
prod-eks`` prints them as ``source -> mirror`` pairs for ``crane copy``/``skopeo copy``.

Charts take images in three shapes, all rewritten by ``chart_image_values`` from the pinned
chart's own defaults (``chart_defaults``: ``values.yaml`` of the archive and of its
subcharts), so a chart bump that adds an image is covered without a table to update:

* a registry/repository *prefix* beside a name: Fluid's ``<x>imagePrefix``/``<x>imageName``/
  ``<x>imageTag`` (controllers and, through the controllers' ``*_IMAGE_ENV`` variables, the
  runtime pods they create), the GPU Operator's ``repository``/``image``/``version`` (operator,
  and every operand through its ClusterPolicy);
* a full repository: ``image.repository`` (+ ``tag``) of the device plugin and of NFD;
* Volcano's ``basic.image_registry`` (one registry for all its images, ``volcano_image_values``).

Pull secrets (``kubeai:images.pullSecrets``, Secret names): the charts' ``imagePullSecrets``
values where the chart has them, in the chart's own shape (a list of names or of
``{name: ...}``; Volcano takes one name), and a pod-template patch of every Deployment of the
kustomize overlays (``pull_secret_patch``).

With a mirror set, the pinned chart archives are read for their defaults even when
``chart.repository``/``chart.path`` install the chart from elsewhere, so
``KUBEAI_UPSTREAM_MIRROR`` (or the network) must serve them (``infra.upstream``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from infra import versions
from infra.chart_files import load_chart, merged_defaults

if TYPE_CHECKING:
    from infra.config import ImageSettings

#: The registry of references that name none (the container runtimes' default).
DOCKER_HUB = "docker.io"


def _is_host(segment: str) -> bool:
    """Whether the first segment of a reference names a registry host (``.``/``:`` or localhost)."""
    return "." in segment or ":" in segment or segment == "localhost"


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into ``registry``, ``repository`` (with registry, as written),
    ``tag`` and ``digest`` (either may be empty, not both)."""

    registry: str
    repository: str
    tag: str
    digest: str

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        """Split ``host/path:tag`` or ``host/path@sha256:...``.

        Raises ``ValueError`` for an unpinned reference (no tag and no digest, or ``latest``).
        """
        name, _, digest = image.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = ""
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
        if not tag and not digest:
            raise ValueError(f"image {image!r} is not pinned: give a tag or a digest")
        if tag == "latest":
            raise ValueError(f"image {image!r} uses 'latest': pin a version tag or digest")
        first = name.split("/", 1)[0]
        registry = first if _is_host(first) else DOCKER_HUB
        return cls(registry=registry, repository=name, tag=tag, digest=digest)

    @property
    def reference(self) -> str:
        """The reference again: ``repository[:tag][@digest]``."""
        out = self.repository + (f":{self.tag}" if self.tag else "")
        return out + (f"@{self.digest}" if self.digest else "")

    def values(self) -> dict[str, str]:
        """A chart ``image`` block (``repository``, ``tag``, ``digest`` when set)."""
        out = {"repository": self.repository, "tag": self.tag}
        if self.digest:
            out["digest"] = self.digest
        return out


def normalized(repository: str, *, prefix: bool = False) -> str:
    """``repository`` with its registry host spelled out (``docker.io`` when none is named).

    A single Docker Hub segment is an official image (``library/<name>``) unless ``prefix``: a
    registry/organisation prefix that charts join with an image name (``alluxio`` +
    ``alluxio-dev``), which stays ``docker.io/alluxio``.
    """
    first, _, rest = repository.partition("/")
    if _is_host(first) and (rest or prefix):  # a bare host is a registry prefix (Volcano's)
        return repository
    if not rest and not prefix:
        return f"{DOCKER_HUB}/library/{repository}"
    return f"{DOCKER_HUB}/{repository}"


def _under(repository: str, registry: str) -> bool:
    return repository == registry or repository.startswith(registry.rstrip("/") + "/")


def mirrored_repository(repository: str, registry: str | None, *, prefix: bool = False) -> str:
    """Where ``repository`` (no tag; ``prefix`` as in ``normalized``) is pulled from: itself
    without ``registry``, else ``<registry>/<normalized repository>`` (module docstring)."""
    if not registry or not repository or _under(repository, registry):
        return repository
    return f"{registry.rstrip('/')}/{normalized(repository, prefix=prefix)}"


def mirrored(image: str, registry: str | None) -> str:
    """The reference the platform deploys for ``image`` (``repository:tag`` or ``@digest``):
    ``image`` itself without ``registry``, else the mirror's copy with the same tag/digest.

    The one function every image of the platform goes through. Raises ``ValueError`` for an
    unpinned ``image`` (``ImageRef.parse``).
    """
    ref = ImageRef.parse(image)
    repository = mirrored_repository(ref.repository, registry)
    return ImageRef(ref.registry, repository, ref.tag, ref.digest).reference


def mirrored_ref(image: str, registry: str | None) -> ImageRef:
    """``ImageRef.parse(mirrored(image, registry))``: the mirrored reference, split."""
    return ImageRef.parse(mirrored(image, registry))


# -- charts ---------------------------------------------------------------------------------------


def chart_defaults(chart: versions.Chart) -> dict[str, Any]:
    """The default values of the pinned ``chart``, subcharts' defaults under their keys
    (``{"node-feature-discovery": {...}}``), as Helm merges them (``infra.chart_files``).

    Read from the verified archive (``infra.upstream.ensure``); raises
    ``infra.upstream.UpstreamError`` when it cannot be had.
    """
    from infra import upstream

    return merged_defaults(load_chart(str(upstream.ensure(chart.archive.path))))


PullSecretShape = Literal["names", "objects"]


@dataclass(frozen=True)
class ChartImage:
    """One image location in a chart's values: the ``path`` of keys to the value and whether
    that value is a ``prefix`` joined with a name (else the image's full repository). Tags are
    the chart's business (some default to ``v<appVersion>``): the mirror keeps them."""

    path: tuple[str, ...]
    prefix: bool


def _walk(values: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    if isinstance(values, dict):
        yield path, values
        for key, value in values.items():
            yield from _walk(value, (*path, str(key)))


def _prefix_keys(block: dict[str, Any]) -> list[str]:
    """Fluid's ``<x>imagePrefix`` keys with their ``<x>imageName`` sibling set."""
    return [
        key
        for key, value in block.items()
        if key.endswith("imagePrefix")
        and isinstance(value, str)
        and value
        and block.get(key.removesuffix("Prefix") + "Name")
    ]


def chart_images(defaults: dict[str, Any]) -> list[ChartImage]:
    """Every image location in the chart values ``defaults`` (the shapes of the module
    docstring; Volcano's single registry is ``volcano_image_values``'): prefix keys
    (``<x>imagePrefix`` beside ``<x>imageName``; ``repository`` beside ``image``) and full
    repositories (``image.repository``). Empty values (images a user must supply) are skipped."""
    out: list[ChartImage] = []
    for path, block in _walk(defaults):
        out += [ChartImage((*path, key), prefix=True) for key in _prefix_keys(block)]
        repository = block.get("repository")
        if not isinstance(repository, str) or not repository:
            continue
        name = block.get("image")
        if isinstance(name, str) and name:
            out.append(ChartImage((*path, "repository"), prefix=True))
        elif path and path[-1] == "image":
            out.append(ChartImage((*path, "repository"), prefix=False))
    return out


def _set(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def pull_secret_list(names: list[str], style: PullSecretShape) -> list[Any]:
    """``imagePullSecrets`` in a chart's shape: names, or ``[{name: ...}]`` (pod spec shape)."""
    return list(names) if style == "names" else [{"name": n} for n in names]


def chart_image_values(
    chart: versions.Chart,
    settings: ImageSettings,
    *,
    shape: PullSecretShape = "objects",
    subchart_shapes: dict[str, PullSecretShape] | None = None,
) -> dict[str, Any]:
    """Values that point every image of ``chart`` (``chart_images``) at the mirror and set
    ``imagePullSecrets`` beside each image block that has the key (and at the top level where
    the chart or a subchart has it). ``{}`` when ``settings`` set neither.

    ``shape`` is the chart's shape of ``imagePullSecrets``; ``subchart_shapes``
    (subchart name -> shape) overrides it below a subchart's key. Prefix-shaped values are
    rewritten as prefixes (``mirrored_repository(prefix=True)``), full
    repositories as repositories; tags are never touched.
    """
    if not settings.registry and not settings.pull_secrets:
        return {}
    defaults = chart_defaults(chart)
    out: dict[str, Any] = {}
    if settings.registry:
        for found in chart_images(defaults):
            source = _get(defaults, found.path)
            mirror = mirrored_repository(source, settings.registry, prefix=found.prefix)
            _set(out, found.path, mirror)
    if settings.pull_secrets:
        shapes = subchart_shapes or {}
        for path, block in _walk(defaults):
            if "imagePullSecrets" in block and isinstance(block["imagePullSecrets"], list):
                style = shapes.get(path[0], shape) if path else shape
                secrets = pull_secret_list(settings.pull_secrets, style)
                _set(out, (*path, "imagePullSecrets"), secrets)
    return out


def _get(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


#: Volcano's one registry key (``basic.image_registry``; images are ``<registry>/<name>:<tag>``).
VOLCANO_REGISTRY_KEY = "image_registry"


def volcano_image_values(settings: ImageSettings) -> dict[str, Any]:
    """``basic`` values of the Volcano chart: ``image_registry`` (the mirror's copy of the
    chart's registry, ``docker.io``) and ``image_pull_secret`` (the chart takes one name: the
    first of ``pullSecrets``). ``{}`` when neither is set."""
    basic: dict[str, Any] = {}
    if settings.registry:
        registry = chart_defaults(versions.VOLCANO)["basic"][VOLCANO_REGISTRY_KEY]
        basic[VOLCANO_REGISTRY_KEY] = mirrored_repository(registry, settings.registry, prefix=True)
    if settings.pull_secrets:
        basic["image_pull_secret"] = settings.pull_secrets[0]
    return {"basic": basic} if basic else {}


# -- kustomize overlays ---------------------------------------------------------------------------

#: File name of the pull-secret patch in a generated overlay.
PULL_SECRET_PATCH = "image-pull-secrets.yaml"  # noqa: S105 - a file name


def kustomize_images(repositories: list[str], settings: ImageSettings) -> list[dict[str, str]]:
    """Kustomize ``images`` entries sending each of ``repositories`` (as the manifests name them
    after the upstream overlay's own ``images``, no tag) to the mirror; ``[]`` without one."""
    if not settings.registry:
        return []
    return [
        {"name": repository, "newName": mirrored_repository(repository, settings.registry)}
        for repository in repositories
    ]


def pull_secret_patch(settings: ImageSettings) -> tuple[dict[str, Any], str] | None:
    """A kustomize ``patches`` entry and its file text setting ``imagePullSecrets`` on the pod
    template of every Deployment of an overlay, or None without pull secrets."""
    if not settings.pull_secrets:
        return None
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "any"},  # ignored: the entry's target selects every Deployment
        "spec": {
            "template": {
                "spec": {"imagePullSecrets": pull_secret_list(settings.pull_secrets, "objects")}
            }
        },
    }
    entry = {"path": PULL_SECRET_PATCH, "target": {"group": "apps", "kind": "Deployment"}}
    return entry, yaml.safe_dump(patch, sort_keys=False)


# -- what a stack runs -----------------------------------------------------------------------------


def _container_images(container: dict[str, Any]) -> Iterator[str]:
    image = container.get("image")
    if isinstance(image, str) and image:
        yield image
    for env in container.get("env") or []:
        name, value = str(env.get("name", "")), env.get("value")
        if "IMAGE" in name.upper() and isinstance(value, str) and "/" in value:
            yield value
    args = [str(a) for a in (container.get("args") or []) + (container.get("command") or [])]
    for index, arg in enumerate(args):
        flag, equals, value = arg.partition("=")
        if flag.endswith("-image") and flag.startswith("--"):
            if equals:
                yield value
            elif index + 1 < len(args):
                yield args[index + 1]


def object_images(obj: Any) -> set[str]:
    """Every image reference one Kubernetes object names, wherever it sits:

    * ``image`` of each entry of any ``containers``/``initContainers``/``ephemeralContainers``
      list (pod specs of every workload kind, at any depth);
    * values of those containers' ``env`` entries whose name contains ``IMAGE`` (Fluid's
      ``*_IMAGE_ENV``, the GPU Operator's ``VALIDATOR_IMAGE``) and ``--*-image`` arguments
      (Argo's ``--executor-image``): images an operator hands to the pods it creates;
    * ``repository``/``image``/``version`` blocks (the GPU Operator's ClusterPolicy operands)
      as ``<repository>/<image>:<version>`` (``:`` omitted without a version).
    """
    out: set[str] = set()
    if isinstance(obj, list):
        for item in obj:
            out |= object_images(item)
        return out
    if not isinstance(obj, dict):
        return out
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in obj.get(key) or []:
            if isinstance(container, dict):
                out.update(_container_images(container))
    repository, name = obj.get("repository"), obj.get("image")
    if isinstance(repository, str) and repository and isinstance(name, str) and name:
        version = obj.get("version")
        out.add(f"{repository}/{name}" + (f":{version}" if version else ""))
    for value in obj.values():
        if isinstance(value, dict | list):
            out |= object_images(value)
    return out


def release_images(values: dict[str, Any]) -> set[str]:
    """Images of a chart release that is not expanded (cloud-side charts installed from their
    repositories): its ``image.repository``/``image.tag`` value."""
    image = values.get("image") or {}
    repository, tag = image.get("repository"), image.get("tag")
    return {f"{repository}:{tag}"} if repository and tag else set()


def stack_objects(stack: str, workdir: Path, *, stacks_dir: Path | None = None) -> list[dict]:
    """Every Kubernetes object ``stack`` can create, rendered offline into ``workdir/<stack>``.

    Objects the program declares and releases of our charts as rendered (``infra.render``);
    each upstream Release ``helm template``-d from its pinned archive with its declared values,
    *all* hooks included (an upgrade-only hook such as Fluid's CRD upgrader pulls its image
    too), and each kustomize Directory built (``infra.controlplane.install``'s expansion).
    Releases of cloud-side charts, which have no pinned archive, come as their declared
    resource (``release_images`` reads them). Raises ``ConfigError``, ``RenderError``,
    ``UpstreamError`` or ``InstallError``.
    """
    from infra import upstream
    from infra.controlplane.install import (
        HELM_RELEASE,
        KUSTOMIZE_DIRECTORY,
        YAML_LOADER,
        cloud_release,
        expand_directory,
        pinned_chart,
    )
    from infra.render import helm_template, render_stack
    from infra.validate import DECLARED_API_VERSION

    rendered = render_stack(stack, workdir / stack, stacks_dir=stacks_dir)
    objects: list[dict] = []
    for name in dict.fromkeys(entry["file"] for entry in rendered.entries):
        for doc in yaml.load_all((rendered.out / name).read_text(), Loader=YAML_LOADER):
            if not isinstance(doc, dict):
                continue
            kind, inputs = doc.get("pulumiType"), doc.get("inputs") or {}
            if doc.get("apiVersion") != DECLARED_API_VERSION or (
                kind == HELM_RELEASE and cloud_release(inputs)
            ):
                objects.append(doc)
            elif kind == HELM_RELEASE:
                chart = pinned_chart(str(inputs.get("chart", "")), str(inputs.get("version", "")))
                objects += helm_template(
                    upstream.ensure(chart.archive.path),
                    release=str(inputs.get("name") or "release"),
                    namespace=str(inputs.get("namespace") or "default"),
                    values=dict(inputs.get("values") or {}),
                )
            elif kind == KUSTOMIZE_DIRECTORY:
                objects += [m.obj for m in expand_directory(str(kind), inputs)]
    return objects


def stack_images(stack: str, workdir: Path, *, stacks_dir: Path | None = None) -> set[str]:
    """Every image ``stack`` deploys: ``object_images`` of each of its ``stack_objects``,
    ``release_images`` of its cloud-side releases and, for a platform stack, the Triton image it
    exports (its team stacks run it). Raises what ``stack_objects`` raises."""
    from infra.config import PlatformConfig, platform_outputs
    from infra.controlplane.install import HELM_RELEASE
    from infra.render import load_stack

    images: set[str] = set()
    for obj in stack_objects(stack, workdir, stacks_dir=stacks_dir):
        if obj.get("pulumiType") == HELM_RELEASE:
            images |= release_images(dict((obj.get("inputs") or {}).get("values") or {}))
        else:
            images |= object_images(obj)
    config, _, _ = load_stack(stack, stacks_dir or Path(__file__).resolve().parents[1] / "stacks")
    if isinstance(config, PlatformConfig):
        images.add(platform_outputs(config).triton_image)
    return images


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.images --stack <platform stack>``: render the stack without its
    ``kubeai:images.registry`` and print each image it deploys as ``source -> mirror`` (the
    configured registry, or ``--registry``); ``--format pairs``: ``source<TAB>mirror``.
    Returns the exit status (2: bad input)."""
    import shutil
    import tempfile

    from pydantic import ValidationError

    from infra.config import ConfigError, ImageSettings, PlatformConfig
    from infra.render import RenderError, load_stack

    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(
        prog="python -m infra.images",
        description="List every image a platform stack deploys and its mirror reference.",
    )
    parser.add_argument(
        "--stack", required=True, help="platform stack (stacks/Pulumi.<stack>.yaml)"
    )
    parser.add_argument("--stacks-dir", type=Path, default=repo / "stacks")
    parser.add_argument("--registry", help="mirror to map to (default: kubeai:images.registry)")
    parser.add_argument("--format", choices=("arrows", "pairs"), default="arrows")
    args = parser.parse_args(argv)
    if args.registry is not None:
        try:
            ImageSettings(registry=args.registry or "")
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            print(f"--registry: {reason}", file=sys.stderr)
            return 2
    try:
        config, _, raw = load_stack(args.stack, args.stacks_dir)
        if not isinstance(config, PlatformConfig):
            raise RenderError(f"{args.stack} is not a platform stack")
        registry = args.registry or config.images.registry
        with tempfile.TemporaryDirectory(prefix="kubeai-images-") as tmp:
            stacks = Path(tmp) / "stacks"
            shutil.copytree(args.stacks_dir, stacks)
            source_raw = {k: v for k, v in raw.items() if k != "kubeai:images"}
            write_stack(stacks, args.stack, source_raw)
            sources = stack_images(args.stack, Path(tmp) / "render", stacks_dir=stacks)
    except (ConfigError, RenderError) as exc:
        print(exc, file=sys.stderr)
        return 2
    separator = "\t" if args.format == "pairs" else " -> "
    for source in sorted(sources):
        print(f"{source}{separator}{mirrored(source, registry)}")
    return 0


def write_stack(stacks_dir: Path, stack: str, config: dict[str, Any]) -> Path:
    """Write ``stacks_dir/Pulumi.<stack>.yaml`` with the ``config:`` mapping ``config``."""
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
