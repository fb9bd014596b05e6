"""Pulumi aliases that keep earlier URNs after the program was restructured.

A URN is made of the resource's type, its name and its parents' types. When a component gets a
new parent (the platform's resources moved into the ``Platform`` component) or a new type (the
``Glue`` component became ``ModelRegistry``), its ``aliases`` name the URN it had before, and
the engine treats the resource as the same one instead of deleting and recreating it. Children
need no aliases of their own: the engine multiplies their parent's aliases out to them.
"""

from __future__ import annotations

import pulumi

#: Alias of a resource that used to sit directly under the stack.
AT_STACK_ROOT = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)


def moved_from_stack_root(opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
    """``opts`` plus the alias of a resource that used to be a direct child of the stack."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[AT_STACK_ROOT]))


def with_previous_type(
    opts: pulumi.ResourceOptions | None, previous_type: str
) -> pulumi.ResourceOptions:
    """``opts`` plus aliases for a component whose Pulumi type was renamed from ``previous_type``.

    Every alias ``opts`` already carries (e.g. an earlier parent) is repeated with the earlier
    type, and ``Alias(type_=previous_type)`` covers the current parent, so the engine finds the
    resource under its earlier URN whichever of the two changed.
    """
    given = list((opts.aliases if opts is not None else None) or [])
    earlier: list[pulumi.Input[str] | pulumi.Alias] = [pulumi.Alias(type_=previous_type)]
    for alias in given:
        if isinstance(alias, pulumi.Alias):
            earlier.append(
                pulumi.Alias(
                    name=alias.name,
                    type_=previous_type,
                    parent=alias.parent,
                    stack=alias.stack,
                    project=alias.project,
                )
            )
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=earlier))
