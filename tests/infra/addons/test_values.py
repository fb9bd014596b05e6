"""infra/addons/values.py: ``kubeai:addons.<addon>.values`` merged over the computed values,
refused where it sets a key the program keeps, checked against the pinned charts (unknown keys,
the node-feature-discovery subchart's values.schema.json), and reaching the Release."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from infra import versions
from infra.addons import values as addon_values
from infra.addons.autoscaling import autoscaler_release_values
from infra.addons.gpu import GpuEnablementArgs
from infra.addons.gpu import release_values as gpu_release_values
from infra.addons.values import (
    ReleaseValues,
    coalesce,
    coalesced_values,
    key_path,
    merge_values,
    platform_values_problems,
    protected_hits,
    replaced_paths,
    schema_problems,
)
from infra.addons.volcano import VolcanoArgs
from infra.addons.volcano import release_values as volcano_release_values
from infra.chart_files import chart_from_archive, load_chart
from infra.config import ChartSource, ConfigError, GpuAddon, VolcanoAddon
from infra.mocks import RecordingMocks, record_stack
from tests.infra import factories
from tests.support.helm import HelmTools

RELEASE = "kubernetes:helm.sh/v3:Release"


def problems_of(provider: str = "existing", **addons: Any) -> list[tuple[str, str]]:
    """``platform_values_problems`` of a factories platform with ``kubeai:addons`` overrides."""
    return platform_values_problems(factories.platform_config(provider, addons=addons))


def paths(problems: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in problems]


# --- merge ---------------------------------------------------------------------------------


def test_mappings_merge_and_everything_else_replaces() -> None:
    computed = {"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": {"f": 1}}
    override = {"a": {"c": [3], "g": True}, "d": None, "e": 5}
    merged = merge_values(computed, override)
    assert merged == {"a": {"b": 1, "c": [3], "g": True}, "d": None, "e": 5}
    # neither input changes, and the result shares nothing with them
    assert computed == {"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": {"f": 1}}
    merged["a"]["c"].append(4)
    assert override["a"]["c"] == [3]


def test_coalesce_drops_a_default_set_to_null_as_helm_does() -> None:
    assert coalesce({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"d": None}}) == {
        "b": {"c": 2}
    }


def test_protected_hits_the_key_a_key_below_it_and_a_parent_replacing_it() -> None:
    path = ("custom", "scheduler_config_override")
    assert protected_hits({"custom": {"scheduler_config_override": "x"}}, path) == [
        ("custom", "scheduler_config_override")
    ]
    assert protected_hits({"custom": "x"}, path) == [("custom",)]
    # a null parent is refused as a null (null_paths), not once more here
    assert protected_hits({"custom": None}, path) == []
    assert protected_hits({"custom": {"scheduler_enable": False}}, path) == []
    below = protected_hits({"rbac": {"serviceAccount": {"annotations": {"k": "v"}}}}, ("rbac",))
    assert below == [("rbac",)]
    wildcard = ("runtime", "*", "enabled")
    override = {"runtime": {"alluxio": {"enabled": False}, "juicefs": {"tolerations": []}}}
    assert protected_hits(override, wildcard) == [("runtime", "alluxio", "enabled")]


def test_replaced_paths_name_only_the_computed_values_that_change() -> None:
    computed = {"driver": {"enabled": True}, "toolkit": {"enabled": True}, "x": [1]}
    override = {"driver": {"enabled": False}, "toolkit": {"enabled": True}, "new": 1, "x": [1]}
    assert replaced_paths(computed, override) == [("driver", "enabled")]


def test_key_paths_quote_keys_that_are_not_plain() -> None:
    assert (
        key_path("kubeai:addons.gpu.values", ["nodeSelector", "nvidia.com/gpu.present"])
        == 'kubeai:addons.gpu.values.nodeSelector["nvidia.com/gpu.present"]'
    )
    assert key_path("w", ["tolerations", 0, "key"]) == "w.tolerations[0].key"


# --- charts ----------------------------------------------------------------------------------


def archive(files: dict[str, str | bytes]) -> bytes:
    """A gzip'd tar of ``files`` (path -> text or bytes), as ``helm package`` writes it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_chart_reads_its_keys_subcharts_by_alias_and_nested_archives() -> None:
    files: dict[str, str | bytes] = {
        "demo/Chart.yaml": (
            "name: demo\nversion: 1.0.0\ndependencies:\n"
            "- {name: sub, alias: renamed, version: 0.1.0}\n"
        ),
        "demo/values.yaml": "replicas: 1\n",
        "demo/templates/a.yaml": '{{ .Values.hidden }} {{ index .Values "dashed-key" }}\n',
        "demo/charts/sub/Chart.yaml": "name: sub\nversion: 0.1.0\n",
        "demo/charts/sub/values.schema.json": json.dumps(
            {"type": "object", "properties": {"port": {"type": "integer"}}}
        ),
        "demo/charts/inner-2.0.0.tgz": archive({"inner/Chart.yaml": "name: inner\nversion: 2\n"}),
    }
    chart = chart_from_archive(archive(files), "demo.tgz")
    assert chart.label == "demo 1.0.0"
    assert set(chart.subcharts) == {"renamed", "inner"}
    assert chart.subcharts["inner"].label == "inner 2"
    assert {"replicas", "hidden", "dashed-key", "renamed", "global"} <= chart.known_keys()
    assert "port" in chart.subcharts["renamed"].known_keys()
    values = coalesced_values(chart, {"renamed": {"port": "80"}, "global": {"a": 1}})
    assert values["renamed"]["global"] == {"a": 1}
    assert schema_problems(chart, values, "w") == [
        ("w.renamed.port", "'80' is not of type 'integer' (values.schema.json)")
    ]


