"""The charts and the map, in headless Chromium, on two rounds of fieldwork sent over OpenRosa by two enumerators'
phones (tests/chart_world.py): each chart's data, read from Chart.js in the page and from the table beside it, equals
the JSON API's numbers; the hamlets that moved towards sad come first and are highlighted; the map draws every
household's point with no tile server. Each page's screenshot is written to PPA_SCREENSHOTS (if set) or to
<pytest basetemp>/screenshots, for review."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from server import create_app
from server.api import hash_token
from server.auth import new_token
from server.bootstrap import ensure_default_project

from . import chromium
from .chart_world import ENUMERATORS, INCOMES, LEVELS, send_fieldwork
from .conftest import FORMS, LiveServer
from .web import make_users


class Site:
    def __init__(self, app, url: str, api_token: str, work):
        self.app, self.url, self.api_token, self.work = app, url, api_token, work

    def api(self, path: str, **params) -> dict:
        reply = requests.get(f"{self.url}/api/v1/projects/1/{path}", params=params, timeout=60,
                             headers={"Authorization": f"Bearer {self.api_token}"})
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    app = create_app({"DATA": str(tmp_path_factory.mktemp("charts")), "LOG_LEVEL": "WARNING",
                      "PUBLIC_URL": "http://localhost", "FORMS": str(FORMS)})
    store = app.extensions["ppa"].store
    ensure_default_project(store, "Test PPA", FORMS, validate=False)
    users = make_users(store, 1, store.create_project("Other")["id"])
    token = new_token()
    store.create_api_token(users["admin"]["id"], hash_token(token), "chart tests")
    server = LiveServer(app)
    app.config["PUBLIC_URL"] = server.url
    work = send_fieldwork(app, store, 1, server.url)
    yield Site(app, server.url, token, work)
    server.stop()
    store.close()


@pytest.fixture(scope="module")
def page(site, tmp_path_factory):
    """Headless Chromium signed in as the administrator, for the whole module."""
    driver = chromium.start(tmp_path_factory.mktemp("chromium"))
    chromium.sign_in(driver, site.url, "admin@example.org")
    yield driver
    driver.quit()


def screenshots(request) -> Path:
    folder = Path(os.environ.get("PPA_SCREENSHOTS") or request.config._tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def show(page, site, request, path: str, name: str) -> None:
    """Open a page, wait until its charts are drawn, and write its screenshot (the whole page's height)."""
    page.get(site.url + path)
    WebDriverWait(page, 30).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('canvas[data-chart]')].every(c => c.dataset.drawn === 'yes')"))
    assert _violations(page) == [], path
    for canvas in page.find_elements(By.CSS_SELECTOR, "canvas[data-chart]"):
        table_equals_chart(page, canvas.get_attribute("data-chart").removesuffix("-data"))
    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1280, min(max(height, 800), 6000))
    page.save_screenshot(str(screenshots(request) / f"{name}.png"))
    page.set_window_size(1280, 1600)


