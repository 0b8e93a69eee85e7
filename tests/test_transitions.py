"""Well-being transitions kept at ingest (server/storage/transition_queries.py): the counts that the charts "which
hamlets moved towards sad" and "where each category's households went" read must equal pairing every household's
rows of the two rounds, under any sequence of writes, edits, rejections and rebuilds, on both engines."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import samples
from server import reports, reviewing
from server.analysis import change as change_stats
from server.cli import main

from .factories import instance_id_of

CLUSTERS, HAMLETS, ROUNDS = ("c1", "c2"), ("h1", "h2", "h3"), (1, 2, 3)
CATEGORY = st.sampled_from(("happy", "average", "sad", None))


def paired(store, project_id: int, base: int, follow: int, cluster: str | None = None,
           hamlet: str | None = None) -> Counter:
    """The old rule, from the households themselves: pair each household's rows of the two rounds (both in the
    scope), count it in its follow-up round's cluster and hamlet."""
    rows = [{r["hh_id"]: r for r in store.wb_households(project_id, rnd, cluster, hamlet) if r["final"]}
            for rnd in (base, follow)]
    return Counter((b["cluster"] or "", b["hamlet"] or "", rows[0][hh]["final"], b["final"])
                   for hh, b in rows[1].items() if hh in rows[0])


def kept(store, project_id: int, base: int, follow: int, cluster: str | None = None,
         hamlet: str | None = None) -> Counter:
    out: Counter = Counter()
    for r in store.wb_transition_rows(project_id, base, follow, None if cluster is None else [cluster], hamlet):
        out[(r["cluster"] or "", r["hamlet"] or "", r["before"], r["after"])] += r["n"]
    return +out


def assert_same_as_pairing(store, project_id: int) -> None:
    for base in ROUNDS:
        for follow in ROUNDS:
            assert kept(store, project_id, base, follow) == paired(store, project_id, base, follow), (base, follow)
            for cluster in CLUSTERS:
                assert kept(store, project_id, base, follow, cluster) == \
                    paired(store, project_id, base, follow, cluster), (base, follow, cluster)
            assert kept(store, project_id, base, follow, "c1", "h2") == \
                paired(store, project_id, base, follow, "c1", "h2")
    # reports.change reads the counts; the old reports.change paired the categories() of both rounds in Python
    for base, follow in ((1, 2), (2, 3), (1, 3), (3, 1), (2, 2)):
        for filters, allowed in (({}, None), ({"cluster": "c2"}, None), ({"cluster": "c1", "hamlet": "h1"}, None),
                                 ({}, frozenset(CLUSTERS)), ({"hamlet": "h3"}, frozenset(CLUSTERS)),
                                 ({}, frozenset({"c1"}))):
            cats = [{hh: r["final"] for hh, r in reports.categories(store, project_id, rnd, filters, allowed).items()}
                    for rnd in (base, follow)]
            old = change_stats.transitions(cats[0], cats[1])
            new = reports.change(store, project_id, filters, base, follow, allowed)["categories"]
            assert new == reports.jsonable(old), (base, follow, filters, allowed)


def _row(cluster: str, hamlet: str, category: str | None) -> dict:
    return {"cluster": cluster, "hamlet": hamlet, "node": "", "n_groups": 3, "mean": 2.0, "final": category,
            "flagged": int(category is None), "flags": ""}


WRITE = st.tuples(st.sampled_from(ROUNDS), st.sampled_from([f"hh{i}" for i in range(8)]),
                  st.one_of(st.none(), st.tuples(st.sampled_from(CLUSTERS), st.sampled_from(HAMLETS), CATEGORY)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(WRITE, min_size=1, max_size=6), min_size=1, max_size=6), one_by_one=st.booleans())
def test_kept_transitions_equal_pairing_the_households_after_any_writes(store, project, batches, one_by_one):
    store.clear_aggregates(project["id"])
    for batch in batches:
        items = list({(rnd, hh): (rnd, hh, _row(*where) if where else None) for rnd, hh, where in batch}.values())
        with store.transaction():
            if one_by_one:
                for rnd, hh, row in items:
                    store.set_wb_household(project["id"], rnd, hh, row)
            else:
                store.set_wb_households(project["id"], items)
        assert_same_as_pairing(store, project["id"])


def test_a_household_moving_node_keeps_its_transitions(store, project):
    with store.transaction():
        store.set_wb_households(project["id"], [(1, "a", _row("c1", "h1", "happy")), (2, "a", _row("c1", "h1", "sad"))])
        store.set_household_node(project["id"], "a", "weavers")
    assert kept(store, project["id"], 1, 2) == Counter({("c1", "h1", "happy", "sad"): 1})


HAMLET, CLUSTER = "chanderi-w03", "chanderi"
HOUSEHOLDS = [f"{HAMLET}-h{i}" for i in range(1, 7)]


def _rank(collect, app, store, project, round_no: int, group: str, levels: dict, deprecated_id=None) -> bytes:
    ppa = app.extensions["ppa"]
    form = ppa.forms.get(store, store.get_form(project["id"], "well_being_ranking")["current_def_id"])
    answers = samples.well_being_ranking(random.Random(round_no), HOUSEHOLDS, group=group, cluster=CLUSTER,
                                         hamlet=HAMLET, round_no=round_no, levels=levels)
    xml = samples.instance_xml(form, answers, None, deprecated_id)
    reply = collect.submit(xml)
    assert reply.status == 201, reply.text
    return xml