@pytest.mark.parametrize(
    ("mode", "provider", "chart"),
    [
        ("devicePlugin", "eks", versions.NVIDIA_DEVICE_PLUGIN),
        ("gpuOperator", "existing", versions.GPU_OPERATOR),
        ("gpuOperator", "eks", versions.GPU_OPERATOR),
    ],
)
def test_the_computed_values_satisfy_the_pinned_schemas(mode, provider, chart) -> None:
    release = gpu_release_values(GpuEnablementArgs(mode=mode, config=GpuAddon(), provider=provider))
    files = load_chart(str(release.chart_path()))
    assert files.name == chart.name and files.version == chart.version
    assert schema_problems(files, coalesced_values(files, release.merged()), "w") == []


def test_only_the_nvidia_charts_ship_a_schema_in_their_nfd_subchart() -> None:
    for chart, key in [
        (versions.NVIDIA_DEVICE_PLUGIN, "nfd"),
        (versions.GPU_OPERATOR, "node-feature-discovery"),
    ]:
        files = load_chart(str(factories.verified_archive(chart)))
        assert files.schema is None and files.subcharts[key].schema is not None
    for chart in (versions.VOLCANO, versions.FLUID):
        files = load_chart(str(factories.verified_archive(chart)))
        assert files.schema is None
        assert all(sub.schema is None for sub in files.subcharts.values())


# --- failing inputs --------------------------------------------------------------------------


def test_a_typo_at_the_top_level_is_refused_with_a_suggestion() -> None:
    problems = problems_of(volcano={"values": {"cusom": {"scheduler_enable": True}}})
    assert problems == [
        (
            "kubeai:addons.volcano.values.cusom",
            "not a value of chart volcano 1.15.1 (Helm would ignore it silently); did you mean "
            "'custom'?",
        )
    ]


def test_a_key_only_the_templates_read_is_known() -> None:
    # fullnameOverride is read by fluid's templates but absent from its values.yaml
    assert problems_of(fluid={"values": {"fullnameOverride": "fluid"}}) == []


def test_a_typo_in_a_subchart_key_is_refused() -> None:
    problems = problems_of(
        gpu={"mode": "gpuOperator", "values": {"node-feature-discovery": {"wroker": {}}}}
    )
    assert paths(problems) == ["kubeai:addons.gpu.values.node-feature-discovery.wroker"]
    assert "subchart node-feature-discovery 0.19.0" in problems[0][1]
    assert "did you mean 'worker'?" in problems[0][1]


@pytest.mark.parametrize(
    ("provider", "mode", "key"),
    [("existing", "gpuOperator", "node-feature-discovery"), ("eks", "devicePlugin", "nfd")],
)
def test_a_wrong_type_under_the_schema_d_subchart_is_refused(provider, mode, key) -> None:
    bad = {key: {"worker": {"tolerations": "nvidia.com/gpu"}}}
    problems = problems_of(provider, gpu={"mode": mode, "values": bad})
    assert problems == [
        (
            f"kubeai:addons.gpu.values.{key}.worker.tolerations",
            "'nvidia.com/gpu' is not of type 'array' (values.schema.json)",
        )
    ]
    good = {key: {"worker": {"tolerations": [{"operator": "Exists"}]}}}
    assert problems_of(provider, gpu={"mode": mode, "values": good}) == []


