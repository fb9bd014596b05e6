"""Run the Pulumi program without an engine: Pulumi mocks that record every declared resource.

The one recorder of the project, used by the offline render, the benchmarks and the infra tests.
The Pulumi CLI and provider plugins are not needed: ``pulumi.runtime.set_mocks`` answers each
resource registration (its id is ``<name>-id``, its state its inputs), every invoke with ``{}``
and each StackReference from ``stack_outputs`` (stack name -> outputs).

``record(program, ...)`` returns a ``ProgramRun``: every resource the program declared (type,
name, inputs as the engine receives them: camelCase keys, numbers as floats, secrets wrapped),
the options a *stack transformation* observes (``parent``, ``depends_on``, ``retain_on_delete``,
``protect``, ``aliases``: the legacy hook is, unlike ``register_resource_transform``, called under
mocks), the program's result and its resolved stack exports. ``record_program`` is the same run
as ``(resources in declaration order, result)``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

_LOCK = threading.RLock()

#: How Pulumi marks a secret value among recorded inputs: ``{SIG_KEY: SECRET_SIG, "value": v}``
#: (pulumi/runtime/rpc.py, ``_special_sig_key`` and ``_special_secret_sig``).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a marker, not a password

#: A resource's identity in a stack: ``(type token, logical name)``.
Key = tuple[str, str]


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


def _as_list(value: Any) -> list[Any]:
    if not value:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass
class Declared:
    """One declared resource: Pulumi ``type``, logical ``name``, ``inputs`` and options.

    ``custom`` is False for components (ours and the provider's remote ones); ``provider`` is
    the provider reference the engine got (``urn::id``) or None; ``parent`` the parent's key
    (None directly under the stack).
    """

    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None = None
    options: pulumi.ResourceOptions | None = None
    parent: Key | None = None

    @property
    def key(self) -> Key:
        """``(type, name)``, unique within a stack."""
        return (self.type, self.name)

    @property
    def depends_on(self) -> list[str]:
        """Logical names of the resources in its own ``depends_on``."""
        raw = self.options.depends_on if self.options is not None else None
        return [getattr(d, "_name", str(d)) for d in _as_list(raw)]

    @property
    def retain_on_delete(self) -> bool:
        """Whether deleting it in Pulumi leaves the object in the cluster."""
        return bool(self.options is not None and self.options.retain_on_delete)

    @property
    def protect(self) -> bool:
        """Whether Pulumi refuses to delete it."""
        return bool(self.options is not None and self.options.protect)


@dataclass
class ProgramRun:
    """What one program run declared, its result and its stack exports."""

    resources: dict[Key, Declared] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    _by_object: dict[int, Key] = field(default_factory=dict)

    # -- lookup ---------------------------------------------------------------------------------

    def of_type(self, type_: str) -> list[Declared]:
        """Resources of one type token, in name order."""
        return sorted((r for r in self.resources.values() if r.type == type_), key=lambda r: r.name)

    def one(self, type_: str, name: str) -> Declared:
        """The resource ``(type_, name)``; ``KeyError`` listing the names of that type."""
        try:
            return self.resources[(type_, name)]
        except KeyError:
            names = [r.name for r in self.of_type(type_)]
            raise KeyError(f"no {type_} named {name!r}; have {names}") from None

    def named(self, name: str) -> Declared:
        """The only resource called ``name`` (any type); ``KeyError`` unless exactly one."""
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
        deps = _as_list(options.depends_on if options is not None else None)
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


#: Made-up answers of the invokes the program makes, by token: the cluster lookups of
#: ``infra.providers`` (an API server in TEST-NET-3 and a placeholder CA, never contacted).
FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmZha2UKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
INVOKE_RESULTS: dict[str, dict[str, Any]] = {
    "aws:eks/getCluster:getCluster": {
        "endpoint": "https://203.0.113.10",
        "certificateAuthorities": [{"data": FAKE_CA}],
    },
    "gcp:container/getCluster:getCluster": {
        "endpoint": "203.0.113.11",
        "masterAuths": [{"clusterCaCertificate": FAKE_CA}],
    },
    "alicloud:cs/getClusterCredential:getClusterCredential": {
        "kubeConfig": "clusters:\n- cluster: {server: 'https://203.0.113.12:6443'}\n  name: c\n",
        "certificateAuthorities": [{"clusterCert": FAKE_CA}],
    },
}


class RecordingMocks(Mocks):
    """Mocks that record every registration (``resources``), invoke (``calls``) and the options
    each resource was declared with, and answer StackReferences from ``stack_outputs``.

    Reads of existing objects (``Resource.get``: the program looks, the engine never creates or
    deletes them) are kept apart in ``reads`` (key -> id), not in ``resources``."""

    def __init__(self, stack_outputs: dict[str, dict[str, Any]] | None = None) -> None:
        self.stack_outputs = stack_outputs or {}
        self.resources: dict[Key, Declared] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.reads: dict[Key, str] = {}
        self.run = ProgramRun()
        self._declared: dict[Key, tuple[pulumi.ResourceOptions | None, Key | None, bool]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        """Record the resource; its id is ``<name>-id`` and its state its inputs (a read: its id
        and no state)."""
        if args.resource_id and args.typ != "pulumi:pulumi:StackReference":
            self.reads[(args.typ, args.name)] = args.resource_id
            return args.resource_id, {}
        item = Declared(
            type=args.typ,
            name=args.name,
            inputs=dict(args.inputs),
            custom=bool(args.custom),
            provider=args.provider,
        )
        self.resources[item.key] = item
        if args.typ == "pulumi:pulumi:StackReference":
            outputs = self.stack_outputs.get(args.name, {})
            state = {**args.inputs, "name": args.name, "outputs": outputs, "secretOutputNames": []}
            return args.name, state
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """Record the invoke; answer ``INVOKE_RESULTS[token]`` (a made-up cluster for the
        cluster lookups of ``infra.providers``), else no result."""
        self.calls.append((args.token, dict(args.args)))
        return dict(INVOKE_RESULTS.get(args.token, {})), []  # no check failures

    def transformation(self, args: pulumi.ResourceTransformationArgs) -> None:
        """Stack transformation: note each resource's options and parent, change nothing."""
        key = (args.type_, args.name)
        self.run._by_object[id(args.resource)] = key
        parent = args.opts.parent if args.opts is not None else None
        parent_key = self.run._by_object.get(id(parent)) if parent is not None else None
        custom = isinstance(args.resource, pulumi.CustomResource)
        self._declared[key] = (args.opts, parent_key, custom)

    def finish(self) -> ProgramRun:
        """The run: resources in declaration order (those the transformation never saw last)."""
        out: dict[Key, Declared] = {}
        for key, (options, parent_key, custom) in self._declared.items():
            if key in self.reads:
                continue
            item = self.resources.get(key) or Declared(
                type=key[0], name=key[1], inputs={}, custom=custom
            )
            item.custom = custom
            item.options = options
            item.parent = parent_key
            out[key] = item
        for key, item in self.resources.items():
            out.setdefault(key, item)
        self.run.resources = out
        return self.run


def start(
    mocks: Mocks,
    *,
    project: str = "kubeai",
    stack: str = "test",
    config: dict[str, str] | None = None,
) -> None:
    """Install ``mocks`` with a fresh root stack and Pulumi ``config`` (``{"ns:key": value}``).

    ``set_mocks`` alone keeps an existing root stack (a context variable), and with it the
    previous run's exports and stack transformations, and each run would get slower (measured:
    benchmarks/stacks.py); the runtime options are reset first so every run starts clean.
    """
    pulumi.runtime.reset_options(project=project, stack=stack, preview=False)
    pulumi.runtime.set_all_config(dict(config or {}), [])
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)


