"""Browser test: `embedtune serve` on 127.0.0.1, headless Chromium types a query and sees results.

Needs Debian's ``chromium`` + ``chromium-driver`` (``.ci/run`` installs them) and pip ``selenium``;
skipped, with the reason, when they are not installed. The test never installs anything itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1100,900",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (chromium or chromedriver not installed), or None."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed: .ci/run installs them (as root), or `apt-get install chromium chromium-driver`"


# Skipped before any fixture starts a server (or fine-tunes a model, in the report's browser test).
pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(index_copy: Path, tmp_path: Path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EMBEDTUNE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedtune", "serve", str(index_copy), "--host", "127.0.0.1", "--port", str(port),
         "--cors", "*", "--quiet"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"serve exited early: {(tmp_path / 'serve.log').read_text()}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("serve did not come up within 180 s")
        time.sleep(0.5)
    yield base, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def start_chrome(tmp_path: Path, console_log: bool = False):
    """Headless Chromium under Selenium with a fresh profile (shared with the report's browser test)."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager reach for the network
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chrome-profile'}")
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def browser(tmp_path: Path):
    driver = start_chrome(tmp_path)
    yield driver
    driver.quit()


def test_search_page_shows_results_as_text_and_widget_works(server, browser, tmp_path: Path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, proc = server
    browser.get(base + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "documents" in d.find_element(By.ID, "status").text)
    box = browser.find_element(By.ID, "query")
    box.send_keys("are script tags in my notes dangerous?")
    browser.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#results li .title")))
    titles = [el.text for el in browser.find_elements(By.CSS_SELECTOR, "#results li .title")]
    assert titles[0] == "<b>Embedding</b> <script> tags"  # the markup shows as text
    first = browser.find_elements(By.CSS_SELECTOR, "#results li")[0]
    assert "<script>alert('xss')</script>" in first.find_element(By.CSS_SELECTOR, ".snippet").text
    assert first.find_element(By.CSS_SELECTOR, "a.title").get_attribute("href") == "https://help.example.com/xss"
    assert "score 0." in first.find_element(By.CSS_SELECTOR, ".score").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#results script, #results b")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 -- the passage's alert() never ran
    # the page sends no mode: the server's default answers, and both lines say which it is
    assert "results in" in browser.find_element(By.ID, "search-info").text
    assert browser.find_element(By.ID, "search-info").text.endswith("dense search")
    assert "dense search" in browser.find_element(By.ID, "status").text
    shot = tmp_path / "search-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 5_000
    print(f"screenshot: {shot}")

    # the recommend tab explains that this index has no recommendations
    browser.find_element(By.ID, "tab-recommend").click()
    browser.find_element(By.ID, "user-id").send_keys("u1")
    browser.find_element(By.CSS_SELECTOR, "#recommend-form button[type=submit]").click()
    wait.until(lambda d: "recsys DATA_DIR" in d.find_element(By.ID, "recommend-info").text)

    # the widget on a page of "another site" (a local file), calling the server through CORS
    page = tmp_path / "site.html"
    page.write_text(f'<!doctype html><html><body><h1>My docs</h1><script src="{base}/widget.js"></script></body></html>',
                    encoding="utf-8")
    browser.get(page.as_uri())
    host = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".embedtune-widget")))
    root = host.shadow_root
    root.find_element(By.CSS_SELECTOR, "button.toggle").click()
    root.find_element(By.CSS_SELECTOR, "input").send_keys("export every note to markdown")
    root.find_element(By.CSS_SELECTOR, "form button").click()
    wait.until(lambda d: root.find_elements(By.CSS_SELECTOR, "li .t"))
    assert root.find_elements(By.CSS_SELECTOR, "li .t")[0].text in ("Export", "Exportieren")
    browser.save_screenshot(str(tmp_path / "widget.png"))

    assert "\u00e2" not in root.find_element(By.CSS_SELECTOR, "button.toggle").text  # no mojibake on a page without charset

    # graceful shutdown: SIGTERM drains the queue and stops (uvicorn re-raises the signal on exit)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    log = (tmp_path / "serve.log").read_text()
    assert "shut down cleanly" in log and "Traceback" not in log
