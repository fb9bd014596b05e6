"""Run the Pulumi program without an engine: Pulumi mocks that record every declared resource.

The Pulumi CLI and provider plugins are not needed: ``pulumi.runtime.set_mocks`` answers each
resource registration, and ``record_program`` returns what the program declared — type, name,
inputs (camelCase keys as the engine sees them) and the options a stack transformation observes
(parent, depends_on, retain_on_delete, protect). Used by the offline render and by the tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

_LOCK = threading.Lock()

#: How Pulumi marks a secret value among recorded inputs: ``{SIG_KEY: SECRET_SIG, "value": v}``
#: (pulumi/runtime/rpc.py, ``_special_sig_key`` and ``_special_secret_sig``).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a marker, not a password


def is_secret(value: Any) -> bool:
    """Whether a recorded input value is a Pulumi secret envelope."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def reveal(value: Any) -> Any:
    """A recorded input value with every secret envelope removed (recursively)."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


@dataclass
class Declared:
    """One declared resource: Pulumi ``type``, logical ``name``, ``inputs`` and options."""

    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    parent: str | None = None
    depends_on: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    protect: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """``(type, name)``, unique within a stack."""
        return (self.type, self.name)


class RecordingMocks(Mocks):
    """Mocks answering every resource with its inputs as state and every invoke with ``{}``."""

    def __init__(self) -> None:
        self.declared: dict[tuple[str, str], Declared] = {}
        self.options: dict[tuple[str, str], dict[str, Any]] = {}
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        """Record the resource; its id is ``<name>-id`` and its state its inputs."""
        item = Declared(type=args.typ, name=args.name, inputs=dict(args.inputs), custom=True)
        self.declared[item.key] = item
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """Record the invoke and answer with no result."""
        self.invokes.append((args.token, dict(args.args)))
        return {}, None

    def transformation(self, args: pulumi.ResourceTransformationArgs) -> None:
        """Stack transformation: note parent, dependencies and retention of every resource."""
        opts = args.opts
        raw: Any = opts.depends_on if opts and opts.depends_on else []
        depends: list[Any] = list(raw) if isinstance(raw, list | tuple) else [raw]
        self.options[(args.type_, args.name)] = {
            "parent": getattr(args.opts.parent, "_name", None)
            if args.opts and args.opts.parent
            else None,
            "depends_on": [getattr(d, "_name", str(d)) for d in depends],
            "retain_on_delete": bool(opts and opts.retain_on_delete),
            "protect": bool(opts and opts.protect),
            "custom": args.resource is not None
            and isinstance(args.resource, pulumi.CustomResource),
        }

    def resources(self) -> list[Declared]:
        """Every declared resource (components included), options merged in, in order."""
        out: list[Declared] = []
        for key, opts in self.options.items():
            item = self.declared.get(key) or Declared(
                type=key[0], name=key[1], inputs={}, custom=bool(opts["custom"])
            )
            item.custom = bool(opts["custom"])
            item.parent = opts["parent"]
            item.depends_on = list(opts["depends_on"])
            item.retain_on_delete = bool(opts["retain_on_delete"])
            item.protect = bool(opts["protect"])
            out.append(item)
        for key, item in self.declared.items():
            if key not in self.options:
                out.append(item)
        return out


def record_program(
    program: Callable[[], Any],
    *,
    project: str = "kubeai",
    stack: str = "render",
    config: dict[str, str] | None = None,
) -> tuple[list[Declared], Any]:
    """Run ``program`` under fresh mocks; returns (declared resources, the program's result).

    ``config`` sets Pulumi config (``{"kubeai:stackKind": "platform"}``). Mocks are
    process-global, so runs are serialised. Exceptions raised by the program (or inside an
    ``apply``) propagate.
    """
    with _LOCK:
        mocks = RecordingMocks()
        # A fresh root stack per run: otherwise every earlier run's stack transformation stays
        # registered on the shared root and each run gets slower (measured: benchmarks/stacks.py).
        pulumi.runtime.reset_options(project=project, stack=stack, preview=False)
        pulumi.runtime.set_all_config(dict(config or {}), [])
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
        result: dict[str, Any] = {}

        @pulumi.runtime.test
        def _run() -> Any:
            pulumi.runtime.register_stack_transformation(mocks.transformation)
            result["value"] = program()
            return result["value"]

        _run()
        return mocks.resources(), result.get("value")
