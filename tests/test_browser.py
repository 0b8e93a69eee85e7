"""End to end in headless Chromium (Debian's chromium and chromium-driver, installed by scripts/test): sign in, read the
clusters chart, open a cluster, reject and approve a submission and watch the aggregates follow, download an export.
The DOM is asserted; nothing depends on screenshots."""

from __future__ import annotations

import io
import zipfile

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

from .test_aggregates import EXAMPLE3, HAMLET, hh, rank
from .chromium import click_and_wait, downloaded, sign_in
from .web import PASSWORD, make_users

@pytest.fixture
def site(app, store, project, collect_client, live):
    """A live server with Example 3's three ranking sessions and a manager who reviews."""
    other = store.create_project("Other")
    make_users(store, project["id"], other["id"])
    store.upsert_list_items(project["id"], "households.csv",
                            [(hh(k), {"label": f"Head {k}", "hamlet": HAMLET, "cluster": "chanderi", "node": ""})
                             for k in EXAMPLE3], source="test")
    households = [hh(k) for k in EXAMPLE3]
    for group in range(3):
        rank(collect_client, app, store, project, group, households)
    return live.url


def _counts(driver) -> dict[str, int]:
    row = driver.find_element(By.CSS_SELECTOR, '#clusters-chart tr[data-cluster="chanderi"]')
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    return {"happy": int(cells[1]), "average": int(cells[2]), "sad": int(cells[3])}


def _click_and_wait_for(driver, button, locator: tuple[str, str], text: str) -> None:
    """Click, wait until the old page is gone, then until the new page shows `text` at `locator`. Asserting straight
    after a click can read the page being left (or an element it drops mid-read) on a slow machine."""
    click_and_wait(driver, button)
    WebDriverWait(driver, 30).until(shown.text_to_be_present_in_element(locator, text))
    assert driver.find_element(*locator).text == text


def _review(driver, base: str, submission_id: int, state: str, comment: str) -> None:
    driver.get(f"{base}/projects/1/submissions/{submission_id}")
    driver.find_element(By.ID, "review-comment").send_keys(comment)
    _click_and_wait_for(driver, driver.find_element(By.ID, f"review-{state}"), (By.ID, "review-state"), state)


def test_an_nda_lead_reviews_in_the_browser_and_the_aggregates_follow(browser, site, store, tmp_path):
    browser.get(f"{site}/login")
    browser.find_element(By.ID, "email").send_keys("manager@example.org")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    _click_and_wait_for(browser, browser.find_element(By.ID, "sign-in"), (By.TAG_NAME, "h1"), "Test PPA")

    browser.get(f"{site}/projects/1/clusters")
    assert _counts(browser) == {"happy": 2, "average": 3, "sad": 3}           # docs/method.md Example 3
    browser.find_element(By.LINK_TEXT, "Chanderi handloom").click()   # the list's label, not the code
    assert browser.find_element(By.CSS_SELECTOR, f'#cluster-hamlets tr[data-hamlet="{HAMLET}"]')

    browser.get(f"{site}/projects/1/submissions?form=well_being_ranking")
    ids = [int(r.get_attribute("data-id")) for r in browser.find_elements(By.CSS_SELECTOR, "#submissions tbody tr")]
    group_a = min(ids)                                                        # the first session sent: group A
    _review(browser, site, group_a, "rejected", "the group was not independent")
    browser.get(f"{site}/projects/1/clusters")
    assert _counts(browser) == {"happy": 1, "average": 5, "sad": 2}           # only groups B and C count now
    _review(browser, site, group_a, "approved", "re-checked with the facilitator")
    browser.get(f"{site}/projects/1/clusters")
    assert _counts(browser) == {"happy": 2, "average": 3, "sad": 3}

    browser.get(f"{site}/projects/1/downloads")
    browser.find_element(By.CSS_SELECTOR, '.download-form[data-form="well_being_ranking"]')
    link = browser.find_element(By.CSS_SELECTOR, "a.dl-csv")
    link.click()
    saved = downloaded(tmp_path / "downloads", "*.zip")
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        assert any(name.endswith(".csv") for name in archive.namelist())
    actions = {e["action"] for e in store.audit_search(limit=100)}
    assert {"user.sign_in", "submission.review", "export"} <= actions


# -- the Content-Security-Policy in a real browser (issue #10 item 2) ------------------------------------------------

