"""Bad values make ``helm template`` fail with a message that names the offending key.

Schema violations (values.schema.json: unknown keys, ``latest`` tags, values outside an enum,
negative counts, malformed quantities) are checked with helm v3.19 and v4; cross-field rules the
schema cannot express are enforced by the templates with ``fail``/``required``.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from tests.charts.support import chart_path
from tests.support.helm import HelmTools

GLUE_CI = chart_path("kubeai-glue") / "ci" / "default-values.yaml"
TRITON_CI = chart_path("triton-inference") / "ci" / "default-values.yaml"


class Case(NamedTuple):
    """One rejected configuration: chart, --set items, substrings the error must contain."""

    chart: str
    sets: tuple[str, ...]
    expected: tuple[str, ...]
    with_ci_values: bool = True


SCHEMA_CASES = {
    "glue-typo-key": Case(
        "kubeai-glue",
        ("registry.replcas=2",),
        ("at '/registry'", "additional properties 'replcas' not allowed"),
    ),
    "glue-unknown-top-level-key": Case(
        "kubeai-glue", ("imagee.tag=abc",), ("additional properties 'imagee' not allowed",)
    ),
    "glue-latest-tag": Case("kubeai-glue", ("image.tag=latest",), ("at '/image/tag'", "latest")),
    "glue-latest-tag-any-case": Case(
        "kubeai-glue", ("image.tag=LATEST",), ("at '/image/tag'", "latest is refused")
    ),
    "glue-bad-enum": Case(
        "kubeai-glue", ("database.type=mysql",), ("at '/database/type'", "'sqlite', 'postgresql'")
    ),
    "glue-negative-replicas": Case(
        "kubeai-glue", ("registry.replicas=-1",), ("at '/registry/replicas'", "minimum")
    ),
    "glue-bad-quantity": Case(
        "kubeai-glue",
        ("registry.resources.requests.memory=lots",),
        ("at '/registry/resources/requests/memory'",),
    ),
    "glue-bad-log-level": Case(
        "kubeai-glue", ("registry.logLevel=verbose",), ("at '/registry/logLevel'", "'DEBUG'")
    ),
    "glue-bad-dsn": Case(
        "kubeai-glue",
        ("database.type=postgresql", "database.postgresql.url=mysql://x"),
        ("at '/database/postgresql/url'",),
    ),
    "triton-typo-key": Case(
        "triton-inference", ("gpu.cout=1",), ("at '/gpu'", "additional properties 'cout'")
    ),
    "triton-latest-agent-tag": Case(
        "triton-inference", ("agent.image.tag=latest",), ("at '/agent/image/tag'", "latest")
    ),
    "triton-latest-triton-tag": Case(
        "triton-inference",
        ("tritonserver.image.tag=latest",),
        ("at '/tritonserver/image/tag'", "latest"),
    ),
    "triton-bad-service-type": Case(
        "triton-inference", ("service.type=Ingress",), ("at '/service/type'", "'ClusterIP'")
    ),
    "triton-size-limit-below-a-byte": Case(
        "triton-inference",
        ("modelRepository.sizeLimit=500u",),
        ("at '/modelRepository/sizeLimit'",),
    ),
    "triton-bad-medium": Case(
        "triton-inference", ("modelRepository.medium=Disk",), ("at '/modelRepository/medium'",)
    ),
    "triton-agent-probe-typo": Case(
        "triton-inference",
        ("agent.probes.readyness.periodSeconds=2",),
        ("at '/agent/probes'", "additional properties 'readyness'"),
    ),
    "triton-agent-liveness-success-threshold": Case(
        "triton-inference",
        ("agent.probes.liveness.successThreshold=2",),
        ("at '/agent/probes/liveness/successThreshold'",),
    ),
    "triton-negative-replicas": Case(
        "triton-inference", ("replicas=-1",), ("at '/replicas'", "minimum")
    ),
    "triton-negative-gpus": Case(
        "triton-inference", ("gpu.count=-2",), ("at '/gpu/count'", "minimum")
    ),
    "triton-bad-service-name": Case(
        "triton-inference", ("registry.service=Fraud_Scoring",), ("at '/registry/service'",)
    ),
    "triton-bad-toleration-operator": Case(
        "triton-inference",
        ("tolerations[0].key=a", "tolerations[0].operator=Matches"),
        ("at '/tolerations/0/operator'",),
    ),
    "glue-network-policy-bad-cidr": Case(
        "kubeai-glue",
        ("networkPolicy.cidrs={10.0.0.0}",),
        ("at '/networkPolicy/cidrs/0'",),
    ),
    "glue-network-policy-bad-namespace": Case(
        "kubeai-glue",
        ("networkPolicy.namespaces={Ingress_Nginx}",),
        ("at '/networkPolicy/namespaces/0'",),
    ),
    "glue-network-policy-typo-key": Case(
        "kubeai-glue",
        ("networkPolicy.cidr=10.0.0.0/8",),
        ("at '/networkPolicy'", "additional properties 'cidr' not allowed"),
    ),
    "glue-no-authenticator": Case(
        "kubeai-glue",
        ("registry.auth.kubernetes.enabled=false",),
        (
            "at '/registry/auth': 'anyOf' failed",
            "at '/registry/auth/kubernetes/enabled'",
            "at '/registry/auth/oidc/issuer'",
            "at '/registry/auth/staticTokens/existingSecret'",
        ),
    ),
    "glue-auth-typo-key": Case(
        "kubeai-glue",
        ("registry.auth.protectMetric=true",),
        ("at '/registry/auth'", "additional properties 'protectMetric' not allowed"),
    ),
    "glue-auth-bad-role": Case(
        "kubeai-glue",
        ("registry.auth.bindings[0].team=vision", "registry.auth.bindings[0].role=owner"),
        ("at '/registry/auth/bindings/0/role'", "'reader'"),
    ),
    "glue-auth-binding-without-subjects": Case(
        "kubeai-glue",
        ("registry.auth.bindings[0].team=vision", "registry.auth.bindings[0].role=reader"),
        ("at '/registry/auth/bindings/0'", "anyOf"),
    ),
    "glue-auth-bad-team": Case(
        "kubeai-glue",
        (
            "registry.auth.bindings[0].team=Vision",
            "registry.auth.bindings[0].role=reader",
            "registry.auth.bindings[0].users={alice}",
        ),
        ("at '/registry/auth/bindings/0/team'",),
    ),
    "glue-auth-controller-without-namespace": Case(
        "kubeai-glue",
        ("registry.auth.controllers={kubeai-controller}",),
        ("at '/registry/auth/controllers/0'",),
    ),
    "glue-auth-http-issuer": Case(
        "kubeai-glue",
        ("registry.auth.oidc.issuer=http://login.example.com",),
        ("at '/registry/auth/oidc/issuer'",),
    ),
    "glue-auth-bad-service-account-role": Case(
        "kubeai-glue",
        ("registry.auth.serviceAccountRole=admin",),
        ("at '/registry/auth/serviceAccountRole'",),
    ),
    "glue-auth-bad-service-account-roles": Case(
        "kubeai-glue",
        ("registry.auth.serviceAccountRoles.kubeai-workflow=admin",),
        ("at '/registry/auth/serviceAccountRoles/kubeai-workflow'",),
    ),
    "glue-auth-service-account-roles-namespaced": Case(
        "kubeai-glue",
        ("registry.auth.serviceAccountRoles.cv/trainer=writer",),
        ("at '/registry/auth/serviceAccountRoles'", "'cv/trainer' not allowed"),
    ),
    "glue-auth-no-audience": Case(
        "kubeai-glue",
        ("registry.auth.kubernetes.audiences=null",),
        ("at '/registry/auth/kubernetes'", "audiences"),
    ),
    "glue-auth-cache-too-long": Case(
        "kubeai-glue",
        ("registry.auth.kubernetes.cacheSeconds=3600",),
        ("at '/registry/auth/kubernetes/cacheSeconds'", "maximum"),
    ),
    "triton-token-typo-key": Case(
        "triton-inference",
        ("registry.token.audiences=x",),
        ("at '/registry/token'", "additional properties 'audiences' not allowed"),
    ),
    "triton-token-too-short": Case(
        "triton-inference",
        ("registry.token.expirationSeconds=60",),
        ("at '/registry/token/expirationSeconds'", "minimum"),
    ),
    "triton-token-empty-audience": Case(
        "triton-inference",
        ("registry.token.audience=",),
        ("at '/registry/token/audience'",),
    ),
    "glue-library-values": Case(
        "kubeai-glue", ("kubeai-common.debug=true",), ("at '/kubeai-common'", "'debug'")
    ),
    "triton-library-values": Case(
        "triton-inference", ("kubeai-common.debug=true",), ("at '/kubeai-common'", "'debug'")
    ),
    "glue-controller-typo-key": Case(
        "kubeai-glue",
        ("controller.replcas=2",),
        ("at '/controller'", "additional properties 'replcas' not allowed"),
    ),
    "glue-controller-bad-anti-affinity": Case(
        "kubeai-glue",
        ("controller.podAntiAffinity=always",),
        ("at '/controller/podAntiAffinity'", "'soft', 'hard', 'none'"),
    ),
    "glue-controller-no-replicas": Case(
        "kubeai-glue", ("controller.replicas=0",), ("at '/controller/replicas'", "minimum")
    ),
    "glue-controller-bad-team-label": Case(
        "kubeai-glue", ("controller.teamLabel=not a label",), ("at '/controller/teamLabel'",)
    ),
    "glue-controller-short-token": Case(
        "kubeai-glue",
        ("controller.registryTokenExpirationSeconds=60",),
        ("at '/controller/registryTokenExpirationSeconds'", "minimum"),
    ),
}

TEMPLATE_CASES = {
    "glue-image-tag-required": Case(
        "kubeai-glue",
        ("image.repository=ghcr.io/acme/kubeai-glue",),
        ("image.tag is required",),
        with_ci_values=False,
    ),
    "glue-image-repository-required": Case(
        "kubeai-glue", ("image.tag=abc123",), ("image.repository is required",), False
    ),
    "glue-sqlite-single-replica": Case(
        "kubeai-glue",
        ("registry.replicas=2",),
        ("registry.replicas is 2 but database.type is sqlite",),
    ),
    "glue-postgresql-needs-dsn": Case(
        "kubeai-glue",
        ("database.type=postgresql",),
        ("database.postgresql.existingSecret", "database.postgresql.url"),
    ),
    "glue-file-scheme-needs-root": Case(
        "kubeai-glue", ("artifacts.allowedSchemes={s3,file}",), ("artifacts.local.root",)
    ),
    "glue-existing-claim-needs-root": Case(
        "kubeai-glue",
        ("artifacts.local.existingClaim=models",),
        ("artifacts.local.existingClaim is set", "artifacts.local.root"),
    ),
    "glue-protected-metrics-need-a-token": Case(
        "kubeai-glue",
        ("registry.auth.protectMetrics=true", "serviceMonitor.enabled=true"),
        ("registry.auth.protectMetrics", "serviceMonitor.bearerTokenSecret.name"),
    ),
    "glue-controller-needs-token-review": Case(
        "kubeai-glue",
        ("registry.auth.kubernetes.enabled=false", "registry.auth.oidc.issuer=https://sso.test"),
        ("controller.enabled needs registry.auth.kubernetes.enabled",),
    ),
    "glue-controller-ports-differ": Case(
        "kubeai-glue",
        ("controller.metricsPort=9000", "controller.healthPort=9000"),
        ("controller.metricsPort and controller.healthPort are both 9000",),
    ),
    "triton-file-scheme-needs-root": Case(
        "triton-inference",
        ("artifacts.allowedSchemes={s3,file}",),
        ("artifacts.allowedSchemes contains file", "artifacts.local.root"),
    ),
    "triton-existing-claim-needs-root": Case(
        "triton-inference",
        ("artifacts.local.existingClaim=models",),
        ("artifacts.local.existingClaim is set", "artifacts.local.root"),
    ),
    "triton-registry-url-required": Case(
        "triton-inference",
        ("agent.image.repository=ghcr.io/acme/kubeai-glue", "agent.image.tag=abc123"),
        ("registry.url is required",),
        with_ci_values=False,
    ),
    "triton-agent-tag-required": Case(
        "triton-inference",
        ("registry.url=http://registry:8080", "agent.image.repository=ghcr.io/acme/glue"),
        ("agent.image.tag is required",),
        with_ci_values=False,
    ),
    "triton-hpa-min-above-max": Case(
        "triton-inference",
        ("autoscaling.minReplicas=5", "autoscaling.maxReplicas=2"),
        ("autoscaling.minReplicas (5) must not exceed autoscaling.maxReplicas (2)",),
    ),
    "triton-hpa-needs-cpu-requests": Case(
        "triton-inference",
        ("tritonserver.resources.requests.cpu=null",),
        ("tritonserver.resources.requests.cpu",),
    ),
    "triton-chart-owned-flag": Case(
        "triton-inference",
        ("tritonserver.extraArgs={--model-control-mode=poll}",),
        ("tritonserver.extraArgs must not contain --model-control-mode",),
    ),
    "triton-no-latency-summaries": Case(
        "triton-inference",
        ("tritonserver.extraArgs={--metrics-config=summary_latencies=false}",),
        ("must not contain --metrics-config=summary_latencies=false", "canary gate"),
    ),
    "triton-no-metrics": Case(
        "triton-inference",
        ("tritonserver.extraArgs={--allow-metrics=false}",),
        ("must not contain --allow-metrics=false",),
    ),
    "triton-no-grpc": Case(
        "triton-inference",
        ("tritonserver.extraArgs={--allow-grpc=false}",),
        ("must not contain --allow-grpc=false", "gRPC endpoint"),
    ),
    "triton-grace-period-too-short": Case(
        "triton-inference",
        ("terminationGracePeriodSeconds=10",),
        ("terminationGracePeriodSeconds (10)", "exitTimeoutSeconds"),
    ),
}


def _template(helm_tools: HelmTools, case: Case, *, v4: bool = False) -> str:
    args: list[str | object] = ["template", "svc", chart_path(case.chart)]
    if case.with_ci_values:
        args += ["--values", GLUE_CI if case.chart == "kubeai-glue" else TRITON_CI]
    for item in case.sets:
        args += ["--set", item]
    result = helm_tools.run(*args, v4=v4, check=False)  # type: ignore[arg-type]
    assert result.returncode != 0, f"helm accepted {case.sets}:\n{result.stdout[:2000]}"
    return result.stderr


def _assert_names(message: str, case: Case) -> None:
    missing = [text for text in case.expected if text not in message]
    assert not missing, f"error for {case.sets} lacks {missing}:\n{message}"


@pytest.mark.parametrize("case", SCHEMA_CASES.values(), ids=SCHEMA_CASES.keys())
@pytest.mark.parametrize("v4", [False, True], ids=["helm3", "helm4"])
def test_schema_rejects_with_the_key_path(helm_tools: HelmTools, case: Case, v4: bool) -> None:
    """values.schema.json refuses the value and the error names its path."""
    message = _template(helm_tools, case, v4=v4)
    assert "values don't meet the specifications of the schema" in message
    _assert_names(message, case)


@pytest.mark.parametrize("case", TEMPLATE_CASES.values(), ids=TEMPLATE_CASES.keys())
def test_templates_reject_with_a_clear_message(helm_tools: HelmTools, case: Case) -> None:
    """Cross-field rules and required values fail rendering with a message naming the keys."""
    _assert_names(_template(helm_tools, case), case)


def test_lint_of_the_bare_chart_names_the_required_image(helm_tools: HelmTools) -> None:
    """The glue image has no default. ``helm lint`` (which reports ``required`` values instead
    of failing on them) still passes on the bare chart and names the missing values, while
    ``helm template`` refuses to render."""
    result = helm_tools.run("lint", "--strict", chart_path("kubeai-glue"))
    assert "image.repository is required" in result.output
    assert "image.tag is required" in result.output
    rendered = helm_tools.run("template", "svc", chart_path("kubeai-glue"), check=False)
    assert rendered.returncode != 0
    assert "image.repository is required" in rendered.stderr


def test_template_refuses_no_authenticator_without_the_schema(helm_tools: HelmTools) -> None:
    """With schema validation skipped, the template still refuses a registry with no
    authenticator (it would exit at start: it binds 0.0.0.0) and names the three ways."""
    result = helm_tools.run(
        "template",
        "svc",
        chart_path("kubeai-glue"),
        "--values",
        GLUE_CI,
        "--set",
        "registry.auth.kubernetes.enabled=false",
        "--skip-schema-validation",
        check=False,
    )
    assert result.returncode != 0
    for key in (
        "registry.auth.kubernetes.enabled",
        "registry.auth.oidc.issuer",
        "registry.auth.staticTokens.existingSecret",
    ):
        assert key in result.stderr