def test_an_enum_violation_names_the_valid_values() -> None:
    bad = {"nfd": {"image": {"pullPolicy": "Sometimes"}}}
    ((path, message),) = problems_of("eks", gpu={"values": bad})
    assert path == "kubeai:addons.gpu.values.nfd.image.pullPolicy"
    assert message == (
        "'Sometimes' is not one of ['Always', 'IfNotPresent', 'Never'] (values.schema.json)"
    )


def test_values_of_the_other_gpu_chart_are_refused() -> None:
    # driver.enabled is a gpu-operator value; the EKS platform installs the device plugin
    problems = problems_of("eks", gpu={"values": {"driver": {"enabled": False}}})
    assert paths(problems) == ["kubeai:addons.gpu.values.driver"]
    assert "nvidia-device-plugin 0.20.0" in problems[0][1]


@pytest.mark.parametrize(
    ("provider", "addons", "path", "reason"),
    [
        (
            "existing",
            {"volcano": {"values": {"custom": {"scheduler_config_override": "actions: x"}}}},
            "kubeai:addons.volcano.values.custom.scheduler_config_override",
            "queuePolicy",
        ),
        (
            "existing",
            {"volcano": {"values": {"custom": {"scheduler_replicas": 3}}}},
            "kubeai:addons.volcano.values.custom.scheduler_replicas",
            "set kubeai:addons.volcano.schedulerReplicas",
        ),
        (
            "existing",
            {"fluid": {"values": {"runtime": {"jindo": {"enabled": True}}}}},
            "kubeai:addons.fluid.values.runtime.jindo.enabled",
            "set kubeai:addons.fluid.runtimes",
        ),
        (
            "existing",
            {"fluid": {"values": {"csi": []}}},
            "kubeai:addons.fluid.values.csi",
            "tainted GPU nodes",
        ),
        (
            "existing",
            {"volcano": {"values": {"custom": {"controller_enable": False}}}},
            "kubeai:addons.volcano.values.custom.controller_enable",
            "create the PodGroups",
        ),
        (
            "existing",
            {"fluid": {"values": {"csi": {"enabled": False}}}},
            "kubeai:addons.fluid.values.csi.enabled",
            "mounts every dataset",
        ),
        (
            "existing",
            {"fluid": {"values": {"webhook": {"enabled": False}}}},
            "kubeai:addons.fluid.values.webhook.enabled",
            "FUSE sidecars",
        ),
        (
            "eks",
            {"gpu": {"values": {"affinity": {"nodeAffinity": {}}}}},
            "kubeai:addons.gpu.values.affinity",
            "keep the device plugin off",
        ),
        (
            "eks",
            {"gpu": {"values": {"devicePlugin": {"enabled": False}}}},
            "kubeai:addons.gpu.values.devicePlugin.enabled",
            "nvidia.com/gpu",
        ),
        (
            "eks",
            {"metricsServer": {"values": {"apiService": {"create": False}}}},
            "kubeai:addons.metricsServer.values.apiService.create",
            "v1beta1.metrics.k8s.io",
        ),
        (
            "eks",
            {"metricsServer": {"values": {"rbac": {"create": False}}}},
            "kubeai:addons.metricsServer.values.rbac.create",
            "ClusterRoles",
        ),
        (
            "eks",
            {"clusterAutoscaler": {"values": {"rbac": {"serviceAccount": {"create": False}}}}},
            "kubeai:addons.clusterAutoscaler.values.rbac.serviceAccount.create",
            "IRSA role",
        ),
        (
            "eks",
            {"gpu": {"values": {"tolerations": []}}},
            "kubeai:addons.gpu.values.tolerations",
            "set kubeai:addons.gpu.tolerations",
        ),
        (
            "existing",
            {"gpu": {"mode": "gpuOperator", "values": {"devicePlugin": {"enabled": False}}}},
            "kubeai:addons.gpu.values.devicePlugin.enabled",
            "nvidia.com/gpu",
        ),
        (
            "eks",
            {"clusterAutoscaler": {"values": {"autoDiscovery": {"clusterName": "other"}}}},
            "kubeai:addons.clusterAutoscaler.values.autoDiscovery.clusterName",
            "kubeai:cluster.eks.clusterName",
        ),
        (
            "eks",
            {"clusterAutoscaler": {"values": {"image": {"tag": "v1.30.0"}}}},
            "kubeai:addons.clusterAutoscaler.values.image.tag",
            "kubeai:cluster.kubernetesVersion",
        ),
    ],
)
def test_a_protected_key_is_refused_with_its_path_and_reason(
    provider, addons, path, reason
) -> None:
    problems = problems_of(provider, **addons)
    assert paths(problems) == [path]
    assert "is set by the program and cannot be overridden" in problems[0][1]
    assert reason in problems[0][1]


