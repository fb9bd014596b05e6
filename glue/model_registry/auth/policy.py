"""Authorization: which principal may do what in which team.

Permissions per team: ``read`` (GET), ``write`` (create models and services, register versions
and datasets, forget pods), ``promote`` (move and roll back aliases, change a service's
assignments: both change what is served) and ``report`` (a serving agent's pod status).

Roles grant permissions: reader = read; agent = read + report; writer = read + write;
promoter = read + write + promote. Platform admins may do everything everywhere.

Where roles come from:
- ``AuthSettings.bindings``: a user or group gets a role in a team (or ``*``, every team).
- A Kubernetes ServiceAccount has ``service_account_role`` in the team named like its
  namespace, or the role ``service_account_roles`` maps its name to (by default the pipeline's
  ``kubeai-workflow`` is a promoter); the lifecycle controllers (``AuthSettings.controllers``)
  are writers in every team.
- The caller of an open registry (``LOCAL``) is a platform admin.

Three rules narrow what ServiceAccounts may do: a version a ServiceAccount registers must come
from a job in the model's team's namespace; only a lifecycle controller's ServiceAccount (or an
admin) may sync a dataset from a Fluid Dataset, and, for every caller but an admin, only a
Dataset of the team's namespace; and a pod report by a ServiceAccount must be for the
pod its token is bound to, of a service whose pods run as that account.
"""

from __future__ import annotations

from typing import Literal

from glue.model_registry.auth.principal import Forbidden, Principal
from glue.model_registry.auth.settings import AuthSettings, Role, TeamBinding

Action = Literal["read", "write", "promote", "report"]

PERMISSIONS: dict[Role, frozenset[Action]] = {
    "reader": frozenset({"read"}),
    "agent": frozenset({"read", "report"}),
    "writer": frozenset({"read", "write"}),
    "promoter": frozenset({"read", "write", "promote"}),
}

#: The role each action needs at least (for error messages).
NEEDS: dict[Action, Role] = {
    "read": "reader",
    "write": "writer",
    "promote": "promoter",
    "report": "agent",
}


