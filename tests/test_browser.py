"""Real-browser tests: one `streamlit run app.py` on a loopback port for the module; headless Chromium
presses Train on every page, follows links, reopens a comparison.

Skips (with the reason) where Chromium or Playwright is not installed; .ci/run installs both.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt install chromium)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path):
    """`streamlit run app.py` on a free loopback port, its cache under `root`, its log in root/server.log
    (a file: a pipe nobody reads would block a chatty server)."""
    port = free_port()
    env = {**os.environ, "CLVIZ_CACHE_DIR": str(root / "cache")}
    log = open(root / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (root / "server.log").read_text())
    return proc, f"http://127.0.0.1:{port}"


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module (a start is seconds): its cache and log under a fresh folder."""
    root = tmp_path_factory.mktemp("browser")
    proc, url = start_server(root)
    yield url, root / "server.log"
    stop(proc)


def test_a_deep_link_opens_in_the_apps_navigation(server):
    server, _ = server
    """A link pasted into the slides opens a fresh session on a page, with its settings: the
    page must run through app.py (st.navigation: titles, the shared sidebar), not as a file of
    Streamlit's old automatic pages/ mode (the reason the pages live in app_pages/)."""
    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server + "/probe?seed=3&probe_epochs=2", timeout=60_000)
        page.get_by_role("heading", name="Linear probe on the latent features").wait_for(timeout=60_000)
        nav = [a.inner_text().split("\n")[-1] for a in page.locator("[data-testid=stSidebarNavLink]").all()]
        # the widgets take the link's values (the sidebar may draw a moment after the heading)
        sync_api.expect(page.get_by_label("Seed", exact=True)).to_have_value("3", timeout=15_000)
        sync_api.expect(page.get_by_label("Epochs per task", exact=True)).to_have_value("2", timeout=15_000)
        browser.close()
    assert nav[:3] == ["Home", "Sparsity", "Linear Probe"] and "Remedies" in nav, nav


def test_a_compare_link_reopens_the_same_comparison(server):
    server, _ = server
    """A comparison's address, pasted into another browser, opens on the same grid and shows the
    same verdicts at once (every cell is stored)."""
    from urllib.parse import urlencode
    link = server + "/compare?" + urlencode({"compare_experiment": "probe", "compare_vary_probe": "optimizer=adam,sgd",
                                             "compare_set_probe": "epochs=1; per_class=30", "compare_seeds": "2"})
    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(link, timeout=60_000)
        page.get_by_text("2 cells x 2 seeds").wait_for(timeout=60_000)
        page.get_by_role("button", name="Train", exact=True).click(timeout=60_000)
        page.get_by_text("Compared 2 cells x 2 seeds").wait_for(timeout=180_000)
        headline = page.get_by_text("final accuracy, optimizer=sgd against the baseline")
        first = headline.inner_text(timeout=30_000)
        address = page.url
        other = browser.new_page(viewport={"width": 1400, "height": 1600})
        other.goto(address, timeout=60_000)
        other.get_by_text("Stored results for every cell of these settings").wait_for(timeout=60_000)
        again = other.get_by_text("final accuracy, optimizer=sgd against the baseline").inner_text(timeout=30_000)
        assert again == first and "95% interval" in first
        browser.close()


# What a room at a projector would see wrong, read from the page as drawn: a legend entry outside its
# chart (clipped) or cut with an ellipsis, a table wider than its place, a page that scrolls sideways.
PROJECTOR_CHECK = """() => {
  const bad = [], de = document.documentElement;
  if (de.scrollWidth > de.clientWidth + 1) bad.push(`the page scrolls sideways (${de.scrollWidth} > ${de.clientWidth})`);
  for (const s of document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller'))
    if (s.scrollWidth > s.clientWidth + 1) bad.push('a table wider than its place: ' + s.closest('[data-testid=stDataFrame]').innerText.slice(0, 80));
  for (const c of document.querySelectorAll('[data-testid=stVegaLiteChart]')) {
    const box = c.getBoundingClientRect();
    for (const v of c.querySelectorAll('canvas, svg.marks'))  // a chart drawn wider than its place is cut at its edge
      if (v.getBoundingClientRect().right > box.right + 1) bad.push('a chart wider than its place: ' + (c.innerText || c.getAttribute('aria-label') || '').slice(0, 60));
    for (const t of c.querySelectorAll('.role-legend text')) {
      const r = t.getBoundingClientRect();
      if (r.bottom > box.bottom + 1 || r.top < box.top - 1 || r.right > box.right + 1) bad.push('a legend entry outside its chart: ' + t.textContent);
      if (t.textContent.includes('\u2026')) bad.push('a legend entry cut: ' + t.textContent);
    }
  }
  return bad;
}"""


