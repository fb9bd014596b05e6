"""Run the Pulumi program under mocks and record what it declares.

``run_program(config, ...)``:

* sets fresh mocks (``fresh_mocks``: ``pulumi.runtime.set_mocks`` is process-global and keeps
  the root stack, so the root is dropped first and every run starts clean);
* registers a *stack transformation* from the outside: the legacy hook that, unlike
  ``register_resource_transform``, is called under mocks and sees each resource's options
  (``depends_on``, ``parent``, ``retain_on_delete``, ``protect``, ``transforms``);
* runs ``infra.program.run`` inside the mock event loop, drains what a failed run leaves behind,
  and returns a ``ProgramRun``: every resource (type, name, inputs as the engine receives them:
  camelCase keys, numbers as floats, secrets wrapped), its options, and the resolved exports.

StackReferences are answered from ``stack_outputs`` (stack name -> outputs); invokes return ``{}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks_module

from infra.mocks import is_secret, reveal  # noqa: F401 - re-exported for the infra tests

Key = tuple[str, str]  # (type token, logical name)


#: How the engine wire format marks a secret value: ``{SIG_KEY: SECRET_SIG, "value": ...}``.
@dataclass
class RecordedResource:
    """One resource the program declared."""

    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None
    options: pulumi.ResourceOptions | None = None
    parent: Key | None = None

    @property
    def key(self) -> Key:
        """``(type, name)``."""
        return (self.type, self.name)


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that record every registration and answer StackReferences."""

    def __init__(self, stack_outputs: dict[str, dict[str, Any]] | None = None) -> None:
        self.stack_outputs = stack_outputs or {}
        self.resources: dict[Key, RecordedResource] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        record = RecordedResource(
            type=args.typ,
            name=args.name,
            inputs=dict(args.inputs),
            custom=bool(args.custom),
            provider=args.provider,
        )
        existing = self.resources.get(record.key)
        if existing is not None:
            record.options, record.parent = existing.options, existing.parent
        self.resources[record.key] = record
        if args.typ == "pulumi:pulumi:StackReference":
            outputs = self.stack_outputs.get(args.name, {})
            state = {**args.inputs, "name": args.name, "outputs": outputs, "secretOutputNames": []}
            return args.name, state
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        self.calls.append((args.token, dict(args.args)))
        return {}, None


@dataclass
class ProgramRun:
    """What one program run declared."""

    resources: dict[Key, RecordedResource]
    exports: dict[str, Any] = field(default_factory=dict)
    _by_object: dict[int, Key] = field(default_factory=dict)

    # -- lookup ---------------------------------------------------------------------------------

    def of_type(self, type_: str) -> list[RecordedResource]:
        """Resources of one type token, in name order."""
        return sorted((r for r in self.resources.values() if r.type == type_), key=lambda r: r.name)

    def one(self, type_: str, name: str) -> RecordedResource:
        """The resource ``(type_, name)``; ``KeyError`` listing the names of that type."""
        try:
            return self.resources[(type_, name)]
        except KeyError:
            names = [r.name for r in self.of_type(type_)]
            raise KeyError(f"no {type_} named {name!r}; have {names}") from None

    def named(self, name: str) -> RecordedResource:
        """The only resource called ``name`` (any type)."""
        found = [r for r in self.resources.values() if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def types(self) -> set[str]:
        """Every type token declared."""
        return {r.type for r in self.resources.values()}

    # -- structure ------------------------------------------------------------------------------

    def children(self, key: Key) -> list[Key]:
        """Direct children of ``key``."""
        return [r.key for r in self.resources.values() if r.parent == key]

    def descendants(self, key: Key) -> set[Key]:
        """Every resource below ``key`` in the parent tree."""
        out: set[Key] = set()
        todo = [key]
        while todo:
            for child in self.children(todo.pop()):
                if child not in out:
                    out.add(child)
                    todo.append(child)
        return out

    def ancestors(self, key: Key) -> list[Key]:
        """Parents of ``key``, nearest first."""
        out = []
        current = self.resources[key].parent
        while current is not None and current in self.resources:
            out.append(current)
            current = self.resources[current].parent
        return out

    def direct_depends_on(self, key: Key) -> set[Key]:
        """Resources named in ``key``'s own ``depends_on``."""
        options = self.resources[key].options
        raw: Any = (options.depends_on if options is not None else None) or []
        deps: list[Any] = list(raw) if isinstance(raw, list | tuple) else [raw]
        return {self._by_object[id(d)] for d in deps if id(d) in self._by_object}

    def depends_on(self, key: Key) -> set[Key]:
        """What ``key`` waits for, as the engine sees it: its and its ancestors' ``depends_on``,
        each component expanded to itself and all its descendants."""
        out: set[Key] = set()
        for holder in (key, *self.ancestors(key)):
            for dep in self.direct_depends_on(holder):
                out.add(dep)
                out |= self.descendants(dep)
        return out

    def waits_for(self, key: Key, others: Iterable[Key]) -> bool:
        """Whether ``key`` depends on every resource in ``others``."""
        deps = self.depends_on(key)
        return all(o in deps for o in others)


def fresh_mocks(mocks: pulumi.runtime.Mocks, *, stack: str = "test") -> None:
    """``set_mocks`` with a new root stack resource.

    ``set_mocks`` keeps an existing root stack (a context variable), and with it the previous
    run's exports and stack transformations; it is dropped first so every run starts clean.
    """
    from pulumi.runtime import settings

    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="kubeai", stack=stack, preview=False)


