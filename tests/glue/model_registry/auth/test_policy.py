"""Roles of ServiceAccounts and controllers, the rules that narrow them, and bindings."""

from __future__ import annotations

import pytest

from glue.model_registry.auth.policy import Policy
from glue.model_registry.auth.principal import LOCAL, Forbidden, Principal
from glue.model_registry.auth.settings import AuthSettings


def _sa(namespace: str, name: str, pod: str | None = None) -> Principal:
    return Principal(
        name=f"system:serviceaccount:{namespace}:{name}",
        groups=frozenset({"system:serviceaccounts"}),
        method="kubernetes",
        pod=pod,
    )


POLICY = Policy(
    AuthSettings.model_validate(
        {
            "controllers": ["kubeai-system/lifecycle"],
            "bindings": [{"team": "*", "role": "reader", "groups": ["auditors"]}],
        }
    )
)


def test_a_service_account_writes_in_its_namespace_team_only() -> None:
    trainer = _sa("cv", "trainer")
    assert POLICY.roles(trainer, "cv") == {"writer"}
    assert POLICY.roles(trainer, "search") == set()
    assert POLICY.readable_teams(trainer) == {"cv"}
    POLICY.require_source(trainer, "cv", "cv")
    with pytest.raises(Forbidden, match="only from jobs in namespace 'cv'"):
        POLICY.require_source(trainer, "cv", "search")


def test_the_controller_writes_everywhere_but_only_for_jobs_of_the_models_team() -> None:
    controller = _sa("kubeai-system", "lifecycle")
    assert POLICY.allows(controller, "search", "write")
    assert not POLICY.allows(controller, "search", "promote")
    POLICY.require_source(controller, "search", "search")
    with pytest.raises(Forbidden) as refused:
        POLICY.require_source(controller, "search", "cv")
    assert refused.value.field == "body.source.namespace"


def test_only_the_controller_or_an_admin_syncs_datasets_and_only_of_the_teams_namespace() -> None:
    controller = _sa("kubeai-system", "lifecycle")
    POLICY.require_dataset_source(controller, "cv", "cv")
    with pytest.raises(Forbidden) as refused:  # the trial: team cv, source.namespace nlp
        POLICY.require_dataset_source(controller, "cv", "nlp")
    assert refused.value.field == "body.source.namespace"
    trainer = _sa("cv", "trainer")  # a training pod's account: a writer of cv, yet no sync
    with pytest.raises(Forbidden, match="only the lifecycle controller") as refused:
        POLICY.require_dataset_source(trainer, "cv", "cv")
    assert refused.value.field == "body.source"
    writer = Principal(name="carol", method="static")
    POLICY.require_dataset_source(writer, "cv", "cv")
    with pytest.raises(Forbidden):
        POLICY.require_dataset_source(writer, "cv", "nlp")
    POLICY.require_dataset_source(LOCAL, "cv", "nlp")  # an admin


def test_a_user_named_like_a_service_account_is_not_one() -> None:
    impostor = Principal(name="system:serviceaccount:cv:trainer", method="static")
    assert impostor.service_account is None and POLICY.roles(impostor, "cv") == set()


def test_pod_reports_need_the_pod_bound_token_of_the_services_account() -> None:
    agent = _sa("cv", "digits", pod="digits-0")
    POLICY.require_pod(agent, "cv", pod="digits-0", service_account="digits", action="report")
    POLICY.require_pod(agent, "cv", pod="digits-0", service_account=None, action="report")
    with pytest.raises(Forbidden) as other_pod:
        POLICY.require_pod(agent, "cv", pod="digits-1", service_account="digits", action="report")
    assert other_pod.value.field == "path.pod"
    with pytest.raises(Forbidden) as other_service:
        POLICY.require_pod(agent, "cv", pod="digits-0", service_account="ranker", action="report")
    assert other_service.value.field == "path.service"
    unbound = _sa("cv", "digits")
    with pytest.raises(Forbidden, match="bound to no pod"):
        POLICY.require_pod(unbound, "cv", pod="digits-0", service_account=None, action="report")
    with pytest.raises(Forbidden):
        POLICY.require_pod(
            _sa("search", "digits", pod="digits-0"),
            "cv",
            pod="digits-0",
            service_account=None,
            action="report",
        )