def test_edits_rejections_and_a_rebuild_keep_the_transitions_exact(collect_client, app, store, project):
    store.upsert_list_items(project["id"], "households.csv",
                            [(h, {"label": h, "hamlet": HAMLET, "cluster": CLUSTER, "node": ""}) for h in HOUSEHOLDS],
                            source="test")
    pid = project["id"]
    first = {h: 1 for h in HOUSEHOLDS}                         # everyone happy in round 1
    _rank(collect_client, app, store, project, 1, "A", first)
    second = _rank(collect_client, app, store, project, 2, "A", {h: 3 for h in HOUSEHOLDS})   # all sad in round 2
    assert kept(store, pid, 1, 2) == Counter({(CLUSTER, HAMLET, "happy", "sad"): 6})
    moved = reports.change_by_hamlet(store, pid, {}, 1, 2, None)
    assert [(r["hamlet"], r["worsened"], r["net_towards_sad"], r["into_sad"]) for r in moved] == [(HAMLET, 6, 6, 6)]

    # the round-2 session is edited: two households are average now
    edited = {**{h: 3 for h in HOUSEHOLDS}, HOUSEHOLDS[0]: 2, HOUSEHOLDS[1]: 2}
    _rank(collect_client, app, store, project, 2, "A", edited, deprecated_id=instance_id_of(second))
    assert kept(store, pid, 1, 2) == Counter({(CLUSTER, HAMLET, "happy", "sad"): 4,
                                             (CLUSTER, HAMLET, "happy", "average"): 2})
    assert_same_as_pairing(store, pid)

    # the round-1 session is rejected: no household is placed in round 1, so nothing pairs
    form = store.get_form(pid, "well_being_ranking")
    subs = sorted(store.list_submissions(form["id"]), key=lambda s: s["id"])
    sub = store.submission_by_id(pid, subs[0]["id"])
    reviewing.review(store, app.extensions["ppa"].forms, pid, sub, "rejected", "wrong hamlet", "test", "test")
    assert kept(store, pid, 1, 2) == Counter()
    assert reports.change(store, pid, {}, 1, 2, None)["categories"]["n_unmatched"] == 6
    # and taken back: the pairs return
    sub = store.submission_by_id(pid, subs[0]["id"])
    reviewing.review(store, app.extensions["ppa"].forms, pid, sub, "approved", "checked again", "test", "test")
    assert sum(kept(store, pid, 1, 2).values()) == 6
    assert_same_as_pairing(store, pid)

    result = CliRunner().invoke(main, ["aggregates", "rebuild", "--project", str(pid), "--check"],
                                catch_exceptions=False, env={"PPA_DATA": app.config["DATA"]})
    assert result.exit_code == 0, result.output
    assert '"identical": true' in result.output


def test_rebuild_check_fails_when_the_kept_transitions_drift(collect_client, app, store, project):
    store.upsert_list_items(project["id"], "households.csv",
                            [(h, {"label": h, "hamlet": HAMLET, "cluster": CLUSTER, "node": ""}) for h in HOUSEHOLDS],
                            source="test")
    _rank(collect_client, app, store, project, 1, "A", {h: 1 for h in HOUSEHOLDS})
    _rank(collect_client, app, store, project, 2, "A", {h: 2 for h in HOUSEHOLDS})
    with store.transaction():   # a count that no household explains, as a lost update would leave
        store._execute("UPDATE wb_transitions SET n = n + 1 WHERE project_id = ?", [project["id"]])
    result = CliRunner().invoke(main, ["aggregates", "rebuild", "--project", str(project["id"]), "--check"],
                                env={"PPA_DATA": app.config["DATA"]})
    assert result.exit_code == 1, result.output
    assert '"tables_differing": ["wb_transitions"]' in result.output


def test_the_migration_fills_the_transitions_from_the_categories_already_stored(store, project, engine):
    rng = random.Random(7)
    with store.transaction():
        store.set_wb_households(project["id"], [
            (rnd, f"hh{i}", _row(rng.choice(CLUSTERS), rng.choice(HAMLETS), rng.choice(("happy", "average", "sad",
                                                                                          None))))
            for rnd in ROUNDS for i in range(40) if rng.random() < 0.8])
    kept_at_ingest = store.aggregate_snapshot(project["id"])["wb_transitions"]
    assert kept_at_ingest
    table = "_sqlite_migrations" if engine == "sqlite" else "_ppa_migrations"
    with store.transaction():   # as a database from before the migration: no table, the migration not applied
        store._execute("DROP TABLE wb_transitions")
        store._execute(f"DELETE FROM {table} WHERE name = ?", ["m017_wb_transitions"])
    assert store.migrate() == ["m017_wb_transitions"]
    assert store.aggregate_snapshot(project["id"])["wb_transitions"] == kept_at_ingest
    assert_same_as_pairing(store, project["id"])


@pytest.mark.sqlite_only("EXPLAIN QUERY PLAN is SQLite's")
def test_ingest_reads_a_households_rounds_and_a_page_reads_the_counts_through_indexes(store, project):
    plans = {
        "household": store.db.execute("EXPLAIN QUERY PLAN SELECT hh_id, round, cluster, hamlet, final FROM "
                                      "wb_households WHERE project_id = 1 AND hh_id IN ('x', 'y')").fetchall(),
        "page": store.db.execute("EXPLAIN QUERY PLAN SELECT cluster, hamlet, from_category, to_category, sum(n) "
                                 "FROM wb_transitions WHERE project_id = 1 AND from_round = 1 AND to_round = 2 AND "
                                 "from_cluster IN ('c1') AND cluster IN ('c1') GROUP BY cluster, hamlet, "
                                 "from_category, to_category").fetchall()}
    assert "wb_households_household" in str(plans["household"]) and "hh_id=?" in str(plans["household"])
    assert "sqlite_autoindex_wb_transitions_1" in str(plans["page"]) and "to_round=?" in str(plans["page"])
