"""``make venv`` / ``make demo`` / ``make bench``: create a virtual environment and install KubeAI
with the extras a target needs, pinned by the constraints files, showing each step.

Usage::

    python tools/venv.py VENV --extras glue,demo [--requirements FILE ...] [--installer uv|pip]

Steps (each printed as ``==> [i/n] ...`` with the seconds it took):

1. ``python -m venv VENV`` unless ``VENV/bin/python`` exists;
2. the installer: ``uv`` at the exact version of ``constraints/installer.txt`` into the venv with
   its own pip (a wheel from the package index, like every other package);
3. ``uv pip install -c constraints/serving.txt -c constraints/engine.txt -e ".[EXTRAS]"`` (plus
   ``-r FILE`` for each ``--requirements``), printing each package as it is installed.

uv reads no pip configuration: the package index settings pip has here (``pip config list``: its
configuration files and ``PIP_*`` variables) are passed to uv as its own variables
(``uv_environment``), so both fetch from the same index, mirror or wheel folder with the same
certificates. pip is the fallback only: when no uv wheel installs on this platform (uv publishes
wheels for the common platforms; pip needs none), or with ``--installer pip`` /
``KUBEAI_INSTALLER=pip``; it installs the same packages with the same constraints, more slowly
(measured here on a cold cache: the demo's extras about 1 minute against about 20 s with uv;
every extra about 5 minutes).

Stamps: on success ``VENV/.stamp-<name>`` records a digest of the install inputs (pyproject.toml,
the constraints and requirements files, this script) and the extras. A run whose extras another
current stamp already covers (``make test`` installed every extra, then ``make demo`` asks for
two of them) writes its stamp without installing. Extras are only ever added to a venv, never
removed.

A package index that cannot be reached (connection refused, DNS, proxy, TLS: pip's output) stops
the run with an error naming the index (``PIP_INDEX_URL`` or pip's configuration); pip is no
fallback then, as it fetches from the same index.

Exit status: 0 when installed (or already covered), 1 with a message when a step failed, 2 for
bad arguments (``KUBEAI_INSTALLER`` included), before anything is done.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The constraints every install uses (numpy<2 for the Triton python backend, the engine pins).
CONSTRAINTS = ("constraints/serving.txt", "constraints/engine.txt")
#: The installer's own pin: ``uv==<version>``.
INSTALLER_PIN = "constraints/installer.txt"
MIN_PYTHON = (3, 11)
INSTALLERS = ("uv", "pip")
#: The pip the fallback upgrades to first.
PIP_MIN = "pip>=24"


#: pip's index when nothing configures another.
DEFAULT_INDEX = "https://pypi.org/simple"
#: Text in pip's output that means the package index could not be reached (not a missing wheel).
NETWORK_MARKERS = (
    "Failed to establish a new connection",
    "connection broken by",
    "Max retries exceeded",
    "ConnectTimeoutError",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "ProxyError",
    "SSLError",
    "Read timed out",
    "Could not fetch URL",
)


class InstallError(RuntimeError):
    """A step failed; the message names the step and the command. ``output``: what the step
    printed when it was captured (``_run(..., capture=True)``), else empty."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def network_problem(output: str) -> str | None:
    """The first line of pip's ``output`` saying the package index was unreachable (connection
    refused, DNS, proxy, TLS, timeout), from the first ``NETWORK_MARKERS`` text it holds on, cut
    to 200 characters; ``None`` when there is none."""
    for line in output.splitlines():
        for marker in NETWORK_MARKERS:
            if marker in line:
                return line[line.index(marker) :].strip()[:200]
    return None


def package_index(pip_config: dict[str, str]) -> str:
    """Where pip fetches packages from, for messages: its ``index-url`` (``PIP_INDEX_URL`` or
    pip's configuration; pip's default when unset) and any ``find-links``."""
    index = pip_config.get("index-url") or f"{DEFAULT_INDEX} (pip's default)"
    links = " ".join(pip_config.get("find-links", "").split())
    return index + (f" (find-links {links})" if links else "")


def parse_extras(text: str) -> list[str]:
    """``"glue, demo"`` -> ``["demo", "glue"]`` (sorted, unique). ``ValueError`` for an empty
    list or a name that is not an extra's name (letters, digits, ``-``, ``_``, ``.``)."""
    names = sorted({part.strip() for part in text.split(",") if part.strip()})
    if not names:
        raise ValueError("--extras: give at least one extra, e.g. glue,demo")
    for name in names:
        if not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"--extras: {name!r} is not an extra's name")
    return names


