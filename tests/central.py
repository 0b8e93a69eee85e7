"""Helpers for the Central API tests: a project set up as the one ODK Central v2026.2.2 was recorded on
(tests/data/central/README.md), served live, with the recorded submissions sent over OpenRosa as Collect sent
them, and a small client speaking Central's REST API and OData."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

from server import catalog, create_app, lists
from server.auth import new_token
from server.bootstrap import create_user

from .collect import Collect
from .conftest import LiveServer
from .web import PASSWORD

CENTRAL = Path(__file__).parent / "data" / "central"
DATA = Path(__file__).parent / "data"
FORMS = Path(__file__).parent.parent / "forms"
# the forms exactly as published on Central (byte-identical to the recording's forms/)
FORM_FILES = {"household_income": DATA / "household_income_2026112201.xml",
              "well_being_ranking": DATA / "well_being_ranking_2026112201.xml"}
SUBMISSIONS = ["household_income-1", "household_income-2", "household_income-3", "well_being_ranking-1",
               "well_being_ranking-2"]
ADMIN, RESEARCHER, NDA, MANAGER = ("admin@example.org", "researcher@example.org", "nda@example.org",
                                   "manager@example.org")
NDA_CLUSTERS = ["mandi_leather"]


def recorded(prefix: str) -> dict:
    """One recorded call, by its number: {"request": ..., "response": ...}."""
    return json.loads(next(CENTRAL.glob(f"{prefix}-*.json")).read_text(encoding="utf-8"))


@dataclass
class Reference:
    url: str
    project_id: int
    store: object

    def session(self, email: str = ADMIN) -> "Api":
        reply = requests.post(f"{self.url}/v1/sessions", json={"email": email, "password": PASSWORD}, timeout=30)
        assert reply.status_code == 200, reply.text
        return Api(self.url, {"Authorization": f"Bearer {reply.json()['token']}"})

    def path(self, recorded_path: str) -> str:
        """A recorded path on this server: Central's project 13 is ours."""
        return recorded_path.replace("/projects/13/", f"/projects/{self.project_id}/").replace(
            "/projects/13?", f"/projects/{self.project_id}?").removesuffix("/projects/13") + (
            f"/projects/{self.project_id}" if recorded_path.endswith("/projects/13") else "")


@dataclass
class Api:
    url: str
    headers: dict

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, headers={**self.headers, **kwargs.pop("headers", {})}, timeout=60,
                            **kwargs)

    def send(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.url + path, headers={**self.headers, **kwargs.pop("headers", {})},
                                timeout=60, **kwargs)


def set_up(app, live_url: str) -> Reference:
    """A project with both forms and their lists, the four roles, and the five recorded submissions."""
    store = app.extensions["ppa"].store
    project = store.create_project("Household survey reference")
    for form_id, path in FORM_FILES.items():
        catalog.publish(store, project["id"], path.read_bytes(), path.name, actor=ADMIN, validate=False)
    for name in lists.LISTS:
        _columns, items = lists.read_csv((FORMS / name).read_bytes(), name)
        store.upsert_list_items(project["id"], name, items, source="import")
    for email, role, clusters in ((ADMIN, "admin", None), (RESEARCHER, "researcher", []),
                                  (NDA, "nda", NDA_CLUSTERS), (MANAGER, "manager", [])):
        user = create_user(store, email, role, PASSWORD, "PPA")
        if role != "admin":
            store.add_membership(user["id"], project["id"], clusters or [])
    token = new_token()
    store.create_device(project["id"], "enumerator", token, actor="test")
    first = recorded("001")["request"]
    phone = Collect(live_url, f"{live_url}/v1/key/{token}/projects/{project['id']}",
                    device_id=first["query"]["deviceID"], headers={"User-Agent": first["headers"]["User-Agent"]})
    for name in SUBMISSIONS:
        xml = (CENTRAL / "submissions" / f"{name}.xml").read_bytes()
        files = {m.decode(): (CENTRAL / "submissions" / m.decode()).read_bytes()
                 for m in re.findall(rb">([0-9]+\.jpg)<", xml)}
        reply = phone.submit(xml, files)
        assert reply.status == 201, reply.text
    return Reference(live_url, project["id"], store)


@contextmanager
def served_reference(data: Path) -> Iterator[Reference]:
    """set_up on a server of its own in `data`, for a module of tests that only read (or share what they write)."""
    app = create_app({"DATA": str(data), "LOG_LEVEL": "WARNING", "PUBLIC_URL": "http://localhost",
                      "FORMS": str(FORMS)})
    server = LiveServer(app)
    app.config["PUBLIC_URL"] = server.url
    try:
        yield set_up(app, server.url)
    finally:
        server.stop()
        app.extensions["ppa"].store.close()
