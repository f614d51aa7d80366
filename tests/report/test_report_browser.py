"""Browser test: headless Chromium opens report.html from disk with no console errors.

Same stack as tests/serve/test_serve_browser.py (Debian ``chromium`` + ``chromium-driver``, which ``.ci/run``
installs, driven by pip ``selenium``); skipped, with the reason, when they are not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.report.report_helpers import SCRIPT
from tests.serve.test_serve_browser import chromium_missing

pytestmark = [pytest.mark.slow, pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")]


@pytest.fixture
def browser(tmp_path: Path):
    from tests.serve.test_serve_browser import start_chrome

    driver = start_chrome(tmp_path, console_log=True)
    yield driver
    driver.quit()


def test_report_opens_from_disk_without_errors(trained_run: Path, browser, tmp_path: Path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get((trained_run / "report.html").as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == "run"
    # every figure decoded and laid out at a readable size
    images = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(images) == 4
    for img in images:
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 300
        assert img.size["width"] >= 500
    # the passage's script is text on the page, and never ran
    assert SCRIPT in browser.find_element(By.ID, "examples").text
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    # nothing wider than the window: no horizontal scrolling
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1100, min(height + 100, 8000))
    shot = Path(os.environ.get("EMBEDTUNE_SCREENSHOT_DIR", tmp_path)) / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