def inputs_digest(paths: Iterable[Path]) -> str:
    """sha256 over the names and contents of ``paths`` (the install's inputs); a missing file
    counts as empty, so adding it later changes the digest."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=str):
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
        digest.update(b"\0")
    return digest.hexdigest()


def read_stamp(path: Path) -> dict[str, object] | None:
    """A stamp's record (``{"digest": ..., "extras": [...], "requirements": [...]}``); ``None``
    when the file is missing or is not such a record (an old empty stamp)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("extras"), list):
        return None
    return record


def covered_by(
    venv: Path, digest: str, extras: Sequence[str], requirements: Sequence[str]
) -> Path | None:
    """The stamp in ``venv`` whose install already holds ``extras`` and ``requirements`` from
    inputs with this ``digest``; ``None`` when no stamp does."""
    for stamp in sorted(venv.glob(".stamp*")):
        record = read_stamp(stamp) or {}
        held_extras = record.get("extras")
        held_requirements = record.get("requirements") or []
        if (
            record.get("digest") == digest
            and isinstance(held_extras, list)
            and isinstance(held_requirements, list)
            and set(extras) <= set(held_extras)
            and set(requirements) <= set(held_requirements)
        ):
            return stamp
    return None


def installer_version(pin_file: Path) -> str:
    """The exact uv version pinned in ``pin_file`` (a ``uv==X.Y.Z`` line; ``#`` comments
    allowed). ``InstallError`` when there is no such line."""
    for line in pin_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("uv=="):
            return line.removeprefix("uv==").strip()
    raise InstallError(f"{pin_file}: no exact 'uv==<version>' line")


#: pip's settings (``pip config list`` keys without their section) -> uv's variables.
PIP_TO_UV = {
    "index-url": "UV_DEFAULT_INDEX",
    "extra-index-url": "UV_INDEX",
    "find-links": "UV_FIND_LINKS",
    "trusted-host": "UV_INSECURE_HOST",
    "cert": "SSL_CERT_FILE",
    "client-cert": "SSL_CLIENT_CERT",
}
#: Sections of pip's configuration, lowest precedence first (``:env:`` is ``PIP_*``).
PIP_SECTIONS = ("global", "install", ":env:")


