"""The model-iteration pipeline as Argo manifests, authored with hera (pure ``build_*`` functions
returning dicts; team stacks install them, ``kubeai pipeline submit`` starts them).

``build_workflow_template`` renders the per-team WorkflowTemplate ``model-iteration``; its entry
template runs these steps, each a node of the workflow:

1. ``prepare``: ``kubeai pipeline step prepare-job`` checks the ``training-job`` parameter (a
   kubeflow.org/v1 PyTorchJob manifest, YAML or JSON) and prints it with the label
   ``kubeai.dev/model: <model>``, ``generateName: <workflow>-`` when it names no object and no
   namespace (the step creates it in the workflow's); a bad manifest fails here, named.
2. ``warm-cache`` (only with a ``dataset``): a Fluid ``DataLoad`` of that Dataset, created as a
   resource step owned by the workflow; done at phase ``Complete``, failed at ``Failed``
   (``conditions.DATALOAD_SUCCESS``/``DATALOAD_FAILURE``).
3. ``train``: the prepared job, created as a resource step with ``setOwnerReference: true``
   (deleting the workflow deletes the job) and the conditions ``conditions.TRAINING_SUCCESS``/
   ``TRAINING_FAILURE``, which read the operator's terminal conditions and never count its
   transient states (Created, Running, Restarting, Suspended) as failure. Outputs
   ``job-name``, ``job-uid``.
4. ``wait-version``: ``kubeai pipeline step wait-version`` polls the registry for the version
   whose source uid is the job's (the lifecycle controller registers it); outputs ``version``.
   It stops at once when the registry refuses the lookup (a 4xx but 404) or the controller
   recorded ``TrainingFailed``/``RegistrationFailed`` on the job (read with the workflow's
   ServiceAccount: ``get`` on the job kind, ``list`` on events), with the Event's reason.
5. ``canary``: ``kubeai pipeline step canary`` assigns it to ``service`` as canary with
   ``canary-share`` of the replicas.
6. ``verify``: ``kubeai pipeline step verify`` waits until every canary pod reports the version
   READY (registry observed state; at most ``canary-ready-timeout`` seconds), then for
   ``verify-window`` seconds of its traffic, then runs the metric gate
   (``glue.pipelines.gate.wait_and_verify``) over that window with the thresholds
   ``max-error-ratio``, ``max-p99-latency-ms``
   (milliseconds the canary's p99 may exceed the stable version's) and ``max-p99-ratio`` (canary
   p99 / stable p99; an empty latency bound is not judged), once the canary served
   ``min-requests``; outputs ``passed`` (``true``/``false``) and ``reason``. A canary that does
   not become READY in time does not pass, and its reason says which pods hold what. The wait
   is part of this step rather than a step of its own so that its failure is a verdict like any
   other: ``reason`` reaches ``rollback`` through the one ``passed``/``reason`` pair, with no
   second step to continue past and merge. A crashed verify counts as not passed
   (``continueOn.failed``, default ``false``).
7. ``release`` (passed: move ``production``) or ``rollback`` (clear the canary, record the
   reason).

Every container step runs the glue image (``PipelineSettings.image``) as the workflow
ServiceAccount, reaches the registry at ``registry_url`` in the team and, with an ``audience``,
presents a projected ServiceAccount token for it (``KUBEAI_REGISTRY_TOKEN_FILE``). Canary,
release and rollback need ``promote`` in the team: the registry grants it to
``system:serviceaccount:<team>:kubeai-workflow`` by default (``AuthSettings.service_account_roles``;
other ServiceAccounts are writers).

``build_cron_workflow`` renders a CronWorkflow that runs the template on a schedule (periodic
retraining); ``build_workflow`` one run, as ``kubeai pipeline submit`` creates it. Both refuse
parameter values a step would refuse later (``glue.pipelines.parameters.check_parameters``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from hera.workflows import (
    Container,
    CronWorkflow,
    Parameter,
    Resource,
    Step,
    Steps,
    Workflow,
    WorkflowTemplate,
)
from hera.workflows import models as m

from glue.pipelines import conditions
from glue.pipelines.parameters import check_parameters

#: Name of the per-team WorkflowTemplate.
TEMPLATE_NAME = "model-iteration"
#: ServiceAccount the team stack creates for workflow pods (``infra.addons.argo``).
SERVICE_ACCOUNT = "kubeai-workflow"
API_VERSION = "argoproj.io/v1alpha1"
#: Label on every pipeline object: which pipeline (``model-iteration``).
PIPELINE_LABEL = "kubeai.dev/pipeline"
MODEL_LABEL = "kubeai.dev/model"
FLUID_API = "data.fluid.io/v1alpha1"
#: Where the projected registry token is mounted in step containers.
TOKEN_DIR = "/var/run/secrets/kubeai/registry"  # noqa: S105 - a mount path
TOKEN_SECONDS = 3600
#: Where container steps write their output parameters.
OUTPUT_DIR = "/tmp/outputs"  # noqa: S108 - a path inside the step's own container

#: The template's parameters: name -> (default or None when required, description).
PARAMETERS: dict[str, tuple[str | None, str]] = {
    "model": (None, "Registry model the job trains (label kubeai.dev/model on the job)."),
    "training-job": (None, "kubeflow.org/v1 PyTorchJob manifest (YAML or JSON) to run."),
    "service": (None, "Inference service that gets the new version as canary."),
    "dataset": ("", "Fluid Dataset in the team namespace to warm first (empty: no warm-up)."),
    "canary-share": ("0.2", "Share of the service's replicas serving the canary (0 < x < 1)."),
    "version-timeout": ("3600", "Seconds to wait for the job's version in the registry."),
    "canary-ready-timeout": (
        "600",
        "Seconds verify waits for every canary pod to report the version READY.",
    ),
    "verify-window": ("300", "Seconds of canary traffic the gate waits for and compares."),
    "max-error-ratio": ("0.01", "Highest error ratio (errors/requests) the canary may show."),
    "max-p99-latency-ms": (
        "50",
        "Milliseconds the canary's p99 latency may exceed the stable version's (empty: not "
        "judged).",
    ),
    "max-p99-ratio": (
        "",
        "Highest ratio of the canary's p99 latency to the stable version's (empty: not judged).",
    ),
    "min-requests": ("20", "Canary requests the gate needs in its window to judge."),
}

#: Requests and limits of every container step (team namespaces' quota counts them).
STEP_RESOURCES = m.ResourceRequirements(
    requests={"cpu": m.Quantity("50m"), "memory": m.Quantity("128Mi")},
    limits={"cpu": m.Quantity("500m"), "memory": m.Quantity("256Mi")},
)


@dataclass(frozen=True)
class PipelineSettings:
    """What the team stack knows when it renders the pipeline.

    Attributes:
        namespace: the team namespace (objects live there; the registry team is named alike).
        team: the registry team the steps act in.
        image: the glue image (``PlatformOutputs.glue_image``), pinned.
        registry_url: in-cluster registry URL (``PlatformOutputs.registry_url``).
        audience: audience of the projected token presented to the registry, or None (the
            registry reviews no ServiceAccount tokens: no token is mounted).
        image_pull_secrets: Secret names for pulling the glue image.
    """

    namespace: str
    team: str
    image: str
    registry_url: str
    audience: str | None = None
    image_pull_secrets: tuple[str, ...] = field(default_factory=tuple)


def _param(name: str) -> str:
    return f"{{{{workflow.parameters.{name}}}}}"


def _step_container(
    settings: PipelineSettings,
    name: str,
    args: list[str],
    *,
    inputs: list[str] = (),  # type: ignore[assignment]
    outputs: Mapping[str, str | None] | None = None,
) -> Container:
    """A container step running ``kubeai pipeline step <args>`` in the glue image; ``outputs``
    names output parameters read from ``OUTPUT_DIR/<name>`` (with an optional default)."""
    env = [
        m.EnvVar(name="KUBEAI_REGISTRY_URL", value=settings.registry_url),
        m.EnvVar(name="KUBEAI_TEAM", value=settings.team),
        m.EnvVar(name="KUBEAI_PIPELINE_OUTPUTS", value=OUTPUT_DIR),
    ]
    mounts = [m.VolumeMount(name="outputs", mount_path=OUTPUT_DIR)]
    if settings.audience:
        env.append(m.EnvVar(name="KUBEAI_REGISTRY_TOKEN_FILE", value=f"{TOKEN_DIR}/token"))
        mounts.append(m.VolumeMount(name="registry-token", mount_path=TOKEN_DIR, read_only=True))
    return Container(
        name=name,
        image=settings.image,
        command=["python", "-m", "glue.cli.main", "pipeline", "step"],
        args=args,
        env=env,
        volume_mounts=mounts,
        volumes=[m.Volume(name="outputs", empty_dir=m.EmptyDirVolumeSource())],
        resources=STEP_RESOURCES,
        security_context=m.SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=m.Capabilities(drop=["ALL"]),
        ),
        inputs=[Parameter(name=n) for n in inputs],
        outputs=[
            Parameter(
                name=key,
                value_from=m.ValueFrom(path=f"{OUTPUT_DIR}/{key}", default=default),
            )
            for key, default in (outputs or {}).items()
        ],
    )


def _dataload_manifest() -> str:
    """The DataLoad the warm-cache step creates (field names from the pinned Fluid CRD)."""
    return yaml.safe_dump(
        {
            "apiVersion": FLUID_API,
            "kind": "DataLoad",
            "metadata": {
                "generateName": "{{workflow.name}}-warm-",
                "labels": {PIPELINE_LABEL: TEMPLATE_NAME, MODEL_LABEL: _param("model")},
            },
            "spec": {
                "dataset": {"name": _param("dataset"), "namespace": "{{workflow.namespace}}"},
                "loadMetadata": True,
                "target": [{"path": "/"}],
            },
        },
        sort_keys=False,
    )


def _workflow_volumes(settings: PipelineSettings) -> list[m.Volume]:
    if not settings.audience:
        return []
    token = m.ServiceAccountTokenProjection(
        audience=settings.audience, expiration_seconds=TOKEN_SECONDS, path="token"
    )
    return [
        m.Volume(
            name="registry-token",
            projected=m.ProjectedVolumeSource(
                sources=[m.VolumeProjection(service_account_token=token)]
            ),
        )
    ]


def build_workflow_template(settings: PipelineSettings) -> dict[str, Any]:
    """The WorkflowTemplate ``model-iteration`` of one team (module docstring), as a manifest."""
    arguments = [
        Parameter(name=name, description=text)
        if default is None
        else Parameter(name=name, description=text, value=default)
        for name, (default, text) in PARAMETERS.items()
    ]
    with WorkflowTemplate(
        api_version=API_VERSION,
        kind="WorkflowTemplate",
        name=TEMPLATE_NAME,
        namespace=settings.namespace,
        labels={"app.kubernetes.io/part-of": "kubeai", PIPELINE_LABEL: TEMPLATE_NAME},
        entrypoint="iterate",
        arguments=arguments,
        service_account_name=SERVICE_ACCOUNT,
        image_pull_secrets=[m.LocalObjectReference(name=n) for n in settings.image_pull_secrets]
        or None,
        security_context=m.PodSecurityContext(
            run_as_non_root=True, seccomp_profile=m.SeccompProfile(type="RuntimeDefault")
        ),
        volumes=_workflow_volumes(settings) or None,
    ) as template:
        prepare = _step_container(
            settings,
            "prepare-job",
            [
                "prepare-job",
                *["--model", _param("model"), "--job", _param("training-job")],
                *["--namespace", "{{workflow.namespace}}"],
            ],
            outputs={"manifest": None},
        )
        warm = Resource(
            name="warm-cache",
            action="create",
            set_owner_reference=True,
            manifest=_dataload_manifest(),
            success_condition=conditions.DATALOAD_SUCCESS,
            failure_condition=conditions.DATALOAD_FAILURE,
        )
        train = Resource(
            name="train",
            action="create",
            set_owner_reference=True,
            manifest="{{inputs.parameters.manifest}}",
            success_condition=conditions.TRAINING_SUCCESS,
            failure_condition=conditions.TRAINING_FAILURE,
            inputs=[Parameter(name="manifest")],
            outputs=[
                Parameter(name="job-name", value_from=m.ValueFrom(json_path="{.metadata.name}")),
                Parameter(name="job-uid", value_from=m.ValueFrom(json_path="{.metadata.uid}")),
                Parameter(name="job-kind", value_from=m.ValueFrom(json_path="{.kind}")),
            ],
        )
        model = ["--model", _param("model")]
        service = ["--service", _param("service")]
        wait = _step_container(
            settings,
            "wait-version",
            [
                "wait-version",
                *model,
                *["--job-uid", "{{inputs.parameters.job-uid}}"],
                *["--job-kind", "{{inputs.parameters.job-kind}}"],
                *["--job-name", "{{inputs.parameters.job-name}}"],
                *["--namespace", "{{workflow.namespace}}"],
                *["--timeout", _param("version-timeout")],
            ],
            inputs=["job-uid", "job-kind", "job-name"],
            outputs={"version": None},
        )
        version = ["--version", "{{inputs.parameters.version}}"]
        canary = _step_container(
            settings,
            "canary",
            ["canary", *service, *model, *version, "--share", _param("canary-share")],
            inputs=["version"],
        )
        verify = _step_container(
            settings,
            "verify",
            [
                "verify",
                *service,
                *model,
                *version,
                "--ready-timeout",
                _param("canary-ready-timeout"),
                "--window",
                _param("verify-window"),
                "--max-error-ratio",
                _param("max-error-ratio"),
                "--max-p99-ms",
                _param("max-p99-latency-ms"),
                "--max-p99-ratio",
                _param("max-p99-ratio"),
                "--min-requests",
                _param("min-requests"),
            ],
            inputs=["version"],
            outputs={"passed": "false", "reason": "the verify step failed before a verdict"},
        )
        decide = [*service, *model, *version, "--reason", "{{inputs.parameters.reason}}"]
        release = _step_container(
            settings, "release", ["release", *decide], inputs=["version", "reason"]
        )
        rollback = _step_container(
            settings, "rollback", ["rollback", *decide], inputs=["version", "reason"]
        )
        got_version = "{{steps.wait-version.outputs.parameters.version}}"
        verdict = [
            Parameter(name="version", value=got_version),
            Parameter(name="reason", value="{{steps.verify.outputs.parameters.reason}}"),
        ]
        passed = "{{steps.verify.outputs.parameters.passed}}"
        with Steps(name="iterate"):
            Step(name="prepare", template=prepare)
            Step(name="warm-cache", template=warm, when=f"'{_param('dataset')}' != ''")
            Step(
                name="train",
                template=train,
                arguments=[
                    Parameter(
                        name="manifest", value="{{steps.prepare.outputs.parameters.manifest}}"
                    )
                ],
            )
            Step(
                name="wait-version",
                template=wait,
                arguments=[
                    Parameter(name=key, value=f"{{{{steps.train.outputs.parameters.{key}}}}}")
                    for key in ("job-uid", "job-kind", "job-name")
                ],
            )
            Step(name="canary", template=canary, arguments=[verdict[0]])
            Step(
                name="verify",
                template=verify,
                arguments=[verdict[0]],
                continue_on=m.ContinueOn(failed=True),
            )
            Step(name="release", template=release, arguments=verdict, when=f"{passed} == true")
            Step(name="rollback", template=rollback, arguments=verdict, when=f"{passed} != true")
    return template.to_dict()


def _arguments(parameters: Mapping[str, str]) -> list[Parameter]:
    """Workflow arguments for ``parameters``; ``ValueError`` naming an unknown parameter."""
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: no parameter of {TEMPLATE_NAME} "
            f"(parameters: {', '.join(PARAMETERS)})"
        )
    return [Parameter(name=k, value=str(v)) for k, v in parameters.items()]


def _check(parameters: Mapping[str, str]) -> None:
    """``ValueError`` naming a missing parameter; ``ParameterError`` naming a bad value."""
    if missing := missing_parameters(parameters):
        raise ValueError(f"{', '.join(missing)}: required by {TEMPLATE_NAME}")
    check_parameters(parameters)


def missing_parameters(parameters: Mapping[str, str]) -> list[str]:
    """Required parameters of the template that ``parameters`` does not give."""
    return [n for n, (default, _) in PARAMETERS.items() if default is None and n not in parameters]


def build_cron_workflow(
    namespace: str,
    name: str,
    *,
    schedule: str,
    timezone: str,
    parameters: Mapping[str, str],
    suspend: bool = False,
) -> dict[str, Any]:
    """A CronWorkflow ``name`` running the team's ``model-iteration`` on ``schedule`` (cron
    syntax, in ``timezone``) with ``parameters`` (template parameter name -> value; every
    required one). A run never overlaps the previous one (``concurrencyPolicy: Forbid``).

    Raises ``ValueError`` naming an unknown or missing parameter, and ``ParameterError`` (a
    ``ValueError``) naming each invalid value.
    """
    _check(parameters)
    cron = CronWorkflow(
        api_version=API_VERSION,
        kind="CronWorkflow",
        name=name,
        namespace=namespace,
        labels={"app.kubernetes.io/part-of": "kubeai", PIPELINE_LABEL: TEMPLATE_NAME},
        schedules=[schedule],
        timezone=timezone,
        concurrency_policy="Forbid",
        starting_deadline_seconds=600,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=3,
        cron_suspend=suspend or None,
        workflow_template_ref=m.WorkflowTemplateRef(name=TEMPLATE_NAME),
        arguments=_arguments(parameters),
    )
    return cron.to_dict()


def build_workflow(namespace: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    """One run of the team's ``model-iteration`` (``generateName: model-iteration-``) with
    ``parameters``. Raises ``ValueError`` naming an unknown or missing parameter, and
    ``ParameterError`` (a ``ValueError``) naming each invalid value."""
    _check(parameters)
    workflow = Workflow(
        api_version=API_VERSION,
        kind="Workflow",
        generate_name=f"{TEMPLATE_NAME}-",
        namespace=namespace,
        labels={PIPELINE_LABEL: TEMPLATE_NAME, MODEL_LABEL: parameters["model"]},
        workflow_template_ref=m.WorkflowTemplateRef(name=TEMPLATE_NAME),
        arguments=_arguments(parameters),
    )
    return workflow.to_dict()
