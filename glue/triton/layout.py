"""The checks a model artifact passes before it is registered and before it is installed.

One module, two callers: the registry applies ``check_artifact`` to a version's manifest and
config.pbtxt at registration, the serving agent applies the same function (through
``check_layout``) to the files it downloaded, so a version the agent would refuse is never
registered.

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
  neither ``backend`` nor ``platform`` set; an ``EXECUTION_ENV_PATH`` parameter that is not an
  absolute path (``check_execution_env``);
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
#: The python backend's parameter naming a packed (conda-pack) Python environment.
EXECUTION_ENV_PATH = "EXECUTION_ENV_PATH"
#: Triton's variable for the model directory in ``EXECUTION_ENV_PATH``.
MODEL_DIRECTORY_VARIABLE = "$$TRITON_MODEL_DIRECTORY"


class LayoutError(ValueError):
    """The staged directory is not a valid single-version Triton model directory.

    Attributes:
        field: the file (relative to the artifact root) or ``config.pbtxt:<field>`` at fault.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class CheckedArtifact:
    """An artifact's file list and config that passed ``check_artifact``.

    Attributes:
        config: the parsed ``ModelConfig`` protobuf message.
        version: the name of its single version directory (``"1"``).
    """

    config: ModelConfig
    version: str


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
            f'name is {config.name!r} but must equal the model name {model!r}; set name: "{model}"',
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


def check_artifact(files: Iterable[str], config_text: str, model: str) -> CheckedArtifact:
    """Check an artifact, given its file list and config.pbtxt text, is one servable version.

    The single place of the rules listed in the module docstring that need no file content
    besides config.pbtxt: the registry applies it to the manifest's keys at registration, the
    serving agent to the files it downloaded (``check_layout``) and to a version it reuses.

    Args:
        files: relative POSIX paths of the artifact's files; a path ending in ``/`` stands for a
            directory holding no file (only a local directory can show one).
        config_text: the content of the artifact's ``config.pbtxt``.
        model: the registry's model name.

    Raises ``LayoutError`` naming the file or ``config.pbtxt:<field>``.
    """
    paths = set(files)
    version = manifest_version_dir(paths)
    config = check_config_text(config_text, model)
    model_file = config.default_model_filename or ("model.py" if config.backend == "python" else "")
    if model_file:
        wanted = f"{version}/{model_file}"
        if wanted not in paths and not any(p.startswith(wanted + "/") for p in paths):
            raise LayoutError(
                f"missing; backend {config.backend or config.platform!r} loads {wanted}",
                field=wanted,
            )
    check_execution_env(config)
    return CheckedArtifact(config=config, version=version)


def check_execution_env(config: ModelConfig) -> None:
    """Refuse a python-backend ``EXECUTION_ENV_PATH`` parameter that cannot reach its archive.

    Triton resolves ``$$TRITON_MODEL_DIRECTORY`` to the model directory (``<repo>/<model>/``),
    but the agent installs only the artifact's version directory there, renamed to the
    registry's version number: ``$$TRITON_MODEL_DIRECTORY/python-env.tar.gz`` (an archive at the
    artifact root) is never installed, and ``$$TRITON_MODEL_DIRECTORY/1/...`` names whichever
    version is installed as 1, not this one. A relative path depends on tritonserver's working
    directory. Only an absolute path (an environment the Triton image or a mounted volume
    provides, outside any artifact) is accepted. Raises ``LayoutError``.
    """
    if EXECUTION_ENV_PATH not in config.parameters:
        return
    value = config.parameters[EXECUTION_ENV_PATH].string_value
    field = f"{CONFIG_FILE}:parameters[{EXECUTION_ENV_PATH}]"
    if value.startswith(MODEL_DIRECTORY_VARIABLE):
        raise LayoutError(
            f"{value!r} points into the model directory, but the agent installs only the "
            "artifact's version directory there, as the registry's version number; use an "
            "absolute path of an environment the Triton image or a mounted volume provides",
            field=field,
        )
    if not value.startswith("/"):
        raise LayoutError(
            f"{value!r} must be an absolute path (of an environment the Triton image or a "
            "mounted volume provides); a relative path depends on tritonserver's working "
            "directory",
            field=field,
        )


def check_layout(root: Path, model: str) -> CheckedModel:
    """Check the staged artifact directory ``root`` holds one valid version of ``model``.

    Refuses symlinks (a file-system matter), then applies ``check_artifact`` to the files
    below ``root``.

    Args:
        root: the downloaded artifact directory.
        model: the registry's model name (a DNS-1123 label).

    Returns the parsed config and the version directory. Raises ``LayoutError``.
    """
    if not root.is_dir():
        raise LayoutError(f"{root} is not a directory", field=".")
    files: list[str] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise LayoutError("is a symlink; artifacts must hold regular files only", field=rel)
        if path.is_file():
            files.append(rel)
        elif path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
            files.append(rel + "/")
    manifest_version_dir(files)  # config.pbtxt listed before it is read
    try:
        text = (root / CONFIG_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutError(f"unreadable as UTF-8 text: {exc}", field=CONFIG_FILE) from exc
    checked = check_artifact(files, text, model)
    return CheckedModel(
        root=root, config=checked.config, config_text=text, version_dir=root / checked.version
    )


def manifest_version_dir(files: Iterable[str]) -> str:
    """The single version directory named by an artifact's file paths (``"1"``).

    Checked before downloading, from the manifest's keys (relative POSIX paths; see
    ``check_artifact`` for directories shown as ``dir/``): they must hold ``config.pbtxt`` and
    files below exactly one numeric top-level directory, and no other directory. Raises
    ``LayoutError``.
    """
    paths = set(files)
    if CONFIG_FILE not in paths:
        raise LayoutError(
            "missing from the artifact's files; the artifact root must hold the Triton "
            "config.pbtxt",
            field=CONFIG_FILE,
        )
    tops = sorted({p.split("/", 1)[0] for p in paths if "/" in p})
    for top in tops:
        if not is_version_name(top):
            raise LayoutError(
                "unexpected directory; the root may hold config.pbtxt, regular files and "
                "exactly one version directory named by a positive integer (e.g. 1/)",
                field=f"{top}/",
            )
    if len(tops) != 1:
        found = ", ".join(tops) or "none"
        raise LayoutError(
            f"exactly one version directory (e.g. 1/) is required, found {found}", field="."
        )
    version = tops[0]
    if not any(p.startswith(version + "/") and not p.endswith("/") for p in paths):
        raise LayoutError("version directory holds no file", field=f"{version}/")
    return version


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
