"""Aggregates kept at ingest: submitted through the OpenRosa endpoint, read through the JSON API, and equal to
a rebuild from the raw XML and to `ppa analyse` on the project's own export (docs/method.md 8, Example 3)."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from bench import samples
from server import aggregates
from server.catalog import FormCache
from server.cli import main

from .factories import instance_id_of

HAMLET, CLUSTER = "chanderi-w03", "chanderi"
# docs/method.md 8, Example 3: household -> levels given by groups A, B, C (1 happy, 2 average, 3 sad)
EXAMPLE3 = {"h1": (1, 1, 1), "h2": (1, 1, 2), "h3": (2, 2, 2), "h4": (2, 3, 2), "h5": (3, 3, 3), "h6": (3, 3, 2),
            "h7": (1, 2, 3), "h8": (3, 3, 3)}
FINAL3 = {"h1": "happy", "h2": "happy", "h3": "average", "h4": "average", "h5": "sad", "h6": "sad",
          "h7": "average", "h8": "sad"}


def hh(key: str) -> str:
    return f"{HAMLET}-{key}"


@pytest.fixture
def households(store, project):
    store.upsert_list_items(project["id"], "households.csv",
                            [(hh(k), {"label": f"Head {k}", "hamlet": HAMLET, "cluster": CLUSTER, "node": ""})
                             for k in EXAMPLE3], source="test")
    return [hh(k) for k in EXAMPLE3]


@pytest.fixture
def api(app, project, researcher_token):
    secret = researcher_token
    client = app.test_client()

    def get(path: str, **params):
        response = client.get(f"/api/v1/projects/{project['id']}/{path}", query_string=params,
                              headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 200, response.data
        return response.get_json() if response.mimetype == "application/json" else response.get_data(as_text=True)
    return get


def _form(app, store, project, form_id):
    ppa = app.extensions["ppa"]
    return ppa.forms.get(store, store.get_form(project["id"], form_id)["current_def_id"])


def rank(collect, app, store, project, group: int, households, instance_id=None, deprecated_id=None,
         overrides: dict | None = None) -> bytes:
    form = _form(app, store, project, "well_being_ranking")
    levels = {hh(k): v[group] for k, v in EXAMPLE3.items()}
    levels.update(overrides or {})
    answers = samples.well_being_ranking(random.Random(group), households, group="ABC"[group], cluster=CLUSTER,
                                         hamlet=HAMLET, levels=levels)
    xml = samples.instance_xml(form, answers, instance_id, deprecated_id)
    reply = collect.submit(xml)
    assert reply.status == 201, reply.text
    return xml


def test_combined_categories_and_counts_follow_example_3(collect_client, app, store, project, households, api):
    for group in range(3):
        rank(collect_client, app, store, project, group, households)
    rows = {r["hh_id"]: r for r in store.wb_households(project["id"], 1)}
    assert {k: rows[hh(k)]["final"] for k in EXAMPLE3} == FINAL3
    assert [k for k in EXAMPLE3 if rows[hh(k)]["flagged"]] == ["h7"]
    body = api("wellbeing", cluster=CLUSTER, by="hamlet")
    (row,) = body["rows"]
    assert row["hamlet"] == HAMLET and row["counts"] == {"happy": 2, "average": 3, "sad": 3}
    assert row["shares_exact"] == {"happy": "1/4", "average": "3/8", "sad": "3/8"}
    assert row["n_flagged"] == 1 and row["small_n"] is False


def test_agreement_between_groups_matches_example_3(collect_client, app, store, project, households, api):
    for group in range(3):
        rank(collect_client, app, store, project, group, households)
    body = api("agreement", hamlet=HAMLET)
    kappas = {tuple(p["pair"]): round(p["kappa"], 4) for p in body["pairs"]}
    assert kappas == {("A", "B"): 0.619, ("A", "C"): 0.4545, ("B", "C"): 0.2381}
    assert body["fleiss_kappa"] is not None and body["kendalls_w"] is not None


def test_an_edit_moves_the_household_and_a_rebuild_gives_identical_numbers(collect_client, app, store, project,
                                                                           households, api):
    sent = [rank(collect_client, app, store, project, group, households) for group in range(3)]
    # group C edits its session: h2 is now sad, so h2 has levels 1, 1, 3 -> mean 5/3 -> average, flagged
    rank(collect_client, app, store, project, 2, households, deprecated_id=instance_id_of(sent[2]),
         overrides={hh("h2"): 3})
    counts = api("wellbeing", cluster=CLUSTER)["rows"][0]["counts"]
    assert counts == {"happy": 1, "average": 4, "sad": 3}
    before = store.aggregate_snapshot(project["id"])
    aggregates.rebuild(store, FormCache(), project["id"])
    assert store.aggregate_snapshot(project["id"]) == before


def _income_households(collect, app, store, project, incomes: list[tuple[float, int]]):
    form = _form(app, store, project, "household_income")
    rng = random.Random(5)
    for i, (income, size) in enumerate(incomes):
        answers = samples.household_income(rng, hh(f"h{i + 1}"), cluster=CLUSTER, hamlet=HAMLET, members=size)
        answers.update(income_monthly=income, state="Madhya Pradesh", sector="urban", node="chanderi-contract_weavers",
                       social_group="2" if i % 2 else "3")
        xml = samples.instance_xml(form, samples.fill(form, answers, rng))
        reply = collect.submit(xml)
        assert reply.status == 201, reply.text


def test_income_poverty_api_equals_ppa_analyse_on_the_projects_own_export(collect_client, app, store, project,
                                                                          households, api, tmp_path):
    # docs/method.md 8, Example 1 incomes, on Madhya Pradesh's urban line (Rs 897, Tendulkar 2011-12)
    _income_households(collect_client, app, store, project,
                       [(2000, 4), (3000, 4), (4500, 5), (3000, 3), (6000, 4), (2400, 2)])
    for group in range(3):
        rank(collect_client, app, store, project, group, households)
    body = api("poverty", cluster=CLUSTER)
    (row,) = body["rows"]
    assert (row["n_households"], row["n_persons"]) == (6, 22)
    exported = tmp_path / "households.csv"
    exported.write_text(api("export/households.csv", cluster=CLUSTER))
    result = CliRunner().invoke(main, ["analyse", "poverty", str(exported), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    analysed = json.loads(result.output)
    for weighting in ("person", "household"):
        for alpha in (0, 1, 2):
            assert row[weighting][f"P{alpha}"] == pytest.approx(_pick(analysed, weighting, alpha), abs=1e-6)
    assert body["lines_used"][0]["rs_per_person_month"] == 897
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(api("export/ratings.csv", hamlet=HAMLET))
    analysed = json.loads(CliRunner().invoke(main, ["analyse", "wellbeing", str(ratings), "--json"]).output)
    assert _pick_counts(analysed) == api("wellbeing", cluster=CLUSTER)["rows"][0]["counts"]


def test_a_rejected_or_deleted_submission_leaves_the_aggregates(collect_client, app, store, project, households, api):
    _income_households(collect_client, app, store, project, [(2000, 4), (6000, 4)])
    form = store.get_form(project["id"], "household_income")
    first = store.list_submissions(form["id"])[0]
    assert api("poverty", cluster=CLUSTER)["rows"][0]["n_households"] == 2
    with store.transaction():
        store.delete_submission(first["id"])
        aggregates.refresh(store, project["id"], "household_income", first["id"], None)
    assert api("poverty", cluster=CLUSTER)["rows"][0]["n_households"] == 1


def test_the_api_refuses_without_a_token(app, project):
    response = app.test_client().get(f"/api/v1/projects/{project['id']}/wellbeing")
    assert response.status_code == 401 and response.get_json()["code"] == "401.3"


def _pick(analysed: dict, weighting: str, alpha: int) -> float:
    """Find P_alpha for a weighting in `ppa analyse poverty --json` output."""
    return analysed["fgt"][weighting][str(alpha)]


def _pick_counts(analysed: dict) -> dict:
    return dict(analysed["summary"]["counts"])

