"""The team's pipeline objects: the WorkflowTemplate ``model-iteration`` and one CronWorkflow per
``kubeai:pipelines.retraining`` entry (``infra.config.pipelines``), rendered by
``glue.pipelines.templates`` with what the platform exports (glue image, registry URL and
audience, pull secrets). Pure: ``TeamTenancy`` creates exactly these, the tests validate and
apply them."""

from __future__ import annotations

from typing import Any

from glue.pipelines.templates import (
    PipelineSettings,
    build_cron_workflow,
    build_workflow_template,
)
from infra.config import PlatformOutputs, TeamConfig


def pipeline_settings(config: TeamConfig, platform: PlatformOutputs) -> PipelineSettings:
    """What the pipeline's steps need of the team and its platform."""
    team = config.team.name
    return PipelineSettings(
        namespace=team,
        team=team,
        image=platform.glue_image,
        registry_url=platform.registry_url,
        audience=platform.registry_audience,
        image_pull_secrets=tuple(
            dict.fromkeys(
                [
                    *platform.glue_image_pull_secrets,
                    *platform.image_pull_secrets,
                    *config.image_pull_secrets,
                ]
            )
        ),
    )


def pipeline_manifests(config: TeamConfig, platform: PlatformOutputs) -> list[dict[str, Any]]:
    """The WorkflowTemplate, then the CronWorkflows in config order; empty when
    ``kubeai:pipelines.modelIteration`` is false."""
    pipelines = config.pipelines
    if not pipelines.model_iteration:
        return []
    out = [build_workflow_template(pipeline_settings(config, platform))]
    out += [
        build_cron_workflow(
            config.team.name,
            entry.name,
            schedule=entry.schedule,
            timezone=entry.timezone,
            parameters=entry.parameters(),
            suspend=entry.suspend,
        )
        for entry in pipelines.retraining
    ]
    return out
