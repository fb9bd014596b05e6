"""Pulumi URNs of a recorded program run, and the URNs its aliases stand for.

The mock monitor answers registrations without an engine, so the aliases a resource declares are
never resolved; these helpers resolve them as the engine does (own aliases, then every alias of
the parent multiplied out to the child, pulumi/pkg/resource/deploy step_generator
``generateAliases``), so a test can prove that a restructured program keeps every earlier URN.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.mocks import Key, ProgramRun

PROJECT = "kubeai"


def _urn(stack: str, qualified_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{qualified_type}::{name}"


def qualified_type(run: ProgramRun, key: Key) -> str:
    """``Parent$...$Type`` of ``key`` (the stack itself is left out, as in real URNs)."""
    chain = [key[0]]
    for ancestor in run.ancestors(key):
        chain.append(ancestor[0])
    return "$".join(reversed(chain))


def urn(run: ProgramRun, key: Key, *, stack: str) -> str:
    """The URN the engine gives ``key`` in ``stack``."""
    return _urn(stack, qualified_type(run, key), key[1])


def alias_urns(run: ProgramRun, key: Key, *, stack: str) -> set[str]:
    """Every earlier URN ``key`` answers to through its own and its ancestors' aliases."""
    resource = run.resources[key]
    options = resource.options
    own: list[Any] = list(options.aliases or []) if options is not None else []
    parent = resource.parent
    parent_types = [qualified_type(run, parent)] if parent is not None else [""]
    out: set[str] = set()
    for alias in own:
        if isinstance(alias, str):
            out.add(alias)
            continue
        assert isinstance(alias, pulumi.Alias)
        name = key[1] if alias.name is ... else alias.name
        type_ = key[0] if alias.type_ is ... else alias.type_
        if alias.parent is ...:
            prefixes = parent_types
        elif alias.parent is None:
            prefixes = [""]
        else:
            raise AssertionError(f"{key}: alias parents other than the stack are not resolved")
        for prefix in prefixes:
            out.add(_urn(stack, f"{prefix}${type_}" if prefix else type_, name))
    if parent is not None:
        for parent_alias in alias_urns(run, parent, stack=stack):
            parent_type = parent_alias.split("::")[2]
            out.add(_urn(stack, f"{parent_type}${key[0]}", key[1]))
    return out


def urns(run: ProgramRun, *, stack: str) -> dict[str, set[str]]:
    """Every resource's URN -> the earlier URNs it answers to (its aliases)."""
    return {urn(run, key, stack=stack): alias_urns(run, key, stack=stack) for key in run.resources}