def test_star_bindings_and_the_open_registry() -> None:
    auditor = Principal(name="eve", groups=frozenset({"auditors"}))
    assert POLICY.allows(auditor, "any-team", "read")
    assert not POLICY.allows(auditor, "any-team", "write")
    assert POLICY.readable_teams(auditor) is None
    assert POLICY.is_admin(LOCAL) and POLICY.role_map(LOCAL) == {"*": ["admin"]}


def test_service_account_role_none_grants_nothing() -> None:
    policy = Policy(AuthSettings(service_account_role="none"))
    assert policy.roles(_sa("cv", "trainer"), "cv") == set()
    assert policy.readable_teams(_sa("cv", "trainer")) == set()


#: ServiceAccount -> (read, write, promote) in team cv under the default settings: the
#: pipeline's account of the team's namespace promotes, any other of it writes; accounts of
#: another namespace (the pipeline's included) and the controller's promote nowhere.
ACCOUNT_MATRIX = {
    ("cv", "kubeai-workflow"): (True, True, True),
    ("cv", "trainer"): (True, True, False),
    ("search", "kubeai-workflow"): (False, False, False),
    ("kubeai-system", "lifecycle"): (True, True, False),
}


@pytest.mark.parametrize("account", ACCOUNT_MATRIX)
def test_service_account_matrix(account: tuple[str, str]) -> None:
    principal = _sa(*account)
    got = tuple(POLICY.allows(principal, "cv", a) for a in ("read", "write", "promote"))
    assert got == ACCOUNT_MATRIX[account]


def test_the_pipelines_account_promotes_in_its_namespace_team_only() -> None:
    workflow = _sa("cv", "kubeai-workflow")
    assert POLICY.roles(workflow, "cv") == {"promoter"}
    assert POLICY.roles(workflow, "search") == set()
    assert POLICY.role_map(workflow) == {"cv": ["promoter"]}
    POLICY.require(workflow, "cv", "promote")
    with pytest.raises(Forbidden, match="has no role"):
        POLICY.require(workflow, "search", "promote")
    POLICY.require_initial_assignments(workflow, "cv", service_account=None)


def test_service_account_roles_override_the_default_role_by_name() -> None:
    policy = Policy(
        AuthSettings(
            service_account_role="reader",
            service_account_roles={"trainer": "writer", "kubeai-workflow": "none"},
        )
    )
    assert policy.roles(_sa("cv", "trainer"), "cv") == {"writer"}
    assert policy.roles(_sa("cv", "other"), "cv") == {"reader"}
    assert policy.roles(_sa("cv", "kubeai-workflow"), "cv") == set()
    assert policy.readable_teams(_sa("cv", "kubeai-workflow")) == set()
    added = AuthSettings(service_account_roles={"trainer": "agent"}).service_account_roles
    assert added == {"kubeai-workflow": "promoter", "trainer": "agent"}  # added to the default
    none = Policy(AuthSettings(service_account_role="none"))
    assert none.roles(_sa("cv", "kubeai-workflow"), "cv") == {"promoter"}  # the default map
    assert none.readable_teams(_sa("cv", "kubeai-workflow")) == {"cv"}


def test_the_default_map_names_the_pipelines_account() -> None:
    from glue.pipelines.templates import SERVICE_ACCOUNT

    assert AuthSettings().service_account_roles == {SERVICE_ACCOUNT: "promoter"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"service_account_roles": {"cv/kubeai-workflow": "promoter"}}, "no namespace"),
        ({"service_account_roles": {"kubeai-workflow": "owner"}}, "promoter"),
        ({"controllers": ["lifecycle"]}, "namespace/name"),
        ({"bindings": [{"team": "CV", "role": "reader"}]}, "DNS-1123"),
        ({"bindings": [{"team": "cv", "role": "owner"}]}, "reader"),
        ({"static_tokens_file": "/nonexistent/tokens.csv"}, "is not a file"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuthSettings.model_validate(settings)


def test_a_writer_account_of_the_namespace_forgets_only_its_own_pod() -> None:
    """The trial's input: a pod-bound token of account ``other`` forgot a pod of a service
    running as ``agent`` (the default writer role let it)."""
    other = _sa("cv", "other", pod="other-0")
    with pytest.raises(Forbidden):
        POLICY.require_pod(other, "cv", pod="web-0", service_account="agent", action="write")
    POLICY.require_pod(other, "cv", pod="other-0", service_account=None, action="write")
    controller = _sa("kubeai-system", "lifecycle")  # a writer from outside: the role decides
    POLICY.require_pod(controller, "cv", pod="web-0", service_account="agent", action="write")
