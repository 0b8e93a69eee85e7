"""Headless Chromium for the page tests (Debian's chromium and chromium-driver, installed by scripts/test): the
one way to start it, and the one way to sign in through the real sign-in page. The `browser` fixture in conftest.py
uses start()."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

from .web import PASSWORD

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def start(folder: Path) -> webdriver.Chrome:
    assert CHROMIUM and DRIVER, ("chromium or chromedriver is not on PATH: install Debian's chromium and "
                                 "chromium-driver (scripts/test does, when run as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={folder / 'profile'}",
                 "--window-size=1280,1600"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(folder / "downloads"),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # the console, where CSP violations go
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(15)   # a loaded two-core machine may render slowly: wait for elements, never sleep
    return driver


def click_and_wait(driver, button) -> None:
    """Click a button that loads a page, and wait until the page being left is gone: reading straight after a
    click can read the old page (or an element it drops mid-read) on a loaded machine."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 30).until(shown.staleness_of(page))


def sign_in(driver, base: str, email: str, password: str = PASSWORD) -> None:
    """Through the sign-in page, waiting until the page after it has replaced it."""
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    click_and_wait(driver, driver.find_element(By.ID, "sign-in"))
    assert not driver.current_url.endswith("/login"), "sign-in failed"


def downloaded(folder: Path, pattern: str = "*", timeout: float = 60) -> Path:
    """The one file Chromium saved into folder, once it is whole. Chromium writes into NAME.crdownload and may
    reserve NAME itself as an empty file meanwhile: a file is whole when no .crdownload is left, it is not empty,
    and its size holds still between two looks."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        partial = list(folder.glob("*.crdownload"))
        found = [f for f in folder.glob(pattern) if not f.name.endswith(".crdownload")]
        sizes = [(f, f.stat().st_size) for f in found if f.exists()]
        if not partial and len(sizes) == 1 and sizes[0][1] > 0:
            if sizes == last:
                return sizes[0][0]
            last = sizes
        time.sleep(0.2)
    raise AssertionError(f"no whole download matching {pattern} in {folder} within {timeout} s: "
                         f"{sorted(f.name for f in folder.glob('*')) if folder.exists() else 'no folder'}")

