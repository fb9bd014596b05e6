"""infra/mocks.py: the one recorder: resources with their options, parents, exports, result,
StackReference answers and secrets."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.mocks import is_secret, record, record_program, reveal


class Box(pulumi.ComponentResource):
    """A component with one ConfigMap child."""

    def __init__(self, name: str) -> None:
        super().__init__("test:index:Box", name)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-cm",
            data={"key": pulumi.Output.secret("hidden")},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.register_outputs({})


def program() -> str:
    box = Box("box")
    after = k8s.core.v1.Namespace("after", opts=pulumi.ResourceOptions(depends_on=[box]))
    reference = pulumi.StackReference("org/kubeai/prod")
    pulumi.export("seen", reference.get_output("answer"))
    pulumi.export("namespace", after.metadata)
    return "done"


def test_record_sees_options_parents_exports_and_the_result() -> None:
    run = record(program, stack="t", stack_outputs={"org/kubeai/prod": {"answer": 42}})
    assert run.result == "done"
    assert run.exports["seen"] == 42
    cm = run.one("kubernetes:core/v1:ConfigMap", "box-cm")
    assert cm.parent == ("test:index:Box", "box") and cm.custom
    assert cm.retain_on_delete and not cm.protect
    assert is_secret(cm.inputs["data"]) and reveal(cm.inputs["data"]) == {"key": "hidden"}
    namespace = run.named("after")
    assert namespace.depends_on == ["box"]
    assert run.waits_for(namespace.key, [cm.key])  # a component stands for its children
    assert not run.resources[("test:index:Box", "box")].custom


def test_record_program_lists_resources_in_declaration_order() -> None:
    declared, result = record_program(program, stack="t")
    assert result == "done"
    names = [d.name for d in declared]
    assert names.index("box") < names.index("box-cm") < names.index("after")
