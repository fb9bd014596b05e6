"""Run a stack's program through the Pulumi engine: ``kubeai stack up|preview|destroy``.

The program is the same ``infra/`` code that ``Pulumi.yaml`` names (``infra.__main__.main``),
run as an Automation API **inline program**: the Python SDK serves the language runtime itself,
so the engine built here (``infra.engine.build``: the Pulumi CLI and the Kubernetes provider,
from pinned Go modules) needs no Python language host. People with the regular ``pulumi`` CLI
run the same program with ``pulumi up`` in the repository; both paths read the same
``stacks/Pulumi.<stack>.yaml``.

**Where things live** (``state_dir``, default ``<repo>/.kubeai/pulumi``):

* ``backend/``: the state, a local file backend (``file://``), one checkpoint per stack;
* ``workspace/``: the project (``Pulumi.yaml``, project ``kubeai``) and one copy of each stack's
  settings (``Pulumi.<stack>.yaml``, copied from ``stacks_dir`` before every run, so the stack
  file stays the one place to edit). The passphrase secrets provider's ``encryptionsalt`` is
  kept across copies when the stack file has none of its own;
* ``home/``: ``PULUMI_HOME`` (plugin cache, credentials), never ``~/.pulumi``.

**Working directory.** Program and provider run in ``workspace/``: the program's chart and
kustomize paths are relative to the current directory (``infra.addons.relative``), and the
Kubernetes provider resolves them from the workspace the engine starts it in.

**Secrets.** The passphrase secrets provider: ``PULUMI_CONFIG_PASSPHRASE`` or
``PULUMI_CONFIG_PASSPHRASE_FILE`` must be set (an empty passphrase is allowed for local use).

**Cluster.** The Kubernetes provider reads ``KUBECONFIG`` (or ``~/.kube/config``) and the stack's
``kubernetes:context`` / ``kubeai:cluster.existing``; ``kubeconfig`` here sets ``KUBECONFIG`` for
the engine only.

Errors: ``StackError`` for anything that stops a run: ``StackInputError`` before anything runs
(missing stack file or stack, missing platform stack, no passphrase), ``EngineUnavailableError``
(binaries missing: ``make engine``), plain ``StackError`` for a failed engine operation. Its
message is one paragraph for users, the engine's own diagnostics having been streamed to
``on_output`` already.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from infra.engine import build as engine_build
from infra.files import write_atomic
from infra.gobuild import DEFAULT_DEST, REPO_ROOT

#: The Pulumi project name (``Pulumi.yaml`` ``name``): part of every URN.
PROJECT = "kubeai"
#: Default folder of the state, workspace and PULUMI_HOME.
DEFAULT_STATE_DIR = REPO_ROOT / ".kubeai" / "pulumi"
#: Default folder of the stack files.
DEFAULT_STACKS_DIR = REPO_ROOT / "stacks"
#: Environment variables that give the passphrase secrets provider its passphrase.
PASSPHRASE_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
#: Stack settings keys the engine writes for the passphrase provider, kept between copies.
_ENGINE_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")

Output = Callable[[str], None]

# The inline program runs behind a gRPC server in this process; when it fails, grpc logs the
# exception with its Python traceback ("Exception calling application") at ERROR, which with no
# logging configured lands on stderr. The engine reports the same error (without traceback) in
# its diagnostics and in ``StackError``, so that logger is silenced.
_GRPC_SERVER_LOG = logging.getLogger("grpc._server")
_GRPC_SERVER_LOG.addHandler(logging.NullHandler())
_GRPC_SERVER_LOG.propagate = False
Event = Callable[[auto.EngineEvent], None]


class StackError(RuntimeError):
    """A stack cannot be run or its update failed (the message says which and what to do)."""


class StackInputError(StackError):
    """Bad input, nothing was run: no such stack file or stack, no platform stack for a team
    stack, no passphrase."""


class EngineUnavailableError(StackError):
    """The engine binaries are missing or stale (``make engine``)."""


@dataclass(frozen=True)
class Engine:
    """The engine and the folders one ``kubeai stack`` command works with.

    ``stacks_dir``: folder of ``Pulumi.<stack>.yaml``; ``state_dir``: backend, workspace and
    PULUMI_HOME (module docstring); ``kubeconfig``: the kubeconfig the provider uses (None: the
    caller's ``KUBECONFIG``); ``tools_dir``: where ``make tools`` put the engine binaries;
    ``environ``: the environment the engine starts from (default: this process's).
    """

    stacks_dir: Path = DEFAULT_STACKS_DIR
    state_dir: Path = DEFAULT_STATE_DIR
    kubeconfig: Path | None = None
    tools_dir: Path = DEFAULT_DEST
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def workspace_dir(self) -> Path:
        """The project folder the engine runs in: ``<state_dir>/workspace``."""
        return self.state_dir.resolve() / "workspace"

    @property
    def backend_url(self) -> str:
        """The file backend: ``file://<state_dir>/backend``."""
        return (self.state_dir.resolve() / "backend").as_uri()

    def stack_file(self, stack: str) -> Path:
        """``<stacks_dir>/Pulumi.<stack>.yaml``."""
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def settings(self, stack: str) -> dict[str, Any]:
        """The stack file's content (``config`` and engine keys); raises ``StackError`` when it
        is missing or not a YAML mapping."""
        path = self.stack_file(stack)
        if not path.is_file():
            known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self._stack_files())
            raise StackInputError(
                f"no stack file {path} (stacks in {self.stacks_dir}: {', '.join(known) or 'none'})"
            )
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise StackInputError(f"{path}: cannot read it as YAML: {exc}") from None
        if content is None:
            content = {}
        if not isinstance(content, dict) or not isinstance(content.get("config", {}), dict):
            raise StackInputError(f"{path}: expected a mapping with a 'config' mapping")
        return content

    def _stack_files(self) -> list[Path]:
        return sorted(self.stacks_dir.glob("Pulumi.*.yaml")) if self.stacks_dir.is_dir() else []

    def env(self) -> dict[str, str]:
        """Environment variables every engine process gets on top of this process's: the engine's
        ``bin/`` first on PATH (the engine then finds the provider there), the file backend, no
        update check, and the passphrase and ``KUBECONFIG`` taken from ``environ``.

        Raises ``StackError`` when the engine binaries are missing or stale (``make engine``)
        or no passphrase variable is set.
        """
        if not any(name in self.environ for name in PASSPHRASE_VARIABLES):
            raise StackInputError(
                "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): the stack's "
                "secrets are encrypted with that passphrase (an empty value is allowed for local "
                "experiments)"
            )
        try:
            binaries = engine_build.installed(self.tools_dir)
        except engine_build.BuildError as exc:
            raise EngineUnavailableError(str(exc)) from None
        bin_dir = str(binaries["pulumi"].parent)
        env = {
            "PATH": os.pathsep.join([bin_dir, self.environ.get("PATH", os.defpath)]),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_BACKEND_URL": self.backend_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for name in (*PASSPHRASE_VARIABLES, "KUBECONFIG"):
            if name in self.environ:
                env[name] = self.environ[name]
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig.resolve())
        return env

    def _write_workspace(self, stack: str, settings: dict[str, Any]) -> None:
        """Write ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` into the workspace folder."""
        folder = self.workspace_dir
        folder.mkdir(parents=True, exist_ok=True)
        (self.state_dir.resolve() / "backend").mkdir(exist_ok=True)
        project = {"name": PROJECT, "runtime": "python", "backend": {"url": self.backend_url}}
        _write_yaml(folder / "Pulumi.yaml", project)
        target = folder / f"Pulumi.{stack}.yaml"
        previous: dict[str, Any] = {}
        if target.is_file():
            with contextlib.suppress(yaml.YAMLError, OSError):
                previous = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
        merged = dict(settings)
        for key in _ENGINE_KEYS:
            if key not in merged and isinstance(previous, dict) and key in previous:
                merged[key] = previous[key]
        _write_yaml(target, merged)

    @contextlib.contextmanager
    def _stack(self, stack: str, *, check_platform: bool = False) -> Iterator[auto.Stack]:
        """The selected (created when missing) stack, inside the workspace folder. Reads the
        stack file once; ``check_platform``: a team stack's platform stack must exist (up and
        preview; destroy must work after the platform is gone). Every check runs before anything
        is written."""
        settings = self.settings(stack)
        if check_platform:
            self._check_platform(stack, settings)
        env = self.env()
        self._write_workspace(stack, settings)
        from infra import __main__ as entry

        options = auto.LocalWorkspaceOptions(
            work_dir=str(self.workspace_dir),
            pulumi_home=str(self.state_dir.resolve() / "home"),
            pulumi_command=auto.PulumiCommand(
                root=str(engine_build.cache_dir(self.tools_dir)), skip_version_check=False
            ),
            env_vars=env,
            secrets_provider="passphrase",
        )
        with contextlib.chdir(self.workspace_dir):
            try:
                selected = auto.create_or_select_stack(
                    stack_name=stack, project_name=PROJECT, program=entry.main, opts=options
                )
            except auto.errors.CommandError as exc:
                raise StackError(f"stack {stack!r}: {_last_error(exc)}") from None
            yield selected

    def exists(self, stack: str) -> bool:
        """Whether the backend holds ``stack`` (never creates it)."""
        checkpoint = self.state_dir.resolve() / "backend" / ".pulumi" / "stacks" / PROJECT
        return (checkpoint / f"{stack}.json").is_file()

    def _check_platform(self, stack: str, settings: dict[str, Any]) -> None:
        """A team stack's platform stack must exist in this backend (``StackError`` if not)."""
        config = settings.get("config") or {}
        if config.get("kubeai:stackKind") != "team":
            return
        platform = str(config.get("kubeai:platformStack") or "").split("/")[-1]
        if platform and not self.exists(platform):
            raise StackInputError(
                f"team stack {stack!r} needs platform stack {platform!r} (kubeai:platformStack), "
                f"which does not exist in {self.backend_url}: run `kubeai stack up --stack "
                f"{platform}` first"
            )

    def up(
        self, stack: str, on_output: Output | None = None, on_event: Event | None = None
    ) -> auto.UpResult:
        """Create or update ``stack``; returns the engine's result (``summary.resource_changes``
        counts by operation). ``on_output`` gets the progress lines, ``on_event`` the engine's
        structured events (one ``resource_pre_event`` per resource step). Raises ``StackError``
        when it cannot run or fails."""
        with self._stack(stack, check_platform=True) as selected:
            return _run(
                stack,
                "up",
                lambda: selected.up(on_output=on_output, on_event=on_event, color="never"),
            )

    def preview(
        self, stack: str, on_output: Output | None = None, on_event: Event | None = None
    ) -> auto.PreviewResult:
        """What ``up`` would change (``change_summary``: operation -> count), changing nothing;
        ``on_output``/``on_event`` as for ``up``. Raises ``StackError``."""
        with self._stack(stack, check_platform=True) as selected:
            return _run(
                stack,
                "preview",
                lambda: selected.preview(
                    on_output=on_output, on_event=on_event, color="never", diff=True
                ),
            )

    def destroy(self, stack: str, on_output: Output | None = None) -> auto.DestroyResult:
        """Delete every resource of ``stack`` (retained ones, e.g. CRDs, stay in the cluster);
        the stack's (empty) state stays. Raises ``StackError``, also when the stack does not
        exist."""
        if not self.exists(stack):
            raise StackInputError(f"stack {stack!r} does not exist in {self.backend_url}")
        with self._stack(stack) as selected:
            return _run(
                stack, "destroy", lambda: selected.destroy(on_output=on_output, color="never")
            )

    def outputs(self, stack: str, on_output: Output | None = None) -> dict[str, Any]:
        """The stack's outputs (name -> value; secrets stay masked). Raises ``StackError``.
        ``on_output`` is accepted for symmetry with the other operations; nothing is streamed."""
        if not self.exists(stack):
            raise StackInputError(f"stack {stack!r} does not exist in {self.backend_url}")
        with self._stack(stack) as selected:
            result = _run(stack, "outputs", selected.outputs)
        return {name: value.value for name, value in result.items()}


def _run(stack: str, operation: str, call: Callable[[], Any]) -> Any:
    """``call()``, with an engine failure turned into ``StackError``."""
    try:
        return call()
    except auto.errors.CommandError as exc:
        raise StackError(f"{operation} of stack {stack!r} failed: {_last_error(exc)}") from None


def _last_error(exc: auto.errors.CommandError) -> str:
    """The engine's errors (each ``error: ...`` line with the more indented lines under it, e.g.
    the list of configuration problems), without the command line and the output already
    streamed; the text's tail when no such line is found."""
    text = str(exc)
    messages: list[str] = []
    indent = -1
    for raw in text.splitlines():
        line = raw.removeprefix(" stdout: ").removeprefix(" stderr: ")
        body = line.strip()
        depth = len(line) - len(line.lstrip())
        if body.startswith("error:"):
            message = body.removeprefix("error:").strip()
            # The program's failure also comes wrapped as grpc's "Exception calling
            # application: <message>"; keep one copy.
            messages.append(message.removeprefix("Exception calling application:").strip())
            indent = depth
        elif indent >= 0 and body and depth > indent and not body.startswith("Traceback"):
            messages[-1] += f"\n  {body}"
        else:
            indent = -1
    unique = list(dict.fromkeys(messages))
    return "; ".join(unique[-3:]) if unique else text.strip()[-2000:]


def _write_yaml(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` as YAML to ``path`` (``infra.files.write_atomic``)."""
    write_atomic(path, yaml.safe_dump(content, sort_keys=False))
