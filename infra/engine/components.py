"""What the Pulumi engine is built from: pinned Go modules, their main packages, version stamps.

Two wrapper modules under ``tools/engine/``: ``pulumi/`` (the CLI, a ``tool`` directive on
upstream's ``cmd/pulumi``) and ``kubernetes-provider/`` (our own ``main.go``, since upstream's
embeds generated files its module zip lacks; see ``infra.engine.embeds``). Bumping a release:
change the pins here, ``go get <module>@<version>`` + ``go mod tidy`` in the wrapper module
(tools/engine/README.md).
"""

from __future__ import annotations

from infra.engine.embeds import EmbedFiles
from infra.gobuild import REPO_ROOT, Binary

#: Wrapper modules: ``pulumi`` and ``kubernetes-provider``.
MODULES_DIR = REPO_ROOT / "tools" / "engine"

PULUMI_MODULE = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3"
PULUMI_VERSION = "v3.274.1"

KUBERNETES_PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4"
#: The module proxy serves the provider module only at this pseudo-version (the repository tags
#: releases at its root, not at ``provider/``); its commit is the release below.
KUBERNETES_PROVIDER_MODULE_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"
#: The upstream commit the provider binary is built from: the tag ``v4.25.0``.
KUBERNETES_PROVIDER_COMMIT = "f47bc2d6f1996444d11c12b4ef083b82585f7c07"
#: The release that commit is, as the provider reports it (no ``v``, like upstream's builds);
#: the Python SDK ``pulumi-kubernetes`` is pinned to the same version so the engine uses this
#: binary instead of asking for another.
KUBERNETES_PROVIDER_VERSION = "4.25.0"
#: Folder of upstream's provider command in its module; holds the files our main.go embeds.
KUBERNETES_PROVIDER_CMD = "cmd/pulumi-resource-kubernetes"
KUBERNETES_PROVIDER_EMBEDS = ("schema.json", "terraform-mapping.json")

#: Every binary, in build order (the CLI first: cheaper, and useful on its own).
BINARIES: tuple[Binary, ...] = (
    Binary(
        "pulumi",
        MODULES_DIR / "pulumi",
        f"{PULUMI_MODULE}/cmd/pulumi",
        (f"-X {PULUMI_SDK_MODULE}/go/common/version.Version={PULUMI_VERSION}",),
    ),
    Binary(
        "pulumi-resource-kubernetes",
        MODULES_DIR / "kubernetes-provider",
        "kubeai.local/tools/engine/kubernetes-provider",
        (f"-X {KUBERNETES_PROVIDER_MODULE}/pkg/version.Version={KUBERNETES_PROVIDER_VERSION}",),
        prepare=EmbedFiles(
            KUBERNETES_PROVIDER_MODULE, KUBERNETES_PROVIDER_CMD, KUBERNETES_PROVIDER_EMBEDS
        ),
    ),
)

#: Pinned versions each wrapper module requires (checked against its go.mod in tests).
PINS: dict[str, tuple[tuple[str, str], ...]] = {
    "pulumi": ((PULUMI_MODULE, PULUMI_VERSION), (PULUMI_SDK_MODULE, PULUMI_VERSION)),
    "kubernetes-provider": ((KUBERNETES_PROVIDER_MODULE, KUBERNETES_PROVIDER_MODULE_VERSION),),
}


def release_name() -> str:
    """The cache folder's name: ``engine-pulumi-v3.274.1-kubernetes-v4.25.0``."""
    return f"engine-pulumi-{PULUMI_VERSION}-kubernetes-v{KUBERNETES_PROVIDER_VERSION}"
