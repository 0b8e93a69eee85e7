"""Rounds and names on the pages (#14 item 3), with rankings sent through the OpenRosa endpoint: "flagged" counts
what it says (rated households to review, never more than were rated), a cluster's page opens on that cluster's own
latest round, clusters and hamlets appear with their list labels."""

from __future__ import annotations

import random
import re

from bench import samples

from .test_aggregates import HAMLET, api, households, hh, rank  # noqa: F401 (fixtures)
from server.bootstrap import create_user

from .web import PASSWORD, sign_in


def _client(app, store, project):
    create_user(store, "admin@example.org", "admin", PASSWORD, "PPA")
    client = app.test_client()
    assert sign_in(client, "admin@example.org").status_code == 302
    return client


def _cells(html: str, attribute: str, value: str) -> list[str]:
    row = re.search(rf'<tr {attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_flagged_counts_only_rated_households_and_never_exceeds_them(collect_client, app, store, project,
                                                                      households, api):
    """Six of Example 3's eight households are "don't know" to every group: unplaced, and flagged in the kept rows
    (too few groups placed them). They are counted as not placed; "flagged" counts the rated households the meeting
    must discuss: h7 (happy, average and sad from the three groups)."""
    unknown = {hh(k): 0 for k in ("h1", "h2", "h3", "h4", "h5", "h6")}
    for group in range(3):
        rank(collect_client, app, store, project, group, households, overrides=unknown)
    assert sum(r["flagged"] for r in store.wb_households(project["id"], 1)) == 7     # kept per household
    (row,) = api("wellbeing", by="hamlet")["rows"]
    assert (row["n_rated"], row["n_flagged"], row["n_unrated"]) == (2, 1, 6)
    page = _client(app, store, project).get("/projects/1/clusters").get_data(as_text=True)
    cells = _cells(page, "data-hamlet", HAMLET)
    assert cells[2:5] == ["0", "1", "1"] and cells[6:8] == ["1", "6"]     # happy/average/sad; flagged, not placed
    assert "Flagged, of the rated" in page and "Not placed" in page


def test_a_cluster_page_opens_on_its_own_latest_round_and_names_it_by_its_label(collect_client, app, store, project,
                                                                                 households):
    """Chanderi was ranked in round 1 only, Sindhudurg in round 2 too: Chanderi's page shows round 1 (not an empty
    round 2) and offers only round 1; clusters and hamlets are shown by their list labels."""
    for group in range(3):
        rank(collect_client, app, store, project, group, households)
    ranking = app.extensions["ppa"].forms.get(store, store.get_form(1, "well_being_ranking")["current_def_id"])
    other = "sindhudurg-parule-r1"
    store.upsert_list_items(1, "households.csv", [(other, {"label": "Head", "hamlet": "sindhudurg-parule",
                                                           "cluster": "sindhudurg", "node": ""})], "test")
    answers = samples.well_being_ranking(random.Random(5), [other], cluster="sindhudurg", hamlet="sindhudurg-parule",
                                         round_no=2)
    assert collect_client.submit(samples.instance_xml(ranking, answers)).status == 201
    client = _client(app, store, project)
    page = client.get("/projects/1/clusters/chanderi").get_data(as_text=True)
    assert "<h1>Chanderi handloom, round 1</h1>" in page
    assert re.findall(r'<option value="(\d+)"', page) == ["1"]
    assert _cells(page, "data-hamlet", HAMLET)[0].startswith("Chanderi ward 03")
    clusters = client.get("/projects/1/clusters").get_data(as_text=True)
    assert "<h1>Well-being by cluster, round 2</h1>" in clusters    # the project's latest round
    assert ">Sindhudurg cashew and fruit processing</a>" in clusters
    sheet = client.get(f"/projects/1/hamlets/{HAMLET}/validation-sheet").get_data(as_text=True)
    assert "<h1>Community validation sheet: Chanderi ward 03, round 1</h1>" in sheet   # the hamlet's own round