def _violations(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def chart_data(page, chart_id: str) -> dict:
    """What Chart.js holds for the chart: its labels and each dataset's label and numbers."""
    return page.execute_script(
        "const c = Chart.getChart(document.querySelector(`canvas[data-chart='${arguments[0]}-data']`));"
        "return {labels: c.data.labels, datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))};",
        chart_id)


def table_rows(page, chart_id: str) -> dict[str, list[str]]:
    """The chart's table of numbers: row key -> its cells' text (as in the DOM, <details> open or not)."""
    rows = page.find_elements(By.CSS_SELECTOR, f"#{chart_id}-numbers tbody tr")
    return {r.get_attribute("data-key"): [c.get_attribute("textContent") for c in r.find_elements(By.TAG_NAME, "td")]
            for r in rows}


def table_equals_chart(page, chart_id: str) -> None:
    """The table under a chart holds the numbers Chart.js draws, label by label and series by series."""
    drawn = chart_data(page, chart_id)
    rows = page.find_elements(By.CSS_SELECTOR, f"#{chart_id}-numbers tbody tr")
    assert len(rows) == len(drawn["labels"]), chart_id
    for i, row in enumerate(rows):
        label = drawn["labels"][i]
        assert row.find_element(By.TAG_NAME, "th").get_attribute("textContent") == (
            label if isinstance(label, str) else " · ".join(label)), chart_id
        cells = [c.get_attribute("textContent").split(" (")[0] for c in row.find_elements(By.TAG_NAME, "td")]
        assert [None if c == "—" else float(c) for c in cells] == [d["data"][i] for d in drawn["datasets"]], chart_id


def pct(value) -> float | None:
    return None if value is None else round(100 * value, 1)


# -- the overview: fieldwork over time ------------------------------------------------------------------------------

def test_submissions_per_day_by_form_and_by_enumerator_equal_the_api(page, site, request):
    show(page, site, request, "/projects/1", "overview")
    for by, chart_id in (("form", "chart-per-form"), ("enumerator", "chart-per-enumerator")):
        api = site.api("submissions/daily", by=by)
        drawn = chart_data(page, chart_id)
        assert drawn["labels"] == api["labels"] and len(api["labels"]) == 14
        assert drawn["datasets"] == [{"label": d["label"], "data": d["data"]} for d in api["datasets"]]
        assert [r[-1] for r in table_rows(page, chart_id).values()][-1] == str(api["datasets"][-1]["data"][-1])
    by_enumerator = {d["label"]: sum(d["data"]) for d in site.api("submissions/daily", by="enumerator")["datasets"]}
    assert by_enumerator == {name: len(site.work.sent[name]) for name in ENUMERATORS}
    assert page.find_elements(By.ID, "injected") == []                 # a device's name stays text everywhere
    assert ENUMERATORS[1] in page.find_element(By.ID, "chart-per-enumerator-numbers").get_attribute("textContent")
    by_form = {d["label"]: sum(d["data"]) for d in site.api("submissions/daily", by="form")["datasets"]}
    assert by_form == {"PPA well-being ranking (one informant group)": 18,
                       "PPA household income and consumption": 11, "PPA poverty node": 1}, by_form


# -- well-being shares, comparable across clusters ------------------------------------------------------------------

def test_wellbeing_shares_by_cluster_and_hamlet_equal_the_api(page, site, request):
    show(page, site, request, "/projects/1/clusters", "clusters")
    for by, chart_id in (("cluster", "chart-clusters"), ("cluster,hamlet", "chart-hamlets")):
        api = site.api("wellbeing", by=by)
        assert api["round"] == 2
        drawn = chart_data(page, chart_id)
        assert [d["label"] for d in drawn["datasets"]] == ["happy", "average", "sad"]
        for i, category in enumerate(("happy", "average", "sad")):
            assert drawn["datasets"][i]["data"] == [pct(r["shares"][category]) for r in api["rows"]]
        assert all(abs(sum(d["data"][j] for d in drawn["datasets"]) - 100) < 0.2 for j in range(len(api["rows"])))
    chanderi = table_rows(page, "chart-clusters")["chanderi"]
    assert chanderi == ["25.0 (2)", "25.0 (2)", "50.0 (4)"]       # round 2: ward 03 2/1/1 and ward 07 0/1/3
    assert chart_data(page, "chart-clusters")["labels"][0] == "Chanderi handloom"   # the list's label, not the code


def test_the_hamlets_that_moved_towards_sad_come_first_and_are_highlighted(page, site, request):
    show(page, site, request, "/projects/1/clusters", "clusters-moved")
    api = site.api("change", **{"from": 1, "to": 2, "by": "hamlet"})["hamlets"]
    assert [(r["hamlet"], r["net_towards_sad"]) for r in api] == [
        ("chanderi-w07", 2), ("sindhudurg-parule", 0), ("chanderi-w03", -1)]
    drawn = chart_data(page, "chart-moved")
    assert drawn["labels"] == ["Chanderi ward 07", "Parule village", "Chanderi ward 03"]
    assert drawn["datasets"][0]["data"] == [2, 0, -1]
    highlighted = page.find_elements(By.CSS_SELECTOR, "#moved-table tr.highlight")
    assert [r.get_attribute("data-hamlet") for r in highlighted] == ["chanderi-w07"]
    colours = page.execute_script("return Chart.getChart(document.querySelector(\"canvas[data-chart='chart-moved-data']"
                                  "\")).data.datasets[0].backgroundColor")
    assert colours[0] != colours[1] and colours[1] == colours[2]        # only the hamlet that moved towards sad


def test_the_cluster_page_charts_equal_the_api_transitions_and_poverty_by_social_group(page, site, request):
    show(page, site, request, "/projects/1/clusters/chanderi", "cluster-chanderi")
    change = site.api("change", **{"from": 1, "to": 2, "cluster": "chanderi"})["categories"]["matrix"]
    drawn = chart_data(page, "chart-transitions")
    assert drawn["labels"] == ["happy in round 1", "average in round 1", "sad in round 1"]
    for dataset, after in zip(drawn["datasets"], ("happy", "average", "sad")):
        assert dataset["data"] == [change[before][after] for before in ("happy", "average", "sad")]
    assert change["happy"]["sad"] == 1 and change["average"]["sad"] == 1 and change["average"]["happy"] == 1
    groups = site.api("poverty/decomposition", by="social_group", cluster="chanderi")["groups"]
    drawn = chart_data(page, "chart-social-group")
    assert drawn["labels"] == [g["group"] for g in groups] and len(groups) >= 3
    assert drawn["datasets"][0]["data"] == [pct(g["p_alpha"]) for g in groups]
    assert drawn["datasets"][1]["data"] == [pct(g["population_share"]) for g in groups]
    shares = site.api("wellbeing", by="hamlet", cluster="chanderi")["rows"]
    assert chart_data(page, "chart-cluster-hamlets")["datasets"][2]["data"] == [pct(r["shares"]["sad"]) for r in shares]


def test_income_poverty_by_cluster_equals_the_api(page, site, request):
    show(page, site, request, "/projects/1/clusters", "clusters-poverty")
    rows = site.api("poverty", by="cluster")["rows"]
    drawn = chart_data(page, "chart-poverty")
    assert drawn["labels"] == ["Chanderi handloom", "Sindhudurg cashew and fruit processing"]
    assert drawn["datasets"][0]["data"] == [pct(r["person"]["P0"]) for r in rows]
    assert drawn["datasets"][0]["data"][0] > 0


# -- poverty nodes: the round that has records, and each node's households ------------------------------------------

def test_the_nodes_page_opens_on_the_round_with_records_and_charts_each_nodes_households(page, site, request):
    show(page, site, request, "/projects/1/nodes", "nodes")
    assert page.find_element(By.TAG_NAME, "h1").text == "Poverty nodes, round 1"     # rankings reach round 2
    picker = page.find_element(By.CSS_SELECTOR, "select[name=round]")
    assert [o.get_attribute("value") for o in picker.find_elements(By.TAG_NAME, "option")] == ["1"]
    api = site.api("nodes")
    assert api["round"] == 1 and [n["node_id"] for n in api["nodes"]] == ["chanderi-contract_weavers"]
    drawn = chart_data(page, "chart-nodes")
    assert [d["label"] for d in drawn["datasets"]] == ["happy", "average", "sad"]
    assert [d["data"] for d in drawn["datasets"]] == [[api["nodes"][0]["wellbeing"]["counts"].get(c, 0)]
                                                      for c in ("happy", "average", "sad")] == [[1], [2], [1]]


# -- the map ----------------------------------------------------------------------------------------------------------

def test_the_map_draws_every_households_point_offline_with_a_scale_and_hamlet_names(page, site, request):
    show(page, site, request, "/projects/1/clusters/chanderi", "cluster-map")
    api = site.api("map", cluster="chanderi")
    assert api["round"] == 2 and len(api["points"]) == sum(1 for hh in INCOMES if hh.startswith("chanderi"))
    assert {p["hh_id"]: p["category"] for p in api["points"]} == {
        hh: ("happy", "average", "sad")[LEVELS[hh][1] - 1] for hh in INCOMES if hh.startswith("chanderi")}
    box = page.find_element(By.ID, "household-map")
    WebDriverWait(page, 30).until(lambda d: box.get_attribute("data-points") == str(len(api["points"])))
    assert len(box.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) == len(api["points"])
    assert box.find_elements(By.CSS_SELECTOR, ".leaflet-control-scale-line")
    labels = sorted(t.text for t in box.find_elements(By.CSS_SELECTOR, ".hamlet-label"))
    assert labels == ["Chanderi ward 03", "Chanderi ward 07"]
    assert box.find_elements(By.CSS_SELECTOR, "img.leaflet-tile") == []            # no tile server: no tiles
    table = table_rows(page, "map")
    assert sorted(table) == sorted(p["hh_id"] for p in api["points"])
    first = api["points"][0]
    assert table[first["hh_id"]][2:] == [first["category"], str(first["lat"]), str(first["lon"])]
    assert _violations(page) == []


def test_a_configured_tile_server_is_allowed_by_the_policy_and_drawn(tmp_path):
    app = create_app({"DATA": str(tmp_path), "LOG_LEVEL": "WARNING", "FORMS": str(FORMS),
                      "MAP_TILES": "https://tiles.example.org/{z}/{x}/{y}.png"})
    try:
        policy = app.test_client().get("/login").headers["Content-Security-Policy"]
        assert "img-src 'self' https://tiles.example.org;" in policy and "script-src 'self';" in policy
    finally:
        app.extensions["ppa"].store.close()


@pytest.mark.parametrize("value", ["tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/tile.png",
                                   "https://tiles.example.org/{z}/{x}/{y}.png; script-src *",
                                   "javascript:alert(1)//{z}{x}{y}"])
def test_a_tile_address_that_is_not_a_tile_template_is_refused_at_start(value):
    from server import config
    with pytest.raises(config.SettingError, match="PPA_MAP_TILES"):
        config.load(environ={"PPA_MAP_TILES": value})


# -- names: what each submission is about, and places by their labels -----------------------------------------------

def test_submissions_are_titled_by_household_head_group_or_node_with_their_place(page, site, request):
    show(page, site, request, "/projects/1/submissions", "submissions")
    titles = {r.get_attribute("data-id"): r.find_element(By.CSS_SELECTOR, "td.title").text
              for r in page.find_elements(By.CSS_SELECTOR, "#submissions tbody tr")}
    income, ranking = site.work.sent[ENUMERATORS[1]][0], site.work.sent[ENUMERATORS[0]][0]
    node = site.work.sent[ENUMERATORS[1]][-1]
    assert titles[str(income)] == "Head C1 of chanderi-w03 · Chanderi ward 03, round 2"
    assert titles[str(ranking)] == "Group A · Chanderi ward 03, round 1"
    assert titles[str(node)] == "kaarigar (contract weaver) · Chanderi handloom, round 1"
    row = page.find_element(By.CSS_SELECTOR, f'#submissions tr[data-id="{income}"]')
    assert [c.text for c in row.find_elements(By.TAG_NAME, "td")][1:5] == [
        "PPA household income and consumption", titles[str(income)], "Chanderi handloom", "Chanderi ward 03"]
    show(page, site, request, f"/projects/1/submissions/{income}", "submission")
    assert page.find_element(By.TAG_NAME, "h1").text == titles[str(income)]


def test_the_daily_counts_refuse_an_unknown_grouping_or_span(site):
    for params in ({"by": "cluster"}, {"days": "0"}, {"days": "367"}, {"days": "two"}):
        reply = requests.get(f"{site.url}/api/v1/projects/1/submissions/daily", params=params, timeout=60,
                             headers={"Authorization": f"Bearer {site.api_token}"})
        assert reply.status_code == 400 and "by must be form or enumerator" in reply.json()["message"], params


# -- the map with a tile server configured --------------------------------------------------------------------------

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf000000030101004fa5c1f10000000049454e44ae426082")


class TileServer:
    """A tile server on 127.0.0.1 answering every tile with the same small PNG, and counting the requests."""

    def __init__(self):
        import http.server
        import threading
        tiles = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):   # noqa: N802 (http.server's name)
                tiles.served.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, *args):
                pass

        self.served: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/{{z}}/{{x}}/{{y}}.png"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_with_a_tile_server_configured_the_map_draws_its_tiles_under_the_points(tmp_path, request):
    tiles = TileServer()
    app = create_app({"DATA": str(tmp_path / "data"), "LOG_LEVEL": "WARNING", "FORMS": str(FORMS),
                      "MAP_TILES": tiles.url, "MAP_ATTRIBUTION": "Tiles <b id=\"credit\">from the test</b>"})
    store = app.extensions["ppa"].store
    server = LiveServer(app)
    driver = None
    try:
        ensure_default_project(store, "Test PPA", FORMS, validate=False)
        make_users(store, 1, store.create_project("Other")["id"])
        send_fieldwork(app, store, 1, server.url)
        driver = chromium.start(tmp_path)
        chromium.sign_in(driver, server.url, "admin@example.org")
        driver.get(f"{server.url}/projects/1/clusters/chanderi")
        box = driver.find_element(By.ID, "household-map")
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "return [...arguments[0].querySelectorAll('img.leaflet-tile')].some(i => i.complete && i.naturalWidth)",
            box))
        assert tiles.served and all(p.endswith(".png") for p in tiles.served)
        assert "from the test" in box.find_element(By.CSS_SELECTOR, ".leaflet-control-attribution").text
        assert driver.find_elements(By.ID, "credit") == []                # the credit line stays text
        assert _violations(driver) == []
        driver.save_screenshot(str(screenshots(request) / "cluster-map-tiles.png"))
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
        store.close()
        tiles.stop()