def test_volcano_s_component_switches_are_refused() -> None:
    values = {"custom": {"scheduler_enable": False, "admission_enable": False}}
    problems = problems_of(volcano={"values": values})
    assert paths(problems) == [
        "kubeai:addons.volcano.values.custom.scheduler_enable",
        "kubeai:addons.volcano.values.custom.admission_enable",
    ]
    assert "Pending" in problems[0][1] and "/podgroups/mutate" in problems[1][1]


def test_a_null_anywhere_is_refused_with_its_path() -> None:
    values = {
        "dataset": {"tolerations": [{"key": "a", "operator": None}], "resources": None},
        "csi": None,  # a protected parent: one problem, the null's
    }
    problems = problems_of(fluid={"values": values})
    assert paths(problems) == [
        "kubeai:addons.fluid.values.dataset.tolerations[0].operator",
        "kubeai:addons.fluid.values.dataset.resources",
        "kubeai:addons.fluid.values.csi",
    ]
    for _, message in problems:
        assert message.startswith("is null: the pulumi-kubernetes provider drops nulls")
        assert "cannot remove a chart default" in message
    # also when the component is used directly (no platform check before it)
    config = VolcanoAddon(values={"custom": {"metrics_enable": None}})
    with pytest.raises(ConfigError, match=r"volcano\.values\.custom\.metrics_enable"):
        volcano_release_values(VolcanoArgs(config=config)).merged()
    # on a repository chart too (checked for protected keys only)
    problems = problems_of("eks", metricsServer={"values": {"args": [None]}})
    assert paths(problems) == ["kubeai:addons.metricsServer.values.args[0]"]


MIRRORED_IMAGES = [
    ("existing", "volcano", {"basic": {"image_registry": "evil.io"}}, "basic.image_registry"),
    (
        "existing",
        "fluid",
        {"csi": {"registrar": {"imagePrefix": "evil.io/sig-storage"}}},
        "csi.registrar.imagePrefix",
    ),
    ("eks", "gpu", {"image": {"repository": "evil.io/k8s-device-plugin"}}, "image.repository"),
    ("eks", "gpu", {"image": "evil.io/k8s-device-plugin"}, "image"),
    ("eks", "clusterAutoscaler", {"image": {"repository": "evil.io/ca"}}, "image.repository"),
    ("eks", "metricsServer", {"image": {"repository": "evil.io/ms"}}, "image.repository"),
]


@pytest.mark.parametrize(("provider", "addon", "values", "path"), MIRRORED_IMAGES)
def test_with_a_mirror_its_image_values_are_refused(provider, addon, values, path) -> None:
    config = factories.platform_config(
        provider, addons={addon: {"values": values}}, images={"registry": "mirror.test/kubeai"}
    )
    problems = platform_values_problems(config)
    assert paths(problems) == [f"kubeai:addons.{addon}.values.{path}"]
    assert "kubeai:images.registry mirror mirror.test/kubeai" in problems[0][1]
    assert "kubeai images list" in problems[0][1]


@pytest.mark.parametrize(("provider", "addon", "values", "path"), MIRRORED_IMAGES)
def test_without_a_mirror_image_values_may_be_overridden(provider, addon, values, path) -> None:
    assert problems_of(provider, **{addon: {"values": values}}) == []


def test_with_a_mirror_other_image_settings_stay_open() -> None:
    images = {"registry": "mirror.test/kubeai", "pullSecrets": ["mirror"]}
    values = {"image": {"tag": "v0.8.1", "pullPolicy": "Always"}, "imagePullSecrets": []}
    config = factories.platform_config(
        "eks", addons={"metricsServer": {"values": values}}, images=images
    )
    assert platform_values_problems(config) == []


