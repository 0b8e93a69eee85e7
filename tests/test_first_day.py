"""The rough edges a new user met on a first day (issue #14 item 4), each over real HTTP against a live server: the
project navigation on pages of no project, API tokens listed and revoked one at a time, error pages in the product's
style (JSON and OpenRosa bodies unchanged), readable audit details, hashes that do not wrap, an empty overview
without an empty table, and the review message in words."""

from __future__ import annotations

import re

import pytest
import requests

from server.api import hash_token
from server.auth import new_token

from .web import PASSWORD, make_users


def _session(url: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=60).text
    session.post(f"{url}/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page)},
                 timeout=60)
    return session


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def site(store, project, live):
    make_users(store, project["id"], store.create_project("Other")["id"])
    return live.url


NAV = 'href="/projects/1/submissions"'


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit", "/account"])
def test_pages_of_no_project_keep_the_projects_navigation(site, path):
    admin = _session(site, "admin@example.org")          # two projects: the one last opened is remembered
    assert NAV not in admin.get(site + path, timeout=60).text
    assert admin.get(f"{site}/projects/1", timeout=60).status_code == 200
    page = admin.get(site + path, timeout=60).text
    assert NAV in page and 'href="/projects/1/monitoring"' in page
    manager = _session(site, "manager@example.org")      # one project: its navigation at once
    if path == "/account":
        assert NAV in manager.get(site + path, timeout=60).text


def test_a_project_that_is_not_found_is_not_remembered(site):
    admin = _session(site, "admin@example.org")
    admin.get(f"{site}/projects/1", timeout=60)
    assert admin.get(f"{site}/projects/99", timeout=60).status_code == 404
    assert NAV in admin.get(f"{site}/account", timeout=60).text


def test_the_account_page_lists_tokens_by_label_and_revokes_one_at_a_time(site, store):
    session = _session(site, "researcher@example.org")
    token = _csrf(session.get(f"{site}/account", timeout=60).text)
    secrets = {}
    for label in ("R scripts", "Stata on the office PC"):
        page = session.post(f"{site}/account", data={"csrf_token": token, "label": label}, timeout=60).text
        secrets[label] = re.search(r'id="new-token">[^<]*<code>([^<]+)</code>', page).group(1)
    page = session.get(f"{site}/account", timeout=60).text
    rows = dict(re.findall(r'<tr data-token="(\d+)"><td>([^<]+)</td>', page))
    assert sorted(rows.values()) == ["R scripts", "Stata on the office PC"]
    r_scripts = next(i for i, label in rows.items() if label == "R scripts")
    revoked = session.post(f"{site}/account/tokens/{r_scripts}/revoke", data={"csrf_token": token}, timeout=60)
    assert revoked.status_code == 200 and "The token “R scripts” is revoked." in revoked.text

    def api(label):
        return requests.get(f"{site}/api/v1/projects/1/wellbeing", timeout=60,
                            headers={"Authorization": f"Bearer {secrets[label]}"}).status_code
    assert (api("R scripts"), api("Stata on the office PC")) == (401, 200)
    (entry,) = store.audit_search(action="token.revoke", limit=10)
    assert entry["actor"] == "researcher@example.org" and "R scripts" in entry["details"]
    again = session.post(f"{site}/account/tokens/{r_scripts}/revoke", data={"csrf_token": token}, timeout=60)
    assert again.status_code == 404


def test_nobody_revokes_another_users_token(site, store):
    owner = store.user_by_email("manager@example.org")
    secret = new_token()
    token_id = store.create_api_token(owner["id"], hash_token(secret), "the manager's")
    nda = _session(site, "nda@example.org")
    refused = nda.post(f"{site}/account/tokens/{token_id}/revoke", timeout=60,
                       data={"csrf_token": _csrf(nda.get(f"{site}/account", timeout=60).text)})
    assert refused.status_code == 404 and "the manager" not in refused.text
    assert store.user_by_api_token(hash_token(secret)) is not None


def test_a_missing_page_is_shown_in_the_products_style_and_api_and_phones_keep_their_bodies(site, token):
    manager = _session(site, "manager@example.org")
    page = manager.get(f"{site}/no/such/page", timeout=60)
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert '<header class="top">' in page.text and NAV in page.text and "<h1>404 Not Found</h1>" in page.text
    api = manager.get(f"{site}/api/v1/projects/99/wellbeing", timeout=60)
    assert api.status_code == 404 and api.json()["code"] == "404.1"
    phone = requests.get(f"{site}/v1/key/{token}/projects/1/forms/nothing.xml", timeout=60,
                         headers={"X-OpenRosa-Version": "1.0"})
    assert phone.status_code == 404 and "OpenRosaResponse" in phone.text


