"""Pre-flight check of a staged model artifact before it goes into Triton's repository.

An artifact of one model version is a Triton model directory::

    config.pbtxt        name = the model name; backend or platform set
    1/                  exactly ONE version directory, a positive integer without leading zeros
      model.py          (python backend: model.py or the config's default_model_filename)
      ...               weights, any depth
    metrics.json        optional regular files at the root (metrics, README...): allowed, ignored

The registry allocates the served version number, so only the version directory's *contents*
are installed (as ``<repo>/<model>/<N>/``); the number written by training does not matter.

Refused, each with a ``LayoutError`` naming the file or field and what would be valid:

* a missing, unreadable or unparsable ``config.pbtxt``; ``name`` different from the model;
  neither ``backend`` nor ``platform`` set;
* zero or several version directories, a non-numeric directory (e.g. Triton's ``configs/``
  alternative-config folder: the agent always loads with an explicit config), an empty
  version directory, or a python-backend version directory without its model file;
* symlinks anywhere (an artifact must hold regular files only);
* ``label_filename`` on an output: Triton resolves it against the model directory, which all
  served versions share, so per-version label files cannot be installed safely.

``block_bytecode_cache`` prepares an installed version directory for the python backend: see
its docstring for why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from glue.triton.config import ModelConfig, parse_model_config

CONFIG_FILE = "config.pbtxt"


class LayoutError(ValueError):
    """The staged directory is not a valid single-version Triton model directory.

    Attributes:
        field: the file (relative to the artifact root) or ``config.pbtxt:<field>`` at fault.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class CheckedModel:
    """A staged artifact that passed the checks.

    Attributes:
        root: the artifact root directory.
        config: the parsed ``ModelConfig`` protobuf message.
        config_text: the ``config.pbtxt`` text as found.
        version_dir: the single version directory (``root / "1"``).
    """

    root: Path
    config: ModelConfig
    config_text: str
    version_dir: Path


def is_version_name(name: str) -> bool:
    """True for a Triton version directory name we accept: ``1``, ``2``, ... (no leading 0)."""
    return name.isascii() and name.isdigit() and not name.startswith("0")


def check_config_text(text: str, model: str) -> ModelConfig:
    """Parse ``config.pbtxt`` text and check it can serve as ``model``; returns the message.

    Raises ``LayoutError`` (field ``config.pbtxt`` or ``config.pbtxt:<field>``).
    """
    try:
        config = parse_model_config(text)
    except ValueError as exc:
        raise LayoutError(str(exc), field=CONFIG_FILE) from exc
    if config.name != model:
        raise LayoutError(
            f'name is {config.name!r} but the model is {model!r}; set name: "{model}"',
            field=f"{CONFIG_FILE}:name",
        )
    if not config.backend and not config.platform:
        raise LayoutError(
            'neither backend nor platform is set; set e.g. backend: "python" or '
            'platform: "onnxruntime_onnx"',
            field=f"{CONFIG_FILE}:backend",
        )
    for index, output in enumerate(config.output):
        if output.label_filename:
            raise LayoutError(
                f"label_filename {output.label_filename!r} is not supported: label files live in "
                "the model directory shared by all served versions; return labels from the model",
                field=f"{CONFIG_FILE}:output[{index}].label_filename",
            )
    return config


def check_layout(root: Path, model: str) -> CheckedModel:
    """Check the staged artifact directory ``root`` holds one valid version of ``model``.

    Args:
        root: the downloaded artifact directory.
        model: the registry's model name (a DNS-1123 label).

    Returns the parsed config and the version directory. Raises ``LayoutError``.
    """
    if not root.is_dir():
        raise LayoutError(f"{root} is not a directory", field=".")
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            rel = path.relative_to(root).as_posix()
            raise LayoutError("is a symlink; artifacts must hold regular files only", field=rel)
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        raise LayoutError(
            "missing; the artifact root must hold the Triton config.pbtxt", field=CONFIG_FILE
        )
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutError(f"unreadable as UTF-8 text: {exc}", field=CONFIG_FILE) from exc
    config = check_config_text(text, model)

    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    for path in dirs:
        if not is_version_name(path.name):
            raise LayoutError(
                "unexpected directory; the root may hold config.pbtxt, regular files and exactly "
                "one version directory named by a positive integer (e.g. 1/)",
                field=path.name,
            )
    if len(dirs) != 1:
        found = ", ".join(p.name for p in dirs) or "none"
        raise LayoutError(
            f"exactly one version directory (e.g. 1/) is required, found {found}", field="."
        )
    version_dir = dirs[0]
    if not any(p.is_file() for p in version_dir.rglob("*")):
        raise LayoutError("version directory holds no file", field=f"{version_dir.name}/")
    model_file = config.default_model_filename or ("model.py" if config.backend == "python" else "")
    if model_file and not (version_dir / model_file).exists():
        raise LayoutError(
            f"missing; backend {config.backend or config.platform!r} loads "
            f"{version_dir.name}/{model_file}",
            field=f"{version_dir.name}/{model_file}",
        )
    return CheckedModel(root=root, config=config, config_text=text, version_dir=version_dir)


def manifest_version_dir(files: Iterable[str]) -> str:
    """The single version directory named by an artifact manifest's paths (``"1"``).

    Checked before downloading, from the manifest's keys (relative POSIX paths): they must hold
    ``config.pbtxt`` and files below exactly one numeric top-level directory, and no other
    directory. Raises ``LayoutError``.
    """
    paths = list(files)
    if CONFIG_FILE not in paths:
        raise LayoutError(
            "missing from the manifest; the artifact root must hold the Triton config.pbtxt",
            field=CONFIG_FILE,
        )
    tops = sorted({p.split("/", 1)[0] for p in paths if "/" in p})
    for top in tops:
        if not is_version_name(top):
            raise LayoutError(
                "unexpected directory in the manifest; the root may hold config.pbtxt, regular "
                "files and exactly one version directory named by a positive integer (e.g. 1/)",
                field=f"{top}/",
            )
    if len(tops) != 1:
        found = ", ".join(tops) or "none"
        raise LayoutError(
            f"the manifest must list files of exactly one version directory (e.g. 1/), "
            f"found {found}",
            field=".",
        )
    return tops[0]


PYCACHE = "__pycache__"


def block_bytecode_cache(version_dir: Path) -> list[Path]:
    """Put an empty *file* named ``__pycache__`` in every directory holding ``.py`` files.

    Why: the python backend's stub imports ``model.py`` with an embedded interpreter that ignores
    ``PYTHONDONTWRITEBYTECODE`` and writes ``__pycache__/`` into the version directory during
    the first load. Triton tracks the modification times of everything below a version
    directory, so the next load of the model (the overlap step of a hot swap, loading
    ``[old, new]``) re-initialises that version: twice the memory and init time for a moment.
    A regular file in the cache's place makes Python skip writing the cache, silently.

    Directories that already hold a ``__pycache__`` (shipped in the artifact) are left alone.
    Returns the blocker files created. Raises ``OSError``.
    """
    created = []
    for directory in [version_dir, *sorted(p for p in version_dir.rglob("*") if p.is_dir())]:
        if PYCACHE in directory.parts[len(version_dir.parts) :]:
            continue
        if not any(p.suffix == ".py" and p.is_file() for p in directory.iterdir()):
            continue
        blocker = directory / PYCACHE
        if blocker.exists() or blocker.is_symlink():
            continue
        blocker.touch()
        created.append(blocker)
    return created