def test_values_of_an_add_on_that_installs_no_chart_are_refused() -> None:
    problems = problems_of(
        "gke",
        gpu={"values": {"nfd": {}}},
        clusterAutoscaler={"values": {"extraArgs": {"v": 4}}},
        metricsServer={"values": {"args": []}},
    )
    assert paths(problems) == [
        "kubeai:addons.gpu.values",
        "kubeai:addons.clusterAutoscaler.values",
        "kubeai:addons.metricsServer.values",
    ]
    assert "resolves to none on gke" in problems[0][1]
    assert all(message.endswith("remove them") for _, message in problems)
    problems = problems_of(
        volcano={"enabled": False, "values": {"custom": {}}},
        **{"trainingOperator": {"enabled": False}},
    )
    assert paths(problems) == ["kubeai:addons.volcano.values"]


def test_repository_charts_are_checked_for_protected_keys_only() -> None:
    # no local copy of the cluster-autoscaler chart: an unknown key passes to Helm
    assert problems_of("eks", clusterAutoscaler={"values": {"extraArgz": {}}}) == []


def test_a_local_chart_path_is_what_the_values_are_checked_against(tmp_path: Path) -> None:
    chart = tmp_path / "cluster-autoscaler"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: cluster-autoscaler\nversion: 9.56.0\n")
    (chart / "values.yaml").write_text("extraArgs: {}\nreplicaCount: 1\n")
    (chart / "values.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"replicaCount": {"type": "integer"}}})
    )
    scaler = {"chart": {"path": str(chart)}}
    assert problems_of("eks", clusterAutoscaler={**scaler, "values": {"replicaCount": 2}}) == []
    problems = problems_of("eks", clusterAutoscaler={**scaler, "values": {"replicaCont": 2}})
    assert paths(problems) == ["kubeai:addons.clusterAutoscaler.values.replicaCont"]
    problems = problems_of("eks", clusterAutoscaler={**scaler, "values": {"replicaCount": "2"}})
    assert problems == [
        (
            "kubeai:addons.clusterAutoscaler.values.replicaCount",
            "'2' is not of type 'integer' (values.schema.json)",
        )
    ]
    missing = {"chart": {"path": str(tmp_path / "absent")}, "values": {"replicaCount": 2}}
    assert paths(problems_of("eks", clusterAutoscaler=missing)) == [
        "kubeai:addons.clusterAutoscaler.chart.path"
    ]


def test_no_values_reads_no_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> None:
        raise AssertionError("a chart was read without values to check")

    monkeypatch.setattr(addon_values, "load_chart", refuse)
    monkeypatch.setattr(ReleaseValues, "chart_path", refuse)
    assert problems_of("eks") == []


def test_merged_refuses_a_protected_key_when_the_component_is_used_directly() -> None:
    config = VolcanoAddon(values={"custom": {"enabled_admissions": "/jobs/mutate"}})
    with pytest.raises(ConfigError, match=r"volcano\.values\.custom\.enabled_admissions"):
        volcano_release_values(VolcanoArgs(config=config)).merged()


