"""End to end in headless Chromium (Debian's chromium and chromium-driver, installed by scripts/test): sign in, read the
clusters chart, open a cluster, reject and approve a submission and watch the aggregates follow, download an export.
The DOM is asserted; nothing depends on screenshots."""

from __future__ import annotations

import io
import shutil
import time
import zipfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

from .test_aggregates import EXAMPLE3, HAMLET, hh, rank
from .web import PASSWORD, make_users

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    assert CHROMIUM and DRIVER, ("chromium or chromedriver is not on PATH: install Debian's chromium and "
                                 "chromium-driver (scripts/test does, when run as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1280,1600"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(15)   # a loaded two-core machine may render slowly: wait for elements, never sleep
    yield driver
    driver.quit()


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
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 30).until(shown.staleness_of(page))
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
    assert _counts(browser) == {"happy": 2, "average": 3, "sad": 3}           # DOMAIN.md Example 3
    browser.find_element(By.LINK_TEXT, "chanderi").click()
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
    target = tmp_path / "downloads"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(target.glob("*.zip")):
        time.sleep(0.2)
    (downloaded,) = list(target.glob("*.zip"))
    with zipfile.ZipFile(io.BytesIO(downloaded.read_bytes())) as archive:
        assert any(name.endswith(".csv") for name in archive.namelist())
    actions = {e["action"] for e in store.audit_search(limit=100)}
    assert {"user.sign_in", "submission.review", "export"} <= actions
