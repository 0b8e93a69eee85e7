"""Enumerator monitoring (issue #14 item 2): interviews sent over OpenRosa by two phones, as Collect sends them, with
known start and end times; the monitoring API, page, submissions behind each figure and daily CSV say which
enumerator's interviews are too short, which households were interviewed twice, which amounts and points stand out.
The pure rules (audit log time, don't know shares, outliers, distances) are tested on their own first."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re

import pytest
import requests

from bench import samples
from server import monitoring
from server.auth import new_token

from .collect import Collect
from .web import PASSWORD, make_users

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
HAMLET, CLUSTER = "chanderi-w03", "chanderi"
PERIOD = {"from": "2026-11-16", "to": "2026-11-22"}


# -- the rules, pure ------------------------------------------------------------------------------------------------

def test_the_audit_log_gives_the_time_spent_on_questions():
    log = (b"event,node,start,end\nform start,,1000,\nquestion,/data/a,1000,61000\n"
           b"group questions,/data/g,61000,121000\nform save,,121000,\nquestion,/data/b,200000,170000\n")
    assert monitoring.audit_seconds(log) == 120.0           # 60 s + 60 s; an event ending before it starts is left
    assert monitoring.audit_seconds(b"event,node,start,end\nform start,,1,\n") is None
    assert monitoring.audit_seconds(b"\xff\xfe not text") is None


def test_the_audit_log_is_preferred_to_start_and_end():
    record = {"start": "2026-11-20T09:00:00.000+05:30", "end": "2026-11-20T09:40:00.000+05:30"}
    audit = b"event,node,start,end\nquestion,/data/a,0,300000\n"
    assert monitoring.fact("household_income", record, "device:1", "2026-11-21T01:00:00Z", 0, audit)[
        "duration_s"] == 300.0
    plain = monitoring.fact("household_income", record, "device:1", "2026-11-21T01:00:00Z", 0)
    assert (plain["duration_s"], plain["duration_source"], plain["day"]) == (2400.0, "start_end", "2026-11-20")


def test_dont_know_and_refused_are_counted_from_the_amount_statuses():
    record = {"farm_status": "dk", "tr_pension_status": "reported", "cons_365_status": "refused",
              "wage": [{"w_pay_status": "dk"}, {"w_pay_status": "estimated"}]}
    assert monitoring.unknown_answers("household_income", record) == (5, 2, 1)


def test_an_interview_that_ends_before_it_starts_has_no_length():
    record = {"start": "2026-11-20T09:00:00.000+05:30", "end": "2026-11-20T08:00:00.000+05:30"}
    assert monitoring.fact("household_income", record, "device:1", "2026-11-20T05:00:00Z", 0)["duration_s"] is None


def _row(sid, **values):
    base = {"submission_id": sid, "form_id": "household_income", "cluster": CLUSTER, "hamlet": HAMLET, "round": 1,
            "hh_id": f"h{sid}", "duration_s": 1800.0, "n_dk": 0, "n_refused": 0, "n_flags": 0, "income_pc": 1500.0,
            "consumption_pc": 1000.0, "lat": 24.74, "lon": 78.13, "review_state": "received"}
    return {**base, **values}


def test_an_income_far_from_the_clusters_median_is_an_outlier_and_a_rejected_duplicate_is_not_counted():
    rows = [_row(i, income_pc=1400.0 + 50 * i) for i in range(1, 7)] + [_row(7, income_pc=20_000.0)]
    rows += [_row(8, hh_id="h1"), _row(9, hh_id="h2", review_state="rejected")]
    picked = monitoring.checks(rows, monitoring.Thresholds())
    assert picked["income_outlier"] == {7}
    assert picked["duplicate"] == {1, 8}


def test_a_point_far_from_its_hamlets_median_point_is_picked():
    rows = [_row(i, lat=24.74 + 0.0001 * i) for i in range(1, 6)] + [_row(6, lat=24.79)]   # 6: about 5.5 km north
    assert monitoring.checks(rows, monitoring.Thresholds())["gps_far"] == {6}
    assert monitoring.checks(rows, monitoring.Thresholds(gps_far_m=10_000))["gps_far"] == set()
    assert 5_400 < monitoring.distance_m(24.74, 78.13, 24.79, 78.13) < 5_700


@pytest.mark.parametrize("form,message", [({"short_minutes": "ten"}, "short_minutes must be a number"),
                                          ({"short_minutes": "10", "outlier_k": "0"}, "outlier_k must be"),
                                          ({"short_minutes": "nan", "outlier_k": "3"}, "short_minutes must be")])
def test_a_threshold_that_is_not_a_number_in_range_is_refused(form, message):
    from server import errors
    full = {"short_minutes": "10", "outlier_k": "3", "gps_far_m": "500", "unknown_share": "0.2", **form}
    with pytest.raises(errors.Problem) as refused:
        monitoring.Thresholds.parse(full)
    assert message in refused.value.message


# -- over OpenRosa and HTTP -----------------------------------------------------------------------------------------

def interview(app, store, hh_id: str, start: dt.datetime, minutes: float, income: float = 6000.0,
              gps: str = "24.740000 78.130000 412.0 4.5", cluster: str = CLUSTER, hamlet: str = HAMLET,
              deprecated_id: str | None = None, **answers) -> bytes:
    """A household income interview of four members that began at `start` and took `minutes`."""
    form = app.extensions["ppa"].forms.get(store, store.get_form(1, "household_income")["current_def_id"])
    rng = random.Random(hh_id)
    values = samples.household_income(rng, hh_id, cluster=cluster, hamlet=hamlet, members=4, on_list=False,
                                      head=f"Head of {hh_id}")
    stamp = "%Y-%m-%dT%H:%M:%S.000+05:30"
    values.update(start=start.strftime(stamp), end=(start + dt.timedelta(minutes=minutes)).strftime(stamp),
                  income_monthly=income, gps=gps, node="",
                  state={"chanderi": "Madhya Pradesh", "sindhudurg": "Maharashtra"}[cluster],
                  sector="urban" if cluster == "chanderi" else "rural", **answers)
    return samples.instance_xml(form, samples.fill(form, values, rng), deprecated_id=deprecated_id)


def day(n: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, 16 + n, hour, 0, tzinfo=IST)


@pytest.fixture
def fieldwork(app, store, project, live):
    """Rekha's phone: three interviews of 25, 30 and 35 minutes. Suresh's phone: 4, 6 and 30 minutes, one of them a
    household Rekha interviewed too, one with an income twelve times the others', one 5.5 km from the hamlet, one
    with an amount not known. A household of another week, and one of Sindhudurg."""
    make_users(store, 1, store.create_project("Other")["id"])
    phones = {}
    for name in ("Rekha's phone", "Suresh's phone"):
        secret = new_token()
        device = store.create_device(1, name, secret, actor="test")
        phones[name] = (device["id"], Collect(live.url, f"{live.url}/v1/key/{secret}/projects/1"))
    rekha, suresh = phones["Rekha's phone"][1], phones["Suresh's phone"][1]
    sent = [(rekha, interview(app, store, "chanderi-w03-t1", day(1), 25, income=5200)),
            (rekha, interview(app, store, "chanderi-w03-t2", day(1, 12), 30, income=5800)),
            (rekha, interview(app, store, "chanderi-w03-t3", day(2), 35, income=6100)),
            (suresh, interview(app, store, "chanderi-w03-t4", day(2), 4, income=6500, gps="24.790000 78.130000 0 5")),
            (suresh, interview(app, store, "chanderi-w03-t1", day(3), 6, income=6900, farm_status="dk")),
            (suresh, interview(app, store, "chanderi-w03-t5", day(3, 14), 30, income=80_000)),
            (rekha, interview(app, store, "chanderi-w03-t6", day(-10), 3)),                 # another week
            (rekha, interview(app, store, "sindhudurg-parule-t1", day(1), 2, cluster="sindhudurg",
                              hamlet="sindhudurg-parule"))]
    for phone, xml in sent:
        reply = phone.submit(xml)
        assert reply.status == 201, reply.text
    ids = {name.split("'")[0].lower(): device_id for name, (device_id, _phone) in phones.items()}
    return {"url": live.url, "rekha": f"device:{ids['rekha']}", "suresh": f"device:{ids['suresh']}",
            "suresh_phone": suresh}


def _session(url: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=60).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert session.post(f"{url}/login", data={"email": email, "password": PASSWORD, "csrf_token": token},
                        allow_redirects=False, timeout=60).status_code == 302
    return session


def _api(fieldwork, email: str = "manager@example.org", **params) -> dict:
    response = _session(fieldwork["url"], email).get(f"{fieldwork['url']}/api/v1/projects/1/monitoring",
                                                     params={**PERIOD, **params}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


AUDIT = (b"event,node,start,end\nform start,,1732080000000,\nquestion,/data/interview/a,1732080000000,1732080240000\n"
         b"question,/data/interview/b,1732080240000,1732080420000\nform save,,1732080420000,\n")   # 4 + 3 minutes


def test_the_audit_log_sent_with_an_interview_gives_its_length_also_when_it_comes_in_a_later_part(app, store, phone):
    from .factories import instance_id_of
    form_id = store.get_form(1, "household_income")["id"]
    whole = interview(app, store, "chanderi-w03-a1", day(1), 40, audit="audit.csv")
    assert phone.submit(whole, {"audit.csv": AUDIT}).status == 201
    fact = store.monitor_fact(store.get_submission(form_id, instance_id_of(whole))["id"])
    assert (fact["duration_s"], fact["duration_source"]) == (420.0, "audit")
    split = interview(app, store, "chanderi-w03-a2", day(1), 40, audit="audit.csv")
    assert phone.submit(split, incomplete=True).status == 201          # the XML first, the audit log later
    submission_id = store.get_submission(form_id, instance_id_of(split))["id"]
    assert (store.monitor_fact(submission_id)["duration_s"], store.monitor_fact(submission_id)["duration_source"]) \
        == (2400.0, "start_end")
    assert phone.submit(split, {"audit.csv": AUDIT}).status == 201
    assert (store.monitor_fact(submission_id)["duration_s"], store.monitor_fact(submission_id)["duration_source"]) \
        == (420.0, "audit")


def test_the_enumerator_whose_interviews_are_too_short_is_marked(fieldwork):
    body = _api(fieldwork, cluster=CLUSTER)
    by = {e["enumerator"]: e for e in body["enumerators"]}
    rekha, suresh = by[fieldwork["rekha"]], by[fieldwork["suresh"]]
    assert (rekha["name"], rekha["submissions"], rekha["median_minutes"], rekha["shortest_minutes"]) == \
        ("Rekha's phone", 3, 30.0, 25.0)
    assert (suresh["submissions"], suresh["median_minutes"], suresh["shortest_minutes"], suresh["short"]) == \
        (3, 6.0, 4.0, 2)
    assert (rekha["too_short"], suresh["too_short"]) == (False, True)
    assert body["thresholds"]["short_minutes"] == 10.0


def test_twice_interviewed_households_outliers_far_points_and_unknown_amounts_are_counted(fieldwork):
    by = {e["enumerator"]: e for e in _api(fieldwork, cluster=CLUSTER)["enumerators"]}
    rekha, suresh = by[fieldwork["rekha"]], by[fieldwork["suresh"]]
    assert (rekha["duplicate"], suresh["duplicate"]) == (1, 1)          # chanderi-w03-t1, by both
    assert (rekha["income_outlier"], suresh["income_outlier"]) == (0, 1)
    assert (rekha["gps_far"], suresh["gps_far"]) == (0, 1)
    assert (rekha["unknown"], suresh["unknown"]) == (0, 1) and suresh["dk_share"] > 0


def test_the_daily_summary_has_a_row_per_enumerator_per_day(fieldwork):
    body = _api(fieldwork, cluster=CLUSTER)
    assert [(d["day"], d["name"], d["submissions"]) for d in body["days"]] == [
        ("2026-11-17", "Rekha's phone", 2), ("2026-11-18", "Rekha's phone", 1), ("2026-11-18", "Suresh's phone", 1),
        ("2026-11-19", "Suresh's phone", 2)]
    response = _session(fieldwork["url"], "manager@example.org").get(
        f"{fieldwork['url']}/projects/1/monitoring/daily.csv", params={**PERIOD, "cluster": CLUSTER}, timeout=60)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["day"], r["name"], r["submissions"], r["median_minutes"]) for r in rows] == [
        ("2026-11-17", "Rekha's phone", "2", "27.5"), ("2026-11-18", "Rekha's phone", "1", "35.0"),
        ("2026-11-18", "Suresh's phone", "1", "4.0"), ("2026-11-19", "Suresh's phone", "2", "18.0")]
    assert list(rows[0]) == list(monitoring.DAILY_COLUMNS)


def test_a_device_name_that_looks_like_a_formula_is_neutralised_in_the_csv(fieldwork, store):
    store.db.execute("UPDATE devices SET name = '=HYPERLINK(\"http://evil\")' WHERE name = 'Suresh''s phone'")
    response = _session(fieldwork["url"], "manager@example.org").get(
        f"{fieldwork['url']}/projects/1/monitoring/daily.csv", params=PERIOD, timeout=60)
    names = {r["name"] for r in csv.DictReader(io.StringIO(response.text))}
    assert "'=HYPERLINK(\"http://evil\")" in names and not any(n.startswith("=") for n in names)


def test_each_figure_links_to_the_submissions_behind_it(fieldwork, store):
    session = _session(fieldwork["url"], "manager@example.org")
    page = session.get(f"{fieldwork['url']}/projects/1/monitoring", params={**PERIOD, "cluster": CLUSTER},
                       timeout=60).text
    row = re.search(rf'<tr data-enumerator="{fieldwork["suresh"]}".*?</tr>', page, re.S).group(0)
    link = re.search(r'href="([^"]*check=short[^"]*)"', row).group(1).replace("&amp;", "&")
    listed = session.get(fieldwork["url"] + link, timeout=60).text
    ids = [int(i) for i in re.findall(r'<tr data-id="(\d+)"', listed)]
    durations = {i: store.monitor_fact(i)["duration_s"] / 60 for i in ids}
    assert len(ids) == 2 and all(m < 10 for m in durations.values()), durations
    assert "Suresh&#39;s phone" in listed and "too short" in listed


def test_an_nda_sees_only_the_enumerators_work_in_her_clusters(fieldwork):
    nda = _api(fieldwork, "nda@example.org")
    rekha = next(e for e in nda["enumerators"] if e["enumerator"] == fieldwork["rekha"])
    assert rekha["submissions"] == 3 and "sindhudurg" not in str(nda).lower()
    manager = _api(fieldwork)
    assert next(e for e in manager["enumerators"] if e["enumerator"] == fieldwork["rekha"])["submissions"] == 4
    refused = _session(fieldwork["url"], "nda@example.org").get(
        f"{fieldwork['url']}/api/v1/projects/1/monitoring", params={"cluster": "sindhudurg"}, timeout=60)
    assert refused.status_code == 403


def test_a_manager_changes_a_threshold_and_the_change_is_audited_and_applied(fieldwork, store):
    session = _session(fieldwork["url"], "manager@example.org")
    page = session.get(f"{fieldwork['url']}/projects/1/monitoring", params=PERIOD, timeout=60).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    saved = session.post(f"{fieldwork['url']}/projects/1/monitoring/thresholds", allow_redirects=False, timeout=60,
                         data={"csrf_token": token, "short_minutes": "5", "outlier_k": "3", "gps_far_m": "10000",
                               "unknown_share": "0.2"})
    assert saved.status_code == 302
    by = {e["enumerator"]: e for e in _api(fieldwork, cluster=CLUSTER)["enumerators"]}
    assert by[fieldwork["suresh"]]["too_short"] is False and by[fieldwork["suresh"]]["short"] == 1
    assert by[fieldwork["suresh"]]["gps_far"] == 0
    (entry,) = store.audit_search(action="project.monitoring_thresholds", limit=10)
    assert entry["actor"] == "manager@example.org" and '"short_minutes": 5.0' in entry["details"]
    bad = session.post(f"{fieldwork['url']}/projects/1/monitoring/thresholds", allow_redirects=False, timeout=60,
                       data={"csrf_token": token, "short_minutes": "-1", "outlier_k": "3", "gps_far_m": "500",
                             "unknown_share": "0.2"})
    assert bad.status_code == 400 and monitoring.Thresholds.of(store, 1).short_minutes == 5.0
    nda = _session(fieldwork["url"], "nda@example.org")
    refused = nda.post(f"{fieldwork['url']}/projects/1/monitoring/thresholds", allow_redirects=False, timeout=60,
                       data={"csrf_token": token, "short_minutes": "1", "outlier_k": "3", "gps_far_m": "500",
                             "unknown_share": "0.2"})
    assert refused.status_code in (400, 403) and monitoring.Thresholds.of(store, 1).short_minutes == 5.0


def test_an_edit_replaces_the_submissions_facts_and_a_rebuild_gives_the_same(app, fieldwork, store):
    from server.catalog import FormCache
    from .factories import instance_id_of
    short = min((f for f in store.monitor_facts(1, None) if f["enumerator"] == fieldwork["suresh"]),
                key=lambda f: f["duration_s"])
    sub = store.submission_by_id(1, short["submission_id"])
    edit = interview(app, store, "chanderi-w03-t4", day(2), 42, income=6500, deprecated_id=sub["instance_id"])
    assert fieldwork["suresh_phone"].submit(edit).status == 201
    assert store.submission_by_id(1, sub["id"])["current_instance_id"] == instance_id_of(edit)
    assert store.monitor_fact(sub["id"])["duration_s"] == 42 * 60
    before = {f["submission_id"]: f for f in store.monitor_facts(1, None)}
    monitoring.rebuild(store, FormCache(), 1)
    assert {f["submission_id"]: f for f in store.monitor_facts(1, None)} == before


# -- in the browser (issue #14 item 5) ----------------------------------------------------------------------------

def test_the_monitoring_chart_shows_the_apis_numbers_and_highlights_the_too_short_enumerator(fieldwork, browser,
                                                                                            screenshots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from .chromium import sign_in
    api = _api(fieldwork, cluster=CLUSTER)
    sign_in(browser, fieldwork["url"], "manager@example.org")
    browser.get(f"{fieldwork['url']}/projects/1/monitoring?from={PERIOD['from']}&to={PERIOD['to']}&cluster={CLUSTER}")
    canvas = browser.find_element(By.ID, "duration-chart")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return !!Chart.getChart(arguments[0])", canvas))
    chart = browser.execute_script(
        "var c = Chart.getChart(arguments[0]); return {labels: c.data.labels, median: c.data.datasets[0].data, "
        "colours: c.data.datasets[0].backgroundColor, line: c.data.datasets[1].data}", canvas)
    assert chart["labels"] == [e["name"] for e in api["enumerators"]]
    assert chart["median"] == [e["median_minutes"] for e in api["enumerators"]]
    assert chart["line"] == [api["thresholds"]["short_minutes"]] * len(api["enumerators"])
    red = {name for name, colour in zip(chart["labels"], chart["colours"]) if colour == "#b8452e"}
    assert red == {e["name"] for e in api["enumerators"] if e["too_short"]} == {"Suresh's phone"}
    table = {row.find_element(By.TAG_NAME, "td").text: row.find_elements(By.TAG_NAME, "td")[2].text
             for row in browser.find_elements(By.CSS_SELECTOR, "#enumerators tbody tr")}
    assert table == {e["name"]: str(e["median_minutes"]) for e in api["enumerators"]}
    assert browser.find_element(By.CSS_SELECTOR, "#enumerators tr.too-short td").text == "Suresh's phone"
    assert [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]] == []
    browser.save_screenshot(str(screenshots / "monitoring.png"))


def test_changing_another_filter_of_the_list_keeps_the_monitoring_filter(fieldwork, browser):
    from urllib.parse import parse_qs, urlparse

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from .chromium import sign_in
    sign_in(browser, fieldwork["url"], "manager@example.org")
    browser.get(f"{fieldwork['url']}/projects/1/submissions?enumerator={fieldwork['suresh']}&check=short"
                f"&from={PERIOD['from']}&to={PERIOD['to']}")
    listed = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-id]")]
    assert len(listed) == 2
    browser.find_element(By.CSS_SELECTOR, "#filters input[name=hamlet]").send_keys(HAMLET)
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    WebDriverWait(browser, 30).until(lambda d: "hamlet=" in d.current_url)
    asked = parse_qs(urlparse(browser.current_url).query)
    assert asked["enumerator"] == [fieldwork["suresh"]] and asked["check"] == ["short"]
    assert (asked["from"], asked["to"], asked["hamlet"]) == ([PERIOD["from"]], [PERIOD["to"]], [HAMLET])
    assert [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-id]")] == listed
    assert "Suresh's phone" in browser.find_element(By.ID, "monitored").text


def test_rebuild_check_compares_the_monitoring_facts(app, fieldwork, store):
    import json

    from click.testing import CliRunner

    from server.cli import main
    env = {"PPA_DATA": app.config["DATA"]}
    checked = CliRunner().invoke(main, ["aggregates", "rebuild", "--project", "1", "--check"], env=env)
    assert checked.exit_code == 0, checked.output
    fact = store.monitor_facts(1, None)[0]
    with store.transaction():   # a fact that ingest got wrong, as an older rule would have left it
        store.set_monitor_duration(fact["submission_id"], (fact["duration_s"] or 0) + 600, "start-end")
    checked = CliRunner().invoke(main, ["aggregates", "rebuild", "--project", "1", "--check"], env=env)
    assert checked.exit_code == 1, checked.output
    assert json.loads(checked.output)["tables_differing"] == ["monitor_facts"]
    assert store.monitor_fact(fact["submission_id"])["duration_s"] == fact["duration_s"]   # the rebuild put it right


def test_ppa_project_settings_sets_a_threshold_which_the_monitoring_page_then_uses(app, fieldwork, store):
    import json

    from click.testing import CliRunner

    from server.cli import main
    env = {"PPA_DATA": app.config["DATA"]}
    done = CliRunner().invoke(main, ["project", "settings", "--project", "1", "--short-minutes", "5",
                                     "--gps-far-m", "10000"], env=env)
    assert done.exit_code == 0, done.output
    shown = json.loads(done.output)
    assert (shown["monitor_short_minutes"], shown["monitor_gps_far_m"], shown["monitor_outlier_k"]) == (5.0, 10000.0,
                                                                                                       3.0)
    by = {e["enumerator"]: e for e in _api(fieldwork, cluster=CLUSTER)["enumerators"]}
    assert by[fieldwork["suresh"]]["short"] == 1 and by[fieldwork["suresh"]]["gps_far"] == 0
    (entry,) = store.audit_search(action="project.monitoring_thresholds", limit=10)
    assert entry["actor"] == "cli" and '"short_minutes": 5.0' in entry["details"]


@pytest.mark.parametrize("option,value,message", [("--short-minutes", "-1", "short_minutes must be a number from 0"),
                                                  ("--outlier-k", "ten", "outlier_k must be a number from 0.5"),
                                                  ("--unknown-share", "nan", "unknown_share must be a number"),
                                                  ("--gps-far-m", "1e9", "gps_far_m must be a number from 10")])
def test_ppa_project_settings_refuses_a_threshold_the_web_form_refuses(app, store, project, option, value, message):
    from click.testing import CliRunner

    from server.cli import main
    refused = CliRunner().invoke(main, ["project", "settings", "--project", str(project["id"]), option, value],
                                 env={"PPA_DATA": app.config["DATA"]})
    assert refused.exit_code == 1 and message in refused.output, refused.output
    assert monitoring.Thresholds.of(store, project["id"]) == monitoring.Thresholds()
    assert store.audit_search(action="project.monitoring_thresholds", limit=10) == []
