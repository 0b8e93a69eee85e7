"""The review pages through the test client: what NDAs and researchers read, escaped, paged and filtered."""

from __future__ import annotations

import random
import re

import pytest

from bench import samples

from .test_aggregates import EXAMPLE3, HAMLET, hh, rank
from .web import ROLE_USERS, csrf, make_users, sign_in, submit_household


@pytest.fixture
def site(app, store, project, collect_client):
    other = store.create_project("Other")
    make_users(store, project["id"], other["id"])
    store.upsert_list_items(project["id"], "households.csv",
                            [(hh(k), {"label": f"Head {k}", "hamlet": HAMLET, "cluster": "chanderi", "node": ""})
                             for k in EXAMPLE3], source="test")
    for group in range(3):
        rank(collect_client, app, store, project, group, [hh(k) for k in EXAMPLE3])
    client = app.test_client()
    sign_in(client, ROLE_USERS["manager"][0])
    return client


def test_the_overview_counts_submissions_per_form_and_unreviewed(site):
    page = site.get("/projects/1").get_data(as_text=True)
    assert re.search(r'id="unreviewed">3<', page)
    assert "well_being_ranking" in page and "Submissions per day" in page


def test_a_submission_shows_question_labels_repeats_as_tables_and_its_history(site, store):
    sub_id = store.submission_page(1, {"form": "well_being_ranking"}, None, limit=1)[0]["id"]
    page = site.get(f"/projects/1/submissions/{sub_id}").get_data(as_text=True)
    assert "<code>group_id</code>" in page                          # the field name under its label
    assert 'class="repeat"' in page and "khush (well off)" in page  # the pile repeat as a table
    assert "raw XML" in page and "History" in page
    xml = site.get(f"/projects/1/submissions/{sub_id}.xml")
    assert xml.status_code == 200 and xml.data.startswith(b"<?xml")


def test_the_submissions_list_pages_by_keyset_and_filters(app, store, project, collect_client, site):
    for i in range(55):
        submit_household(collect_client, app, store, 1, "chanderi", "chanderi-w07", f"chanderi-w07-p{i}", seed=i)
    first = site.get("/projects/1/submissions?form=household_income").get_data(as_text=True)
    rows = re.findall(r'<tr data-id="(\d+)"', first)
    assert len(rows) == 50
    older = re.search(r'id="next-page" href="\?([^"]+)"', first).group(1).replace("&amp;", "&")
    second = site.get(f"/projects/1/submissions?{older}").get_data(as_text=True)
    assert len(re.findall(r'<tr data-id="(\d+)"', second)) == 5
    assert not set(rows) & set(re.findall(r'<tr data-id="(\d+)"', second))
    hamlet = site.get("/projects/1/submissions?hamlet=chanderi-w03").get_data(as_text=True)
    assert len(re.findall(r'<tr data-id=', hamlet)) == 3


def test_the_validation_sheet_lists_households_and_each_groups_criteria(site):
    page = site.get(f"/projects/1/hamlets/{HAMLET}/validation-sheet?round=1").get_data(as_text=True)
    assert page.count("cannot save for the next day") == 3       # each group's own criteria
    assert "Head h7" in page and "disagreement" in page            # H7: one group happy, another sad


def test_a_node_review_is_recorded_with_its_comment(app, store, project, collect_client, site):
    form = app.extensions["ppa"].forms.get(store, store.get_form(1, "poverty_nodes")["current_def_id"])
    rng = random.Random(3)
    xml = samples.instance_xml(form, samples.fill(form, samples.poverty_node(rng), rng))
    assert collect_client.submit(xml).status == 201
    page = site.get("/projects/1/nodes").get_data(as_text=True)
    assert "kaarigar (contract weaver)" in page and "market access" in page
    site.post("/projects/1/nodes/chanderi-contract_weavers/review",
              data={"round": "1", "status": "reviewed", "comment": "checked with BVS", "csrf_token": csrf(page)})
    again = site.get("/projects/1/nodes").get_data(as_text=True)
    assert "checked with BVS" in again and '<span class="badge">reviewed</span>' in again


def test_answers_are_html_escaped(app, store, project, collect_client, site):
    form = app.extensions["ppa"].forms.get(store, store.get_form(1, "household_income")["current_def_id"])
    rng = random.Random(4)
    answers = samples.household_income(rng, "chanderi-w03-x1", on_list=False, head="<script>alert(1)</script>")
    xml = samples.instance_xml(form, samples.fill(form, answers, rng))
    assert collect_client.submit(xml).status == 201
    sub_id = store.submission_page(1, {"form": "household_income"}, None, limit=1)[0]["id"]
    page = site.get(f"/projects/1/submissions/{sub_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