def _violations(driver) -> list[str]:
    """What Chromium reported to the console about the Content-Security-Policy since the last call."""
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_every_main_page_runs_under_the_csp_without_a_violation_and_its_scripts_work(browser, site, store, token,
                                                                                     tmp_path):
    from .collect import Collect
    from .test_security import JPEG, _send_photo
    phone = Collect(site, f"{site}/v1/key/{token}/projects/1")
    photo = store.get_submission(store.get_form(1, "ppa_community")["id"],
                                 _send_photo(phone, "1732262400200.jpg", JPEG, "image/jpeg"))["id"]
    device = store.list_devices(1)[0]["id"]
    browser.get(f"{site}/login")
    assert browser.find_element(By.ID, "sign-in") and _violations(browser) == []
    sign_in(browser, site, "admin@example.org")
    pages = ["/", "/projects/1", "/projects/1/clusters", "/projects/1/clusters/chanderi", "/projects/1/nodes",
             "/projects/1/submissions", f"/projects/1/submissions/{photo}",
             f"/projects/1/hamlets/{HAMLET}/validation-sheet", "/projects/1/downloads", "/projects/1/devices",
             f"/projects/1/devices/{device}", f"/projects/1/devices/{device}/sheet", "/projects/1/forms",
             "/projects/1/lists", "/projects/1/people", "/admin/users", "/admin/audit", "/account", "/no/such/page",
             "/projects/1/monitoring?from=2026-11-01&to=2026-11-30"]
    for page in pages:
        browser.get(site + page)
        assert browser.find_element(By.TAG_NAME, "h1").text, page
        assert _violations(browser) == [], page

    # the photo is shown: an <img> that loaded (a picture of 4 x 3 pixels), not a broken link
    browser.get(f"{site}/projects/1/submissions/{photo}")
    image = browser.find_element(By.CSS_SELECTOR, "ul.attachments img.thumb")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return arguments[0].complete", image))
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 4

    # the chart: SVG bars drawn by the server, a quarter of Chanderi's households happy (docs/method.md Example 3)
    browser.get(f"{site}/projects/1/clusters")
    bar = browser.find_element(By.CSS_SELECTOR, '#clusters-chart tr[data-cluster="chanderi"] svg.bar')
    happy = bar.find_element(By.CSS_SELECTOR, "rect.happy")
    assert abs(happy.size["width"] / bar.size["width"] - 2 / 8) < 0.02
    assert browser.execute_script("return getComputedStyle(arguments[0]).fill", happy) == "rgb(60, 141, 64)"

    # a round picker submits itself when a round is chosen
    picker = browser.find_element(By.CSS_SELECTOR, "select[data-submit-on-change]")
    page = browser.find_element(By.TAG_NAME, "html")
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", picker)
    WebDriverWait(browser, 30).until(shown.staleness_of(page))
    assert "round=" in browser.current_url

    # Downloads: the format chosen becomes the address's ending
    browser.get(f"{site}/projects/1/downloads")
    form = browser.find_element(By.CSS_SELECTOR, '.download-form[data-form="household_income"]')
    from selenium.webdriver.support.ui import Select
    Select(form.find_element(By.CSS_SELECTOR, "select[data-format-switch]")).select_by_value("xlsx")
    assert form.get_attribute("action").endswith("/downloads/household_income.xlsx")

    # the validation sheet's Print button prints
    browser.get(f"{site}/projects/1/hamlets/{HAMLET}/validation-sheet")
    browser.execute_script("window.print = function () { document.body.dataset.printed = 'yes'; }")
    browser.find_element(By.CSS_SELECTOR, "button[data-print]").click()
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-printed") == "yes"
    assert _violations(browser) == []

    # and the check can fail: an inline style put into the page is refused and reported
    browser.execute_script("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    assert any("inline style" in m for m in _violations(browser))


def test_a_hostile_file_name_is_saved_under_a_harmless_name(browser, site, store, token, tmp_path):
    """A photo named to smuggle `filename*=...evil.html` into Content-Disposition: Chromium saves the file under the
    whole name it was given (made safe by Chromium), never as evil.html."""
    from .collect import Collect
    from .test_security import HOSTILE, HTML, _send_photo
    from urllib.parse import quote
    phone = Collect(site, f"{site}/v1/key/{token}/projects/1")
    submission = store.get_submission(store.get_form(1, "ppa_community")["id"],
                                      _send_photo(phone, HOSTILE, HTML, "image/jpeg"))["id"]
    sign_in(browser, site, "manager@example.org")
    target = tmp_path / "downloads"
    try:
        browser.get(f"{site}/projects/1/submissions/{submission}/attachments/{quote(HOSTILE, safe='')}")
    except Exception:   # a navigation that becomes a download may report an aborted load
        pass
    saved = downloaded(target)
    assert saved.read_bytes() == HTML
    assert saved.name != "evil.html" and not saved.name.endswith(".html")
    assert saved.name.endswith(".jpg") and "evil.html" in saved.name   # the whole name, one parameter