def test_replacing_a_computed_value_is_allowed_and_warned(monkeypatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(addon_values.pulumi.log, "warn", lambda message, *_: warned.append(message))
    config = factories.platform_config(
        "eks",
        addons={"clusterAutoscaler": {"values": {"extraArgs": {"max-node-provision-time": "25m"}}}},
    )
    release = autoscaler_release_values(config.cluster, config.addons.cluster_autoscaler)
    values = release.release_input(None)  # type: ignore[arg-type]
    assert values["extraArgs"]["max-node-provision-time"] == "25m"
    assert values["extraArgs"]["expander"] == "least-waste"
    assert warned == [
        "kubeai:addons.clusterAutoscaler.values.extraArgs.max-node-provision-time replaces the "
        "value the program computes for this release"
    ]


# --- under mocks -----------------------------------------------------------------------------


def test_the_merged_values_reach_the_release(platform_run) -> None:
    override = {
        "driver": {"enabled": False},
        "node-feature-discovery": {"worker": {"tolerations": [{"operator": "Exists"}]}},
        "dcgmExporter": {"enabled": False},
    }
    run = platform_run("existing", addons={"gpu": {"mode": "gpuOperator", "values": override}})
    values = run.named("gpu-release").inputs["values"]
    assert values["driver"] == {"enabled": False}
    assert values["dcgmExporter"] == {"enabled": False}
    assert values["node-feature-discovery"] == override["node-feature-discovery"]
    # what the program computes and the override leaves alone is still there
    assert values["toolkit"] == {"enabled": True} and values["devicePlugin"] == {"enabled": True}
    assert values["daemonsets"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_a_refused_override_fails_before_any_resource() -> None:
    config = factories.platform_config(
        "eks", addons={"volcano": {"values": {"custom": {"scheduler_name": "x"}}}}
    )
    mocks = RecordingMocks()
    with pytest.raises(ConfigError) as caught:
        record_stack(config, mocks=mocks)
    assert caught.value.problems[0][0] == "kubeai:addons.volcano.values.custom.scheduler_name"
    assert {r.type for r in mocks.resources.values()} <= {"pulumi:pulumi:Stack"}


def test_every_chart_source_of_an_archive_chart_is_checked_against_the_pinned_chart() -> None:
    mirror = ChartSource(repository="https://charts.example.com/mirror")
    release = volcano_release_values(VolcanoArgs(config=VolcanoAddon(chart=mirror)))
    assert release.chart_path() is not None
    assert str(release.chart_path()).endswith(versions.VOLCANO.archive.path)


@pytest.mark.parametrize("addon", ["argo", "trainingOperator"])
def test_kustomize_add_ons_take_no_values(addon: str) -> None:
    values = factories.platform_values("existing", addons={addon: {"values": {"a": 1}}})
    ((path, message),) = factories.config_problems(values)
    assert path == f"kubeai:addons.{addon}.values"
    assert message.startswith("unknown key")


def test_values_must_be_a_mapping() -> None:
    values = factories.platform_values("existing", addons={"volcano": {"values": ["custom"]}})
    ((path, _),) = factories.config_problems(values)
    assert path == "kubeai:addons.volcano.values"


# --- against the real helm -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "mode", "key", "enable"),
    [
        ("existing", "gpuOperator", "node-feature-discovery", {}),
        # the device plugin chart enables its nfd subchart (and so its schema) with gfd
        ("eks", "devicePlugin", "nfd", {"gfd": {"enabled": True}}),
    ],
)
def test_helm_refuses_what_the_schema_check_refuses(
    helm_tools: HelmTools, tmp_path: Path, provider, mode, key, enable
) -> None:
    """The same merged values through ``helm template`` of the pinned archive: Helm applies the
    subchart schema under the same key, and the valid override renders."""
    for tolerations, valid in (("nvidia.com/gpu", False), ([{"operator": "Exists"}], True)):
        override = {key: {"worker": {"tolerations": tolerations}}, **enable}
        config = factories.platform_config(
            provider, addons={"gpu": {"mode": mode, "values": override}}
        )
        problems = platform_values_problems(config)
        release = gpu_release_values(
            GpuEnablementArgs(mode=mode, config=config.addons.gpu, provider=provider)
        )
        values_file = tmp_path / f"{key}-{valid}.yaml"
        values_file.write_text(json.dumps(release.merged()))
        result = helm_tools.run(
            "template",
            "gpu",
            release.chart_path(),
            "--namespace",
            "gpu",
            "--values",
            values_file,
            "--kube-version",
            "1.34.0",
            check=False,
        )
        if valid:
            assert problems == [] and result.returncode == 0, result.output
        else:
            assert paths(problems) == [f"kubeai:addons.gpu.values.{key}.worker.tolerations"]
            assert result.returncode != 0
            assert f"{key}:" in result.stderr and "'/worker/tolerations'" in result.stderr


def test_helm_ignores_a_typo_the_key_check_refuses(helm_tools: HelmTools, tmp_path: Path) -> None:
    """Why unknown keys are refused: Helm installs the chart default without a word."""
    override = {"cusom": {"scheduler_replicas": 2}}
    release = volcano_release_values(VolcanoArgs(config=VolcanoAddon(values=override)))
    values_file = tmp_path / "volcano.yaml"
    values_file.write_text(json.dumps(release.merged()))
    result = helm_tools.run(
        "template",
        "volcano",
        release.chart_path(),
        "--namespace",
        "volcano-system",
        "--values",
        values_file,
        "--kube-version",
        "1.34.0",
    )
    assert result.returncode == 0 and "cusom" not in result.output
    assert paths(release.problems()) == ["kubeai:addons.volcano.values.cusom"]