def parse_pip_config(text: str) -> dict[str, str]:
    """``pip config list`` output (``section.key='value'`` lines) -> ``{key: value}``, a key of a
    later section of ``PIP_SECTIONS`` winning over an earlier one; other sections are ignored."""
    found: dict[tuple[int, str], str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, sep, value = line.partition("=")
        section, dot, key = name.strip().rpartition(".")
        value = value.strip()
        quote = value[:1] if value[:1] in ("'", '"') else ""
        while quote and (len(value) < 2 or not value.endswith(quote)):
            more = next(lines, None)  # a value of several lines (extra-index-url, find-links)
            if more is None:
                break
            value += "\n" + more.strip()
        if quote and len(value) >= 2 and value.endswith(quote):
            value = value[1:-1]
        if sep and dot and section in PIP_SECTIONS:
            found[(PIP_SECTIONS.index(section), key)] = value
    return {key: value for (_, key), value in sorted(found.items())}


def uv_environment(pip_config: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """The variables that make uv use pip's index settings ``pip_config`` (see
    ``parse_pip_config``): each setting of ``PIP_TO_UV`` whose uv variable ``environ`` does not
    set already (what the user gave uv wins). Several values (pip separates them by whitespace)
    stay whitespace-separated, as uv reads them."""
    out: dict[str, str] = {}
    for key, variable in PIP_TO_UV.items():
        value = " ".join(pip_config.get(key, "").split())
        if value and variable not in environ:
            out[variable] = value
    return out


def _pip_config(python: Path) -> dict[str, str]:
    """pip's settings as ``python -m pip config list`` shows them; empty when that fails."""
    try:
        out = subprocess.run(
            [str(python), "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse_pip_config(out)


def install_arguments(
    extras: Sequence[str], requirements: Sequence[str], constraints: Sequence[str] = CONSTRAINTS
) -> list[str]:
    """The arguments after ``pip install`` shared by uv and pip: constraints, the editable
    project with ``extras``, each requirements file."""
    args: list[str] = []
    for path in constraints:
        args += ["-c", path]
    args += ["-e", f".[{','.join(extras)}]"]
    for path in requirements:
        args += ["-r", path]
    return args


def install_command(
    installer: str, venv: Path, extras: Sequence[str], requirements: Sequence[str]
) -> list[str]:
    """The command that installs the project into ``venv`` with ``installer`` (uv or pip)."""
    python = str(venv / "bin" / "python")
    if installer == "uv":
        head = [str(venv / "bin" / "uv"), "pip", "install", "--python", python]
    elif installer == "pip":
        head = [python, "-m", "pip", "install", "--progress-bar", "on"]
    else:
        raise ValueError(f"installer must be one of {INSTALLERS}, not {installer!r}")
    return head + install_arguments(extras, requirements)


class Steps:
    """Prints ``==> [i/n] title`` before each step and its duration after it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.index = 0
        self.started = time.monotonic()

    def begin(self, title: str) -> float:
        self.index += 1
        print(f"==> [{self.index}/{self.total}] {title}", flush=True)
        return time.monotonic()

    def end(self, since: float) -> None:
        print(f"    done in {time.monotonic() - since:.1f} s", flush=True)


def _run(
    command: Sequence[str], step: str, env: dict[str, str] | None = None, *, capture: bool = False
) -> None:
    """Run ``command`` in the repository root, its output shown; ``capture``: also keep the
    output (stdout and stderr, line by line, so no progress bars) for the ``InstallError``.
    Raises ``InstallError`` naming ``step`` when it exits non-zero."""
    shown = [f"{k}={v}" for k, v in (env or {}).items()]
    print("    $ " + " ".join([*shown, *command]), flush=True)
    environ = {**os.environ, **(env or {})}
    output = ""
    if capture:
        lines = []
        with subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                print("    " + line, end="", flush=True)
                lines.append(line)
        code = process.returncode
        output = "".join(lines)
    else:
        code = subprocess.call(list(command), cwd=ROOT, env=environ)
    if code != 0:
        raise InstallError(f"{step} failed (exit {code}): {' '.join(command)}", output)


class UnreachableIndexError(InstallError):
    """An ``InstallError`` whose output shows the package index could not be reached: no
    fallback can help, the message names the index."""


def _unreachable(exc: InstallError, index: str) -> UnreachableIndexError | None:
    """An ``UnreachableIndexError`` naming the package ``index`` when ``exc``'s output shows it was
    unreachable (``network_problem``); ``None`` otherwise."""
    problem = network_problem(exc.output)
    if problem is None:
        return None
    return UnreachableIndexError(
        f"{exc} -- the package index {index} is unreachable: {problem} "
        "(set PIP_INDEX_URL / PIP_FIND_LINKS to a reachable index or wheel folder)"
    )


def _pip_install(venv: Path, args: Sequence[str], step: str, index: str) -> None:
    """``pip install -q <args>`` with ``venv``'s pip. Raises ``UnreachableIndexError`` naming
    ``index`` when the index could not be reached, else ``InstallError`` naming ``step``."""
    python = str(venv / "bin" / "python")
    try:
        _run([python, "-m", "pip", "install", "-q", *args], step, capture=True)
    except InstallError as exc:
        unreachable = _unreachable(exc, index)
        if unreachable is not None:
            raise unreachable from exc
        raise


def install(
    venv: Path,
    extras: Sequence[str],
    requirements: Sequence[str] = (),
    *,
    installer: str = "uv",
    python: str = sys.executable,
) -> str:
    """Create ``venv`` if needed and install the project with ``extras`` into it; returns the
    installer used (``uv``, or ``pip`` when uv could not be installed or was not asked for).
    Raises ``InstallError`` naming the failed step (and the package index when it was
    unreachable: then there is no fallback to pip, which would fetch from the same index);
    ``ValueError`` for an ``installer`` not in ``INSTALLERS``, before anything is done."""
    if installer not in INSTALLERS:
        raise ValueError(f"installer must be one of {INSTALLERS}, not {installer!r}")
    steps = Steps(3)
    since = steps.begin(f"virtual environment {venv}")
    if (venv / "bin" / "python").exists():
        print("    exists", flush=True)
    else:
        _run([python, "-m", "venv", str(venv)], "creating the virtual environment")
    steps.end(since)
    pip_config = _pip_config(venv / "bin" / "python")
    index = package_index(pip_config)
    if installer == "uv":
        version = installer_version(ROOT / INSTALLER_PIN)
        since = steps.begin(f"installer uv {version} (pinned in {INSTALLER_PIN})")
        uv = venv / "bin" / "uv"
        if _uv_version(uv) == version:
            print("    already installed", flush=True)
        else:
            try:
                _pip_install(venv, [f"uv=={version}"], "installing uv", index)
            except UnreachableIndexError:  # pip would fail the same way: no fallback
                raise
            except InstallError as exc:  # no uv wheel installs here: pip does the whole install
                print(
                    f"    {exc}\n    no uv wheel installs on this platform: "
                    "falling back to pip (slower)",
                    flush=True,
                )
                installer = "pip"
        steps.end(since)
    else:
        since = steps.begin("installer pip (asked for)")
        steps.end(since)
    if installer == "pip":
        # The venv's own pip may predate editable installs of a pyproject-only project.
        _pip_install(venv, ["--upgrade", PIP_MIN], "upgrading pip", index)
    where = f"{len(extras)} extras: {', '.join(extras)}"
    if requirements:
        where += f"; requirements {', '.join(requirements)}"
    since = steps.begin(f"KubeAI and its dependencies with {installer} ({where})")
    env = uv_environment(pip_config, dict(os.environ)) if installer == "uv" else {}
    try:
        _run(install_command(installer, venv, extras, requirements), f"{installer} install", env)
    except InstallError as exc:
        raise InstallError(f"{exc} (package index: {index})") from exc
    steps.end(since)
    print(f"==> {venv} ready in {time.monotonic() - steps.started:.1f} s", flush=True)
    return installer


def _uv_version(uv: Path) -> str | None:
    """The version ``uv --version`` prints (``uv 0.13.9``), ``None`` when uv is absent."""
    if not uv.exists():
        return None
    try:
        out = subprocess.run(
            [str(uv), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.split()
    return parts[1] if len(parts) >= 2 else None


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, skip when a stamp covers the request, else install and stamp."""
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        print(f"Python >= 3.11 is required, found {found} ({sys.executable})", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(prog="python tools/venv.py", description=__doc__)
    parser.add_argument("venv", type=Path, help="virtual environment folder (.venv)")
    parser.add_argument("--extras", required=True, help="comma-separated extras, e.g. glue,demo")
    parser.add_argument(
        "--requirements", action="append", default=[], help="a requirements file (repeatable)"
    )
    parser.add_argument("--stamp", default="stamp", help="stamp name: VENV/.<stamp>")
    parser.add_argument(
        "--installer",
        choices=INSTALLERS,
        help="uv (default) or pip; default: $KUBEAI_INSTALLER, else uv",
    )
    args = parser.parse_args(argv)
    # argparse checks `choices` on the command line only, not a default from the environment.
    installer = args.installer or os.environ.get("KUBEAI_INSTALLER") or "uv"
    if installer not in INSTALLERS:
        print(
            f"error: KUBEAI_INSTALLER={installer!r} is not an installer: use one of "
            f"{', '.join(INSTALLERS)} (exact, lower case)",
            file=sys.stderr,
        )
        return 2
    try:
        extras = parse_extras(args.extras)
    except ValueError as exc:
        parser.error(str(exc))
    requirements = sorted(set(args.requirements))
    inputs = [ROOT / "pyproject.toml", ROOT / INSTALLER_PIN, Path(__file__).resolve()]
    inputs += [ROOT / p for p in (*CONSTRAINTS, *requirements)]
    digest = inputs_digest(inputs)
    venv: Path = args.venv.resolve()
    stamp = venv / f".{args.stamp}"
    record = {"digest": digest, "extras": extras, "requirements": requirements}
    holder = covered_by(venv, digest, extras, requirements) if venv.is_dir() else None
    if holder is not None:
        print(f"==> {venv}: {', '.join(extras)} already installed (stamp {holder.name})")
    else:
        try:
            record["installer"] = install(venv, extras, requirements, installer=installer)
        except InstallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    stamp.write_text(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
