"""The leaderboard page in a real headless Chromium: load it, filter by category, check the rows.

Needs Debian's `chromium` and `chromium-driver` packages and selenium; skips with the
reason otherwise. The screenshot is kept as out/leaderboard_page.png (not committed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[1] / "out" / "leaderboard_page.png"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason="chromium not installed (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(not Path(CHROMEDRIVER).is_file(),
                       reason="chromedriver not installed (apt-get install chromium-driver)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def page_url(tmp_path_factory, tiny_llama, built_mcqa, minilm_path):
    pytest.importorskip("gradio", reason="gradio not installed (pip install imb-toolkit[leaderboard])")
    from test_leaderboard import make_results

    from imb_tools.leaderboard import collect, plots

    table_dir = tmp_path_factory.mktemp("board")
    results = make_results(tmp_path_factory.getbasetemp(), tiny_llama, built_mcqa.parent,
                           minilm_path)
    table = collect.collect([results])
    collect.write_table(table, table_dir)
    plots.plot_table(table, table_dir / "plots")

    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "imb_tools.cli", "leaderboard", "serve", "--table", str(table_dir),
         "--host", "127.0.0.1", "--port", str(port), "--all"],  # the runs are on the bundled sample
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"leaderboard server did not start:\n{server.stdout.read()[-3000:]}")
            time.sleep(0.3)
        yield url, table
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _table_rows(driver) -> list[list[str]]:
    """Body rows of the results table as the browser shows them (Gradio draws an ARIA grid;
    its <table> only measures column widths)."""
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#results-table [role=grid] [role=row][data-index]")
    return [[cell.text.strip() for cell in row.find_elements(By.CSS_SELECTOR, "[role=gridcell]")]
            for row in rows]


def test_page_loads_filters_and_shows_rows(page_url, browser):
    url, table = page_url
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(url)
    count = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#row-count"))
    wait.until(lambda d: "rows" in count.text)
    assert count.text == f"{len(table)} rows, 1 models"
    rows = wait.until(lambda d: _table_rows(d) or None)
    # per-category rows come from the logged samples; pick an MCQA category the run scored
    category_name = table.loc[table["task"] == "imb_mcqa", "category"].dropna().iloc[0]
    assert any("imb_mcqa" in row and category_name in row for row in rows), rows

    category = browser.find_element(By.CSS_SELECTOR, "#filter-category input")
    category.click()
    category.send_keys(category_name)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#filter-category ul li"))
    category.send_keys(Keys.ENTER)
    browser.find_element(By.TAG_NAME, "h1").click()  # close the dropdown
    expected = table[table["category"] == category_name]
    assert len(expected) >= 2  # acc and acc_norm at least
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#row-count").text == f"{len(expected)} rows, 1 models")

    rows = wait.until(lambda d: (r := _table_rows(d)) and len(r) == len(expected) and r)
    header = [th.get_attribute("title") for th in browser.find_elements(
        By.CSS_SELECTOR, "#results-table [role=grid] [role=columnheader]")]
    category_col, metric_col = header.index("category"), header.index("metric")
    assert {row[category_col] for row in rows} == {category_name}
    assert sorted(row[metric_col] for row in rows) == sorted(expected["metric"])

    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