def _current_loop() -> asyncio.AbstractEventLoop:
    """The thread's event loop, which Pulumi's mocks run on; a new one is set when the thread
    has none (``asyncio.run`` elsewhere in the process, a test's, leaves the main thread
    without one, and ``asyncio.get_event_loop`` then raises)."""
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


def _drain(timeout: float = 1.0) -> None:
    """Finish or cancel what a failed run left on the event loop.

    When a program raises, Pulumi stops at the first failed RPC; the other applies and
    registrations stay scheduled on the (shared) loop and would fail inside the next run.
    """
    from pulumi.runtime.settings import SETTINGS

    loop = _current_loop()
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


def record(
    program: Callable[[], Any],
    *,
    project: str = "kubeai",
    stack: str = "test",
    config: dict[str, str] | None = None,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
    mocks: RecordingMocks | None = None,
) -> ProgramRun:
    """Run ``program`` under fresh mocks and return what it declared (module docstring).

    ``config`` sets Pulumi config (``{"kubeai:stackKind": "platform"}``); ``stack_outputs``
    answers StackReferences; ``mocks`` lets a caller keep the recorder to inspect it after an
    exception. Mocks are process-global, so runs are serialised. Exceptions raised by the
    program (or inside an ``apply``) propagate.
    """
    with _LOCK:
        _current_loop()
        mocks = mocks if mocks is not None else RecordingMocks(stack_outputs)
        start(mocks, project=project, stack=stack, config=config)
        run = mocks.run
        pulumi.runtime.register_stack_transformation(mocks.transformation)

        def body() -> pulumi.Output[Any]:
            run.result = program()
            root = pulumi.runtime.get_root_resource()
            exports = dict(getattr(root, "outputs", {}) or {})
            return pulumi.Output.from_input(exports).apply(run.exports.update)

        try:
            pulumi.runtime.test(body)()
        finally:
            _drain()
            mocks.finish()
        return run


def record_program(
    program: Callable[[], Any],
    *,
    project: str = "kubeai",
    stack: str = "render",
    config: dict[str, str] | None = None,
) -> tuple[list[Declared], Any]:
    """``record`` returning ``(every declared resource in declaration order, the result)``."""
    run = record(program, project=project, stack=stack, config=config)
    return list(run.resources.values()), run.result


def record_stack(
    config: Any,
    *,
    secrets: dict[str, str] | None = None,
    platform: Any = None,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
    stack: str = "test",
    mocks: RecordingMocks | None = None,
) -> ProgramRun:
    """``record`` of ``infra.program.run(config, ...)``: the whole stack ``config`` describes.

    ``secrets`` are plain strings made Pulumi secrets inside the run; ``platform`` is the
    offline ``PlatformOutputs`` of a team stack; ``stack_outputs`` answers StackReferences.
    Exceptions of the program (``ConfigError``, ``pulumi.RunError`` from an apply) propagate.
    """
    from infra import program

    def run() -> None:
        plain = secrets or {}
        program.run(
            config,
            secrets={k: pulumi.Output.secret(v) for k, v in plain.items()},
            platform=platform,
        )

    return record(run, stack=stack, stack_outputs=stack_outputs, mocks=mocks)