class Policy:
    """Decisions over ``AuthSettings``' bindings; every ``require_*`` raises ``Forbidden``."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._controllers = {tuple(c.split("/", 1)) for c in settings.controllers}

    def _bindings_of(self, principal: Principal) -> list[TeamBinding]:
        """The bindings naming ``principal`` or one of its groups."""
        return [
            b
            for b in self.settings.bindings
            if principal.name in b.users or principal.groups & set(b.groups)
        ]

    def is_admin(self, principal: Principal) -> bool:
        """Whether ``principal`` is a platform admin."""
        if principal.method == "open":
            return True
        admins = self.settings.admins
        return principal.name in admins.users or bool(principal.groups & set(admins.groups))

    def is_controller(self, principal: Principal) -> bool:
        """Whether ``principal`` is one of the lifecycle controllers' ServiceAccounts."""
        return principal.service_account in self._controllers

    def roles(self, principal: Principal, team: str) -> set[Role]:
        """The roles ``principal`` has in ``team`` (empty: none)."""
        found: set[Role] = {b.role for b in self._bindings_of(principal) if b.team in ("*", team)}
        account = principal.service_account
        if account is not None and account[0] == team:
            role = self.settings.service_account_role_of(account[1])
            if role != "none":
                found.add(role)
        if self.is_controller(principal):
            found.add("writer")
        return found

    def allows(self, principal: Principal, team: str, action: Action) -> bool:
        """Whether ``principal`` may do ``action`` in ``team``."""
        if self.is_admin(principal):
            return True
        return any(action in PERMISSIONS[role] for role in self.roles(principal, team))

    def require(
        self, principal: Principal, team: str, action: Action, *, field: str = "path.team"
    ) -> None:
        """``Forbidden`` (naming ``field``, where the team came from) unless ``principal`` may do
        ``action`` in ``team``."""
        if not self.allows(principal, team, action):
            raise self._refusal(principal, team, action, field=field)

    def _refusal(
        self, principal: Principal, team: str, action: Action, *, field: str = "path.team"
    ) -> Forbidden:
        held = ", ".join(sorted(self.roles(principal, team))) or "no role"
        return Forbidden(
            f"{principal.name} may not {action} in team {team!r}: that needs the role "
            f"{NEEDS[action]} or above (has {held})",
            field=field,
        )

    def require_admin(self, principal: Principal) -> None:
        """``Forbidden`` unless ``principal`` is a platform admin."""
        if not self.is_admin(principal):
            raise Forbidden(f"{principal.name} is not a platform admin", field=None)

    def require_source(self, principal: Principal, team: str, namespace: str) -> None:
        """``Forbidden`` when a ServiceAccount registers a version of a job outside the team's
        namespace (the team's namespace is named like the team)."""
        if principal.service_account is not None and namespace != team:
            raise Forbidden(
                f"{principal.name} may register versions of team {team!r} only from jobs in "
                f"namespace {team!r} (source.namespace is {namespace!r})",
                field="body.source.namespace",
            )

    def require_dataset_source(self, principal: Principal, team: str, namespace: str) -> None:
        """``Forbidden`` unless ``principal`` may sync team ``team``'s dataset from a Fluid
        Dataset of ``namespace``: admins always; a ServiceAccount only when it is a lifecycle
        controller's (a training pod's account must not rewrite lineage records; field
        ``body.source``); anyone else only from the team's namespace, named like the team
        (field ``body.source.namespace``), as for versions (``require_source``)."""
        if self.is_admin(principal):
            return
        if principal.service_account is not None and not self.is_controller(principal):
            raise Forbidden(
                f"{principal.name} may not sync datasets: only the lifecycle controller "
                "mirrors Fluid Datasets (register a file dataset with POST instead)",
                field="body.source",
            )
        if namespace != team:
            raise Forbidden(
                f"{principal.name} may sync datasets of team {team!r} only from Fluid Datasets "
                f"in namespace {team!r} (source.namespace is {namespace!r})",
                field="body.source.namespace",
            )

    def require_initial_assignments(
        self, principal: Principal, team: str, *, service_account: str | None
    ) -> None:
        """``Forbidden`` unless ``principal`` may create a service that already serves something:
        a promoter (assignments decide what is served), or the ServiceAccount of the team's
        namespace the service names as its own (a serving agent creating its service from the
        chart's initial assignments)."""
        if self.allows(principal, team, "promote"):
            return
        account = principal.service_account
        if account is not None and account == (team, service_account):
            return
        held = ", ".join(sorted(self.roles(principal, team))) or "no role"
        raise Forbidden(
            f"{principal.name} may not create a service with assignments in team {team!r}: "
            f"that needs the role promoter (has {held}); create it without assignments",
            field="body.assignments",
        )

    def require_team_member(self, principal: Principal, team: str, action: Action) -> None:
        """``Forbidden`` unless ``principal`` may read in ``team`` or is a ServiceAccount of its
        namespace: checked before a pod route looks the service up, so nobody else learns
        which services exist."""
        account = principal.service_account
        if not self.allows(principal, team, "read") and (account is None or account[0] != team):
            raise self._refusal(principal, team, action)

    def require_pod(
        self,
        principal: Principal,
        team: str,
        *,
        pod: str,
        service_account: str | None,
        action: Action,
    ) -> None:
        """``Forbidden`` unless ``principal`` may report (or forget, ``action="write"``) ``pod``.

        Allowed: admins; people and controllers holding ``action`` in the team; and a
        ServiceAccount of the team's namespace whose token is bound to ``pod``, when the service
        names no account or names this one - whatever role it has (a writer account of the
        namespace must not forget another service's pods).
        """
        account = principal.service_account
        in_namespace = account is not None and account[0] == team
        if self.is_admin(principal) or (not in_namespace and self.allows(principal, team, action)):
            return
        if account is not None and account[0] == team:
            if principal.pod != pod:
                raise Forbidden(
                    f"{principal.name} may report only the pod its token is bound to "
                    f"({principal.pod or 'its token is bound to no pod'}), not {pod!r}",
                    field="path.pod",
                )
            if service_account is None or service_account == account[1]:
                return
            raise Forbidden(
                f"the pods of this service run as ServiceAccount {service_account!r}, "
                f"not {account[1]!r}",
                field="path.service",
            )
        raise self._refusal(principal, team, action)

    def role_map(self, principal: Principal) -> dict[str, list[str]]:
        """Roles per team (``*``: every team; admins get ``{"*": ["admin"]}``)."""
        if self.is_admin(principal):
            return {"*": ["admin"]}
        teams = {b.team for b in self._bindings_of(principal)}
        account = principal.service_account
        if account is not None:
            teams.add(account[0])
            if self.is_controller(principal):
                teams.add("*")
        found: dict[str, list[str]] = {}
        for team in sorted(teams):
            roles = sorted(self.roles(principal, team))
            if roles:
                found[team] = list(roles)
        return found

    def readable_teams(self, principal: Principal) -> set[str] | None:
        """Teams ``principal`` may read (None: every team)."""
        if self.is_admin(principal):
            return None
        teams = {b.team for b in self._bindings_of(principal)}
        if "*" in teams:
            return None
        account = principal.service_account
        if account is not None:
            if self.is_controller(principal):
                return None
            if self.settings.service_account_role_of(account[1]) != "none":
                teams.add(account[0])
        return teams
