"""Who may do what, as one pure table: every page, API call, export and OpenRosa request asks here.

Roles:
- admin: everything, in every project.
- manager: a project's forms, devices, lists and people, and all its data.
- nda: reads, reviews and submits the data of the clusters assigned to them, nothing else.
- researcher: reads and downloads a project's data; no review.
Devices are not users: they submit to the forms they are given (server.openrosa), in any cluster of their project.

Cluster scope, one rule (`in_scope`) applied once per kind of access: summaries, lists and exports read cluster by
cluster through `reports.cluster_scopes` (or `ExportFilters.allowed_clusters`); one submission (its page, XML,
attachments, comments, history, review) through `web.review._submission`; a submission or edit over OpenRosa
through `submissions.receive(scope=...)`, which checks the old and the new cluster; form media lists through
`openrosa._media`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("admin", "manager", "nda", "researcher")

# action -> roles allowed it inside a project they belong to
ACTIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"admin", "manager", "nda", "researcher"}),
    "review": frozenset({"admin", "manager", "nda"}),
    "download": frozenset({"admin", "manager", "nda", "researcher"}),
    "collect": frozenset({"admin", "manager", "nda"}),      # fill forms with a named account (Digest)
    "manage": frozenset({"admin", "manager"}),               # forms, devices, lists, people of a project
    "administer": frozenset({"admin"}),                      # users, projects, the audit log
}


@dataclass(frozen=True)
class Principal:
    """A signed-in user with their memberships: project id -> assigned clusters (NDAs only)."""

    id: int
    email: str
    role: str
    projects: dict[int, frozenset[str]] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def load_principal(store, user: dict) -> Principal:
    """A user row with their memberships, as the permission checks need it."""
    memberships = store.memberships(user["id"])
    return Principal(id=user["id"], email=user["email"], role=user["role"],
                     projects={p: frozenset(c) for p, c in memberships.items()})


def can(user: Principal | None, action: str, project_id: int | None = None) -> bool:
    """May this user do `action` (in this project)? Cluster limits are applied by `clusters`."""
    if user is None or user.role not in ACTIONS.get(action, ()):
        return False
    if user.is_admin:
        return True
    if project_id is None:  # "in some project": e.g. whether to show a menu entry
        return bool(user.projects)
    return project_id in user.projects


def clusters(user: Principal, project_id: int) -> frozenset[str] | None:
    """The clusters a user may see in a project: None means all; an NDA sees only theirs (maybe none)."""
    if user.role != "nda":
        return None
    return user.projects.get(project_id, frozenset())


def in_scope(allowed: frozenset[str] | None, cluster: str | None) -> bool:
    """The cluster rule, the one every read and write applies: with a scope (an NDA's clusters), only data of a
    cluster in it; data of no known cluster (an encrypted submission, a form without a cluster question) are
    outside every scope. `allowed` is what `clusters` returned (None: no limit)."""
    return allowed is None or (cluster is not None and cluster in allowed)


def visible_projects(user: Principal, all_project_ids: list[int]) -> list[int]:
    if user.is_admin:
        return all_project_ids
    return [p for p in all_project_ids if p in user.projects]