# A trained page drawn whole: at least `n` charts, every one drawn by Vega (its marks in the DOM),
# and each of `texts` on the page. "trained in" comes before the result's view, which the page
# streams below it chart by chart (Depth's ten take a while on a loaded machine)
PAGE_DRAWN = """([texts, n]) => {
  const cs = [...document.querySelectorAll('[data-testid=stVegaLiteChart]')];
  return cs.length >= n && cs.every(c => c.querySelector('svg.marks, canvas'))
    && texts.every(t => document.body.innerText.includes(t));
}"""


# What each page shows once trained, beyond the projector's checks: its own headings and figures
SHOWN = {"probe": ["Preserved (probe / joint)", "Per task"],
         "depth": ["1. Told the task", "2. Which layer lost it", "3. The probe, and its control", "4. The stability gap",
                   "5. Forgetting events", "6. The loss plane"]}
CHARTS_AT_LEAST = {"depth": 10}


def settled(page, wait_ms=10_000):
    """What the projector check finds once the page's layout has settled: a chart that stretches to
    its column is drawn again when a scrollbar or a late chart changes that width, and a check made
    in between sees the old layout. What is still wrong after `wait_ms` is a real fault."""
    try:
        page.wait_for_function(f"({PROJECTOR_CHECK})().length == 0", timeout=wait_ms, polling=200)
    except sync_api.TimeoutError:
        pass
    return page.evaluate(PROJECTOR_CHECK)


def test_every_page_reads_on_a_projector(server):
    """Every page at 1280x720, trained with its defaults in a real browser: its own figures drawn,
    every series in its legend, no table or page wider than the screen, and no traceback in the
    page or the server's log. (CLVIZ_SCREENSHOT=DIR keeps a full-page screenshot of each.)"""
    from clviz import experiments
    url, log = server
    found, trained, missing = {}, [], {}
    shots = os.environ.get("CLVIZ_SCREENSHOT")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url, timeout=60_000)
        page.get_by_role("heading", name="Catastrophic forgetting, live").wait_for(timeout=60_000)
        found["home"] = page.evaluate(PROJECTOR_CHECK)
        for name in experiments.REGISTRY:
            # no CIFAR-100 here: the CIFAR page on digits, through its fallback's link value
            page.goto(f"{url}/{name}" + ("?cifar_fallback=true" if name == "cifar" else ""), timeout=60_000)
            if name == "cifar":
                page.get_by_role("heading", name="The CIFAR experiment on digits").wait_for(timeout=30_000)
            page.get_by_role("button", name="Train", exact=True).click(timeout=60_000)
            done = page.get_by_text("trained in").or_(page.locator("[data-testid=stAlertContentError]")).first
            done.wait_for(timeout=240_000)
            assert page.get_by_text("trained in").count() == 1, f"{name}: " + page.inner_text("[data-testid=stMain]")[-1500:]
            drawn = [SHOWN.get(name, []), CHARTS_AT_LEAST.get(name, 1)]
            try:  # what is still missing after a minute is reported below, page by page
                page.wait_for_function(PAGE_DRAWN, arg=drawn, timeout=60_000, polling=100)
            except sync_api.TimeoutError:
                pass
            found[name] = settled(page)
            text = page.inner_text("body")
            missing[name] = [t for t in SHOWN.get(name, []) + ["Traceback"] if (t in text) == (t == "Traceback")]
            if page.locator("[data-testid=stVegaLiteChart]").count() < CHARTS_AT_LEAST.get(name, 1):
                missing[name].append("charts")
            if not page.evaluate(PAGE_DRAWN, [[], 1]):
                missing[name].append("a chart Vega did not draw")
            if shots:
                page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)
            trained.append(name)
        browser.close()
    assert trained == list(experiments.REGISTRY)
    assert {k: v for k, v in missing.items() if v} == {}
    assert {k: v for k, v in found.items() if v} == {}
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
