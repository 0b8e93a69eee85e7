"""First start and every start: schema, a default project with the three forms and lists, a first admin.

Idempotent: run on every `scripts/serve`; publishing an unchanged form is a no-op.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from . import auth, catalog, lists
from .storage import Store

ROLES = ("admin", "manager", "nda", "researcher")


@dataclass
class SetupReport:
    project_id: int
    published: list[catalog.Published] = field(default_factory=list)
    admin_email: str | None = None
    admin_password: str | None = None   # only when generated now; shown once


def ensure_default_project(store: Store, name: str, forms_dir: str | Path, validate: bool = True) -> SetupReport:
    """A project holding the forms in forms_dir, its cluster registry, and sample hamlets and poverty nodes."""
    projects = store.list_projects()
    project = projects[0] if projects else store.create_project(name)
    report = SetupReport(project_id=project["id"])
    for path in sorted(Path(forms_dir).glob("*.xml")):
        report.published.append(catalog.publish(store, project["id"], path.read_bytes(), path.name,
                                                actor="setup", validate=validate))
    for list_name, columns in lists.LISTS.items():
        store.ensure_list(project["id"], list_name, columns)
    store.forget_empty_list_csvs()   # cached by an older server as a header alone; now served with the reserved row
    if not projects:  # seed only a new project; afterwards the lists belong to its managers
        store.upsert_list_items(project["id"], "clusters.csv", lists.seed_clusters(), source="registry")
        for name in ("hamlets.csv", "nodes.csv"):  # households are people: never seeded from samples
            sample = Path(forms_dir) / name
            if sample.exists():
                _columns, items = lists.read_csv(sample.read_bytes(), name)
                store.upsert_list_items(project["id"], name, items, source="sample")
    return report


def check_password(password: str) -> None:
    """:raise ValueError: when the password is too short to be a password."""
    if len(password) < 10:
        raise ValueError("the password must have at least 10 characters")


def create_user(store: Store, email: str, role: str, password: str, realm: str) -> dict:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    check_password(password)
    user = store.create_user(email, role, auth.hash_password(password), auth.digest_ha1(email, realm, password))
    store.audit("setup", "user.create", email, {"role": role})
    return user


def set_password(store: Store, user: dict, password: str, realm: str, keep_session: str | None = None) -> None:
    """A user's new password (their own change, or an administrator's reset): every session of theirs ends but
    keep_session, the key of the session that made the change; their API tokens stay.

    :raise ValueError: when the password is too short.
    """
    check_password(password)
    store.set_password(user["id"], auth.hash_password(password), auth.digest_ha1(user["email"], realm, password),
                       keep_session=keep_session)


def ensure_admin(store: Store, email: str, password: str, realm: str) -> str | None:
    """Create the first administrator if there is none; return the password when it was generated."""
    if store.count_users("admin"):
        return None
    generated = not password
    password = password or secrets.token_urlsafe(12)
    create_user(store, email, "admin", password, realm)
    return password if generated else None
