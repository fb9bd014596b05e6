"""infra/aliases.py: aliases that keep a resource's earlier URN (new parent, new type)."""

from __future__ import annotations

import pulumi

from infra.aliases import AT_STACK_ROOT, moved_from_stack_root, with_previous_type


def _fields(alias: object) -> tuple[object, object]:
    assert isinstance(alias, pulumi.Alias)
    return alias.type_, alias.parent


def test_moved_from_the_stack_root_keeps_the_other_options() -> None:
    parent = pulumi.ResourceOptions(protect=True)
    opts = moved_from_stack_root(parent)
    assert opts.protect is True
    assert opts.aliases == [AT_STACK_ROOT]
    assert AT_STACK_ROOT.parent is pulumi.ROOT_STACK_RESOURCE


def test_a_renamed_type_is_aliased_under_every_earlier_parent() -> None:
    opts = with_previous_type(moved_from_stack_root(), "kubeai:addons:Glue")
    assert [_fields(a) for a in opts.aliases or []] == [
        (..., None),  # the stack root, current type
        ("kubeai:addons:Glue", ...),  # the current parent, earlier type
        ("kubeai:addons:Glue", None),  # the stack root, earlier type
    ]


def test_a_renamed_type_without_other_aliases() -> None:
    opts = with_previous_type(None, "kubeai:clusters:GpuNodePool")
    assert [_fields(a) for a in opts.aliases or []] == [("kubeai:clusters:GpuNodePool", ...)]