def _drain(timeout: float = 1.0) -> None:
    """Finish or cancel what a failed run left on the event loop.

    When a program raises, Pulumi stops at the first failed RPC; the other applies and
    registrations stay scheduled on the (shared) loop and would fail inside the next run.
    """
    from pulumi.runtime.settings import SETTINGS

    loop = asyncio.get_event_loop()
    tracked = [*SETTINGS.outputs, *SETTINGS.rpc_manager.rpcs]
    pending = [t for t in (*asyncio.all_tasks(loop), *tracked) if not t.done()]
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=timeout))
        leftover = [task for task in pending if not task.done()]
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
    for task in tracked:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" report
    SETTINGS.outputs.clear()
    SETTINGS.rpc_manager.clear()


def run_program(
    config: Any,
    *,
    secrets: dict[str, str] | None = None,
    platform: Any = None,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
    stack: str = "test",
    mocks: RecordingMocks | None = None,
) -> ProgramRun:
    """Run ``infra.program.run(config, ...)`` under fresh mocks and return what it declared.

    ``secrets`` are plain strings turned into Pulumi secrets inside the run; ``platform`` is the
    offline ``PlatformOutputs`` of a team stack; ``stack_outputs`` answers StackReferences;
    ``mocks`` lets a caller keep the recorder to inspect it after an exception.
    Exceptions of the program (``ConfigError``, ``pulumi.RunError`` from an apply) propagate.
    """
    from infra import program

    mocks = mocks if mocks is not None else RecordingMocks(stack_outputs)
    fresh_mocks(mocks, stack=stack)
    run = ProgramRun(resources=mocks.resources)
    pending: dict[Key, tuple[pulumi.ResourceOptions, Key | None]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        key = (args.type_, args.name)
        run._by_object[id(args.resource)] = key
        parent = args.opts.parent if args.opts is not None else None
        parent_key = None
        if parent is not None and id(parent) in run._by_object:
            parent_key = run._by_object[id(parent)]
        pending[key] = (args.opts, parent_key)
        return None

    pulumi.runtime.register_stack_transformation(record)

    def body() -> pulumi.Output[Any]:
        plain = secrets or {}
        program.run(
            config,
            secrets={k: pulumi.Output.secret(v) for k, v in plain.items()},
            platform=platform,
        )
        root = pulumi_mocks_module.get_root_resource()
        exports = dict(getattr(root, "outputs", {}) or {})
        return pulumi.Output.from_input(exports).apply(run.exports.update)

    try:
        pulumi.runtime.test(body)()
    finally:
        _drain()
    for key, (options, parent_key) in pending.items():
        if key in run.resources:
            run.resources[key].options = options
            run.resources[key].parent = parent_key
        else:  # components are registered too; keep them even if the mock saw them late
            run.resources[key] = RecordedResource(
                type=key[0],
                name=key[1],
                inputs={},
                custom=False,
                provider=None,
                options=options,
                parent=parent_key,
            )
    return run