def test_an_unexpected_error_is_shown_in_the_products_style_and_as_json_to_the_api(site, store, monkeypatch):
    from server import reports

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")
    monkeypatch.setattr(store, "overview_counts", broken)
    monkeypatch.setattr(reports, "wellbeing", broken)
    manager = _session(site, "manager@example.org")
    page = manager.get(f"{site}/projects/1", timeout=60)
    assert page.status_code == 500 and '<header class="top">' in page.text
    assert "<h1>500 Internal Server Error</h1>" in page.text and "a bug" not in page.text
    api = manager.get(f"{site}/api/v1/projects/1/wellbeing", timeout=60)
    assert api.status_code == 500 and api.json()["code"] == "500.1"


def test_the_audit_logs_details_are_lines_to_read(site):
    researcher = _session(site, "researcher@example.org")
    researcher.post(f"{site}/account", timeout=60, data={
        "csrf_token": _csrf(researcher.get(f"{site}/account", timeout=60).text), "label": "R <scripts>"})
    page = _session(site, "admin@example.org").get(f"{site}/admin/audit?action=token.create", timeout=60).text
    assert '<span class="key">label</span>: R &lt;scripts&gt;' in page
    assert "{&#34;label&#34;" not in page and '{"label"' not in page


def test_form_hashes_are_marked_not_to_wrap(site):
    page = _session(site, "manager@example.org").get(f"{site}/projects/1/forms", timeout=60).text
    assert re.search(r'<code class="hash">md5:[0-9a-f]{32}</code>', page)
    css = requests.get(f"{site}/static/app.css", timeout=60).text
    assert re.search(r"code\.hash \{ white-space: nowrap; word-break: normal; \}", css)


def test_an_empty_overview_shows_no_empty_table(site):
    page = _session(site, "manager@example.org").get(f"{site}/projects/1", timeout=60).text
    assert 'id="per-day"' not in page and "No submissions in the last 14 days." in page
    assert 'href="/projects/1/devices"' in page


def test_the_review_message_says_what_happened_in_words(app, site, store, collect_client):
    from .test_monitoring import day, interview
    assert collect_client.submit(interview(app, store, "chanderi-w03-f1", day(1), 30)).status == 201
    submission_id = store.submission_page(1, {}, None)[0]["id"]
    manager = _session(site, "manager@example.org")
    page = manager.get(f"{site}/projects/1/submissions/{submission_id}", timeout=60).text
    rejected = manager.post(f"{site}/projects/1/submissions/{submission_id}/review", timeout=60,
                            data={"csrf_token": _csrf(page), "state": "rejected", "comment": "a test"}).text
    assert f"Submission {submission_id} rejected." in rejected
    commented = manager.post(f"{site}/projects/1/submissions/{submission_id}/review", timeout=60,
                             data={"csrf_token": _csrf(page), "comment": "seen"}).text
    assert f"Comment added to submission {submission_id}." in commented
    overview = manager.get(f"{site}/projects/1", timeout=60).text
    assert 'id="per-day"' in overview and "No submissions in the last" not in overview


def test_the_first_day_pages_in_the_browser(site, store, browser, screenshots):
    """The same pages in headless Chromium: a hash stays on one line, the navigation is there, no CSP violation;
    a screenshot of each for review."""
    from selenium.webdriver.common.by import By
    from .chromium import sign_in
    store.create_api_token(store.user_by_email("manager@example.org")["id"], hash_token(new_token()), "R scripts")
    sign_in(browser, site, "manager@example.org")
    for name, path in (("overview-empty", "/projects/1"), ("forms", "/projects/1/forms"), ("account", "/account"),
                       ("not-found", "/no/such/page")):
        browser.get(site + path)
        assert browser.find_element(By.CSS_SELECTOR, 'header.top nav a[href="/projects/1/submissions"]')
        assert [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]] == []
        browser.save_screenshot(str(screenshots / f"{name}.png"))
    browser.get(f"{site}/projects/1/forms")
    code = browser.find_element(By.CSS_SELECTOR, "code.hash")
    assert browser.execute_script("return getComputedStyle(arguments[0]).whiteSpace", code) == "nowrap"
    line = browser.execute_script("return parseFloat(getComputedStyle(arguments[0]).lineHeight)", code)
    assert code.size["height"] < 1.5 * line                     # one line, however narrow the column
    sign_in(browser, site, "admin@example.org")
    browser.get(f"{site}/projects/1")
    browser.get(f"{site}/admin/audit")
    assert browser.find_element(By.CSS_SELECTOR, 'header.top nav a[href="/projects/1/submissions"]')
    browser.save_screenshot(str(screenshots / "audit.png"))
