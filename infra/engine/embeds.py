"""Files a wrapper module's ``main.go`` embeds, copied at build time out of a required module.

The Kubernetes provider's own ``main.go`` embeds ``go generate`` outputs that its module zip
lacks; the zip does carry their sources (``schema.json``, ``terraform-mapping.json``), so our
wrapper's ``main.go`` embeds copies of those, placed in ``<wrapper>/embed/`` (git-ignored, never
committed) right before each build. They come from the module cache folder of the exact version
the wrapper's go.sum pins, so go.sum decides their content.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.gobuild import Binary, BuildError, go_env

#: Folder inside the wrapper module that ``main.go``'s ``//go:embed`` lines read from.
EMBED_DIR = "embed"
_GO_TIMEOUT_S = 600


def module_dir(module: str, wrapper: Path) -> Path:
    """Module cache folder of ``module`` at the version ``wrapper``'s go.mod requires.

    Runs ``go mod download -json <module>`` in ``wrapper`` (downloads it when absent and checks
    it against go.sum). Raises ``BuildError`` when go fails or names no folder.
    """
    try:
        result = subprocess.run(
            ["go", "mod", "download", "-json", module],
            cwd=wrapper,
            env=go_env(),
            capture_output=True,
            text=True,
            timeout=_GO_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise BuildError("go is not installed (needed to find the module to embed from)") from None
    try:
        info = json.loads(result.stdout or "{}")
    except ValueError:
        info = {}
    folder = info.get("Dir") if isinstance(info, dict) else None
    if result.returncode != 0 or not folder:
        why = (info.get("Error") if isinstance(info, dict) else None) or result.stderr.strip()
        raise BuildError(f"go mod download {module} in {wrapper} failed: {why}")
    return Path(folder)


def copy_embeds(source: Path, target: Path, files: tuple[str, ...]) -> list[Path]:
    """Copy each of ``files`` from folder ``source`` into folder ``target`` (created); paths.

    Checks every file first, so nothing is copied when one is missing: raises ``BuildError``
    naming the missing files and ``source``, or the ``OSError`` when copying fails. Existing
    copies in ``target`` are overwritten (they are writable; the module cache is read-only).
    """
    missing = [name for name in files if not (source / name).is_file()]
    if missing:
        raise BuildError(
            f"cannot embed {', '.join(missing)}: not in {source} "
            "(does the pinned module still ship them there?)"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copyfile(source / name, target / name)) for name in files]
    except OSError as exc:
        raise BuildError(
            f"cannot copy the embedded files from {source} to {target}: {exc}"
        ) from None


@dataclass(frozen=True)
class EmbedFiles:
    """Pre-build step (``Binary.prepare``): copy ``files`` from ``folder`` of ``module``.

    ``module`` is a module path the wrapper requires; ``folder`` is relative to its root; the
    copies land in ``<wrapper>/embed/``.
    """

    module: str
    folder: str
    files: tuple[str, ...]

    def __call__(self, binary: Binary) -> None:
        """Copy the files for ``binary``; raises ``BuildError`` (see ``copy_embeds``)."""
        source = module_dir(self.module, binary.module_dir) / self.folder
        copy_embeds(source, binary.module_dir / EMBED_DIR, self.files)
