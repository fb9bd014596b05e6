"""What the control plane is built from: pinned Go modules, their main packages and version stamps.

Each component lives in a wrapper module under ``tools/controlplane/<module>/`` whose committed
``go.mod`` and ``go.sum`` pin the upstream release (the ``tool`` directives name the main
packages). Bumping a release is one line here, then ``python tools/controlplane/update_gomod.py``
(kubernetes) or ``go get`` + ``go mod tidy`` in the wrapper module (etcd, KWOK).
"""

from __future__ import annotations

from infra.gobuild import REPO_ROOT, Binary

#: Wrapper modules, one folder per upstream module: ``kubernetes``, ``etcd``, ``kwok``.
MODULES_DIR = REPO_ROOT / "tools" / "controlplane"

KUBERNETES_MODULE = "k8s.io/kubernetes"
KUBERNETES_VERSION = "v1.35.4"
#: Commit time of the k8s.io/kubernetes tag as the module proxy reports it (``.info`` ``Time``);
#: stamped as ``buildDate`` so the binaries are reproducible.
KUBERNETES_RELEASE_TIME = "2026-04-15T18:01:22Z"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
ETCD_VERSION = "v3.6.16"
KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_VERSION = "v0.7.0"

#: Packages whose version variables ``kube-* --version`` reports (``k8s.io/component-base``
#: for the binary, ``k8s.io/client-go`` for its user agent).
_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


def kubernetes_version_ldflags(version: str, build_date: str) -> tuple[str, ...]:
    """``-X`` flags that make ``--version`` print ``version`` (``v1.35.4`` -> major 1, minor 35).

    ``gitTreeState`` is ``archive`` (built from the module zip, as Kubernetes stamps tarball
    builds); ``gitCommit`` stays empty because the module proxy does not record the commit.
    Raises ``ValueError`` for a version that is not ``vMAJOR.MINOR.PATCH``.
    """
    parts = version.removeprefix("v").split(".")
    if not version.startswith("v") or len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"kubernetes version must look like v1.35.4, got {version!r}")
    values = {
        "gitVersion": version,
        "gitMajor": parts[0],
        "gitMinor": parts[1],
        "gitTreeState": "archive",
        "gitCommit": "",
        "buildDate": build_date,
    }
    return tuple(
        f"-X {package}.{name}={value}"
        for package in _VERSION_PACKAGES
        for name, value in values.items()
    )


_K8S_LDFLAGS = kubernetes_version_ldflags(KUBERNETES_VERSION, KUBERNETES_RELEASE_TIME)

#: Every binary, in build order (cheapest first, so a partial build is still useful).
BINARIES: tuple[Binary, ...] = (
    Binary("etcd", MODULES_DIR / "etcd", ETCD_MODULE),
    Binary("kwok", MODULES_DIR / "kwok", f"{KWOK_MODULE}/cmd/kwok"),
    *(
        Binary(name, MODULES_DIR / "kubernetes", f"{KUBERNETES_MODULE}/cmd/{name}", _K8S_LDFLAGS)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ),
)

#: Pinned version of each wrapper module's upstream module (checked against its go.mod in tests).
PINS: dict[str, tuple[str, str]] = {
    "kubernetes": (KUBERNETES_MODULE, KUBERNETES_VERSION),
    "etcd": (ETCD_MODULE, ETCD_VERSION),
    "kwok": (KWOK_MODULE, KWOK_VERSION),
}


def release_name() -> str:
    """The cache folder's name: ``controlplane-k8s-v1.35.4-etcd-v3.6.16-kwok-v0.7.0``."""
    return f"controlplane-k8s-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-kwok-{KWOK_VERSION}"
