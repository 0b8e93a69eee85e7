"""A brand-new project on the phones: every form opens in JavaRosa with its lists exactly as the server serves them.

JavaRosa takes a CSV holding only its header for a missing file, and Collect refuses to open a form whose list is
missing; households.csv is empty until the manager imports the hamlets' listings from the social map. The server
therefore serves a list without items with one reserved row that no choice filter matches (server/lists.py). Here a
project is made with the real `ppa` command, a phone downloads each form and its media over OpenRosa (real HTTP),
and JavaRosa, the engine inside Collect, loads the three forms; a new hamlet can be ranked once its listing is on
the server, and not before.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from server import create_app, lists
from server.bootstrap import ensure_default_project
from server.storage import SQLiteStore

from .collect import Collect
from .conftest import LiveServer
from .helpers import assert_success
from .javarosa import JavaRosaError, fill, load_form
from .live_server import cli, server_env
from .test_ranking_form import GROUP_B

FORMS = Path(__file__).parent.parent / "forms"
FORM_IDS = ["household_income", "poverty_nodes", "well_being_ranking"]


class Phone:
    """A phone on a fresh project: the forms and media it downloaded, as Collect keeps them."""

    def __init__(self, collect: Collect, folder: Path):
        self.collect = collect
        self.folder = folder
        self.forms: dict[str, dict] = {}

    def download(self) -> dict[str, Path]:
        """Every form in the form list with its media, as served; returns the form files by form id."""
        self.forms = self.collect.download_forms()
        self.folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for form_id, got in self.forms.items():
            paths[form_id] = self.folder / f"{form_id}.xml"
            paths[form_id].write_bytes(got["xml"])
        return paths

    def media(self, form_id: str) -> dict[str, bytes]:
        return self.forms[form_id]["media"]

    def rows(self, form_id: str, list_name: str) -> list[dict]:
        return list(csv.DictReader(io.StringIO(self.media(form_id)[list_name].decode("utf-8"))))


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """Once per module, with the real `ppa` command: `ppa init` (project 1: registry clusters, sample hamlets and
    nodes, no households) and `ppa project add` with the three forms (project 2: registry clusters, nothing else on
    its lists), and a device for each. Each test works on a copy of this data folder."""
    data = tmp_path_factory.mktemp("made") / "data"
    env = server_env(data, 8080)
    cli(env, "init", "--skip-validate")
    second = json.loads(cli(env, "project", "add", "Second district").stdout)["id"]
    assert second == 2
    for form_id in FORM_IDS:
        cli(env, "form", "publish", "--project", "2", str(FORMS / f"{form_id}.xml"))
    tokens = {p: json.loads(cli(env, "device", "add", "--project", str(p), f"Phone {p}").stdout)["token"]
              for p in (1, 2)}
    return data, tokens


def _phone(made, tmp_path: Path, project: int):
    template, tokens = made
    data = tmp_path / "data"
    shutil.copytree(template, data)
    app = create_app({"DATA": str(data), "LOG_LEVEL": "WARNING"})
    live = LiveServer(app)
    app.config["PUBLIC_URL"] = live.url
    phone = Phone(Collect(live.url, f"{live.url}/v1/key/{tokens[project]}/projects/{project}"), tmp_path / "phone")
    return app, live, phone


def _served(made, tmp_path: Path, project: int):
    app, live, phone = _phone(made, tmp_path, project)
    yield app, phone
    live.stop()
    app.extensions["ppa"].store.close()


@pytest.fixture
def first_day(made, tmp_path):
    """The default project as `ppa init` makes it, on a live server."""
    yield from _served(made, tmp_path, 1)


@pytest.fixture
def bare_project(made, tmp_path):
    """A project made with `ppa project add`, on a live server."""
    yield from _served(made, tmp_path, 2)


def _import_listing(app, hamlet: str) -> list[str]:
    """The manager imports the hamlet's listing from the social map (the sample list's rows of that hamlet)."""
    _columns, items = lists.read_csv((FORMS / "households.csv").read_bytes(), "households.csv")
    listing = [(name, row) for name, row in items if row["hamlet"] == hamlet]
    app.extensions["ppa"].store.upsert_list_items(1, "households.csv", listing, source="listing")
    return [name for name, _ in listing]


def test_every_list_served_to_a_phone_has_a_row_on_the_first_day(first_day):
    _app, phone = first_day
    phone.download()
    for form_id in FORM_IDS:
        for name in phone.media(form_id):
            if name.endswith(".csv"):
                assert phone.rows(form_id, name), f"{form_id}: {name} has no rows"
    households = phone.rows("well_being_ranking", "households.csv")
    assert households == [{column: lists.RESERVED_NAME if column == "name" else lists.RESERVED_VALUE
                           for column in lists.LISTS["households.csv"]}]


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_each_form_opens_in_javarosa_with_the_lists_of_a_first_day(first_day, form_id):
    _app, phone = first_day
    forms = phone.download()
    load_form(forms[form_id], phone.media(form_id))


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_each_form_opens_in_javarosa_in_a_project_whose_lists_are_all_empty(bare_project, form_id):
    _app, phone = bare_project
    forms = phone.download()
    assert [r["name"] for r in phone.rows(form_id, "nodes.csv" if form_id == "poverty_nodes" else
                                          "hamlets.csv")] == [lists.RESERVED_NAME]
    load_form(forms[form_id], phone.media(form_id))


def test_the_reserved_row_is_never_offered_as_a_hamlet(bare_project):
    _app, phone = bare_project
    forms = phone.download()
    with pytest.raises(JavaRosaError) as refused:
        fill(forms["well_being_ranking"], phone.media("well_being_ranking"),
             [("cluster", "chanderi"), ("round", "1"), ("hamlet", lists.RESERVED_NAME)])
    assert refused.value.kind == "no_choice"
    assert lists.RESERVED_NAME not in str(refused.value).split("\t")[-1]   # the choices offered: none


def test_a_new_hamlet_is_ranked_once_its_listing_from_the_social_map_is_imported(first_day):
    app, phone = first_day
    forms = phone.download()
    with pytest.raises(JavaRosaError) as refused:                         # no listing: no ranking
        fill(forms["well_being_ranking"], phone.media("well_being_ranking"), GROUP_B)
    assert refused.value.kind == "constraint" and "/hamlet" in str(refused.value)
    listed = _import_listing(app, "chanderi-w03")

    phone.download()                                                      # blank forms again, as the message says
    households = phone.rows("well_being_ranking", "households.csv")
    assert [h["name"] for h in households] == listed                      # the reserved row has gone
    filled = fill(forms["well_being_ranking"], phone.media("well_being_ranking"), GROUP_B)
    assert_success(phone.collect.submit(filled.xml))
    store: SQLiteStore = app.extensions["ppa"].store
    assert lists.RESERVED_NAME not in {name for name, _ in store.list_items(1, "households.csv")}


def test_a_household_interview_in_a_new_hamlet_takes_a_new_household_only(first_day):
    _app, phone = first_day
    forms = phone.download()
    place = [("cluster", "chanderi"), ("round", "1"), ("hamlet", "chanderi-w07"), ("sector", "urban")]
    with pytest.raises(JavaRosaError) as refused:
        fill(forms["household_income"], phone.media("household_income"),
             place + [("hh_on_list", "yes"), ("household", lists.RESERVED_NAME)])
    assert refused.value.kind == "no_choice"
    assert lists.RESERVED_NAME not in str(refused.value).split("\t")[-1]
    filled = fill(forms["household_income"], phone.media("household_income"),
                  place + [("hh_on_list", "no"), ("new_hh_card", "12"), ("new_hh_head", "Sita Devi"),
                           ("enumerator", "Meena"), ("interview_date", "2026-11-21"), ("consent", "no")])
    root = etree.fromstring(filled.xml)
    assert root.findtext("mod_a/a_household/hh_id") == "chanderi-w07-m12"     # its card on the social map
    assert_success(phone.collect.submit(filled.xml))


def test_the_server_refuses_the_reserved_row_as_an_answer(first_day):
    app, phone = first_day
    _import_listing(app, "chanderi-w03")
    forms = phone.download()
    filled = fill(forms["well_being_ranking"], phone.media("well_being_ranking"), GROUP_B)
    forged = filled.xml.replace(b"<hamlet>chanderi-w03</hamlet>", f"<hamlet>{lists.RESERVED_NAME}</hamlet>".encode())
    assert forged != filled.xml
    reply = phone.collect.submit(forged)
    assert reply.status == 400, reply.text
    assert f"'{lists.RESERVED_NAME}' is not in the list hamlets.csv" in reply.text


def test_lists_export_prints_the_list_as_phones_receive_it(first_day, tmp_path):
    printed = cli(server_env(tmp_path / "data", 8080), "lists", "export", "--project", "1", "households.csv").stdout
    columns = lists.LISTS["households.csv"]
    assert printed == (",".join(columns) + f"\n{lists.RESERVED_NAME},"
                       + ",".join([lists.RESERVED_VALUE] * (len(columns) - 1)) + "\n")


def test_an_import_cannot_use_the_reserved_name():
    with pytest.raises(lists.ListFileError, match="'_none' is reserved"):
        lists.read_csv(f"name,label,cluster,sector\n{lists.RESERVED_NAME},X,chanderi,urban\n".encode(), "hamlets.csv")


def test_a_submission_adds_no_item_of_the_reserved_name():
    assert lists.items_from_submission("household_income", {"hh_on_list": "no", "new_hh_id": lists.RESERVED_NAME,
                                                            "hamlet": "chanderi-w03", "cluster": "chanderi"}) == {}
    assert lists.items_from_submission("poverty_nodes", {"node_is_new": "yes", "node_id": lists.RESERVED_NAME}) == {}


def test_a_list_cached_as_a_header_alone_by_an_older_server_is_served_with_the_reserved_row(store):
    project = ensure_default_project(store, "Upgraded", FORMS, validate=False).project_id
    old = store.list_csv(project, "households.csv", lists.render_csv)      # what an older server cached
    assert store.get_blob(old["sha256"]) == (",".join(lists.LISTS["households.csv"]) + "\n").encode()
    ensure_default_project(store, "Upgraded", FORMS, validate=False)      # `ppa serve` after the upgrade
    served = store.list_csv(project, "households.csv", lists.render_served)
    assert store.get_blob(served["sha256"]).splitlines()[1].startswith(f"{lists.RESERVED_NAME},".encode())
