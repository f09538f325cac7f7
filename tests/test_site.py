"""The report site, built strictly and opened in a real headless Chromium: every image loads,
the maths renders (on first load, after instant navigation and after Back) and the console
stays free of errors. Full-page screenshots go to build/site/ for a person to look at."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelab.workshop import explore

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["", "data/", "model/", "results/", "evaluation/", "priors/", "explore/", "insights/", "reproduce/"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """The browser to drive. Without one the test is skipped with the reason (the message `make
    browser` prints too), except where VAELAB_REQUIRE_BROWSER=1 (CI): there it fails."""
    for name in (os.environ.get("VAELAB_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = name and shutil.which(name)
        if path:
            return path
    reason = ("no Chromium, so the browser test is skipped (install chromium, or set VAELAB_CHROMIUM "
              "to a Chromium or Chrome)")
    if os.environ.get("VAELAB_REQUIRE_BROWSER") == "1":
        pytest.fail(reason.replace("is skipped", "cannot run, and VAELAB_REQUIRE_BROWSER=1 requires it"))
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built with --strict from the committed assets/ into a fresh folder."""
    if not (ROOT / "node_modules" / "mathjax").is_dir():
        pytest.fail("node_modules/mathjax is missing: run `make docs` (npm ci) first")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
                           cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stderr
    return out


@pytest.fixture(scope="module")
def url(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements.txt")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    page.close()


def settle(page) -> None:
    """Wait for the images and for MathJax's typesetting of the current page."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    page.wait_for_function("() => [...document.images].every(img => img.complete)")
    page.wait_for_function("""() => [...document.querySelectorAll('.arithmatex')]
                                     .every(el => el.querySelector('mjx-container'))""", timeout=15_000)


def check(page, name: str) -> dict:
    settle(page)
    state = page.evaluate("""() => ({
        images: [...document.images].map(img => ({src: img.getAttribute('src'), width: img.naturalWidth})),
        maths: document.querySelectorAll('.arithmatex').length,
        rendered: document.querySelectorAll('.arithmatex > mjx-container').length,
        nested: document.querySelectorAll('mjx-container mjx-container').length,
        blank: [...document.querySelectorAll('mjx-container mjx-c')]
                 .filter(c => ['none', 'normal', ''].includes(getComputedStyle(c, '::before').content)).length,
        raw: [...document.querySelectorAll('.md-content')].some(el => /\\\\\\(|\\\\\\[/.test(el.innerText)),
    })""")
    broken = [img["src"] for img in state["images"] if img["width"] == 0]
    assert not broken, f"{name}: images that did not load: {broken}"
    assert state["rendered"] == state["maths"], f"{name}: {state['maths'] - state['rendered']} formulas not rendered"
    assert not state["nested"], f"{name}: formulas typeset twice (one inside the other)"
    assert not state["blank"], f"{name}: {state['blank']} glyphs without their CSS (blank formulas)"
    assert not state["raw"], f"{name}: raw TeX delimiters left on the page"
    assert not page.errors, f"{name}: console errors: {page.errors}"
    return state


def test_every_page_loads_its_figures_and_renders_its_maths(page, url):
    shots = ROOT / "build" / "site"
    shots.mkdir(parents=True, exist_ok=True)
    counts = {}
    for path in PAGES:
        page.goto(url + path)
        state = check(page, path or "index")
        counts[path] = (len(state["images"]), state["maths"])
        page.screenshot(path=str(shots / f"{(path.strip('/') or 'index')}.png"), full_page=True)
    for path, (images, _) in counts.items():  # every figure the page's Markdown names, both datasets
        source = (ROOT / "docs" / f"{path.strip('/') or 'index'}.md").read_text()
        assert images == source.count("](assets/"), (path, images)
    assert sum(n for n, _ in counts.values()) >= 30, counts
    assert counts["model/"][1] >= 5 and counts["evaluation/"][1] >= 1, counts


def test_maths_renders_after_instant_navigation_and_after_back(page, url):
    page.goto(url)
    check(page, "index")
    page.locator(".md-content").get_by_role("link", name="The model", exact=True).click()
    page.wait_for_url("**/model/")
    assert check(page, "model after navigation")["rendered"] >= 5
    page.locator(".md-sidebar--primary").get_by_role("link", name="Evaluation", exact=True).click()
    page.wait_for_url("**/evaluation/")
    check(page, "evaluation after navigation")
    page.go_back()
    page.wait_for_url("**/model/")
    assert check(page, "model after Back")["rendered"] >= 5


def test_tables_come_from_the_notebooks(page, url):
    page.goto(url + "evaluation/")
    check(page, "evaluation")
    table = (ROOT / "assets" / "results_table.md").read_text()
    headings = [h.strip("¶ \n") for h in page.locator("h3").all_inner_texts()]
    assert "Fashion-MNIST" in headings and "### Fashion-MNIST" in table
    first_row = next(line for line in table.splitlines() if line.startswith("| raw pixels"))
    cells = [c.strip() for c in first_row.strip("|").split("|")]
    assert page.locator("td", has_text=cells[-1]).count() >= 1


def test_tables_and_figures_fit_a_laptop_screen_and_carry_captions(page, url):
    """Issue 14: no table scrolls sideways at 1280 px, and every figure has its caption beneath it."""
    page.set_viewport_size({"width": 1280, "height": 900})
    for path in ("evaluation/", "results/", "priors/"):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        state = page.evaluate("""() => ({
            wide: [...document.querySelectorAll('.md-typeset__scrollwrap')]
                    .filter(w => w.scrollWidth > w.clientWidth + 1).length,
            tables: document.querySelectorAll('.md-typeset table').length,
            figures: document.querySelectorAll('.md-content img[src*="assets/"]').length,
            captioned: document.querySelectorAll('.md-content figure img[src*="assets/"]').length,
            captions: [...document.querySelectorAll('.md-content figure figcaption')].filter(c => c.innerText.trim()).length,
        })""")
        assert state["wide"] == 0, f"{path}: {state['wide']} of {state['tables']} tables scroll sideways at 1280 px"
        assert state["figures"] == state["captioned"] == state["captions"], (path, state)


# --- The latent-space explorer (issue 16): the decoders of notebook 08's export, run in the page ---

EXPLORE = ROOT / "assets" / "explore"
SHOTS = ROOT / "build" / "site"


def explorer_ready(page) -> None:
    """Wait until every explorer on the page has loaded its decoders and drawn its first images."""
    page.wait_for_function("""() => {
        const roots = [...document.querySelectorAll('.vaelab-explorer')];
        return roots.length > 0 && roots.every(r => r.dataset.state === 'ready');
    }""", timeout=30_000)


def drawn(page, selector: str) -> str:
    """What a canvas shows now (its pixels, as a data URL)."""
    return page.evaluate("s => document.querySelector(s).toDataURL()", selector)


def changes(page, selector: str, action) -> bool:
    before = drawn(page, selector)
    action()
    page.wait_for_timeout(100)  # the plane redraws on the next animation frame
    return drawn(page, selector) != before


def test_the_explorer_decodes_what_pytorch_decodes(page, url, site):
    """The page's pixels for the export's check codes (test codes and prior samples) are PyTorch's
    within the stated tolerance, and exactly the stored decoder's up to float32 rounding; every
    request stays on the site."""
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url + "explore/")
    explorer_ready(page)
    assert any(r.endswith("/assets/explore/mnist-best.bin") for r in requests), requests
    assert all(r.startswith(url) for r in requests), [r for r in requests if not r.startswith(url)]
    checks = sorted((EXPLORE / "check").glob("*.json"))
    assert [p.stem for p in checks] == ["fashion-mnist", "mnist"]
    for path in checks:
        check = json.loads(path.read_text())
        manifest = EXPLORE / f"{check['dataset']}.json"
        for model, reference in check["models"].items():
            codes = reference["codes"]
            got = np.array(page.evaluate("([d, m, z]) => window.vaelabExplorer.decode(d, m, z)",
                                         [check["dataset"], model, codes]))
            assert got.shape == (len(codes), 784)
            difference = np.abs(got - np.array(reference["pixels"])).max()
            assert difference <= check["tolerance"], (path.name, model, difference)
            with torch.no_grad():
                stored = torch.sigmoid(explore.load_decoder(manifest, model)(torch.tensor(codes))).numpy()
            assert np.abs(got - stored).max() < 1e-4, (path.name, model)
    published = sum(p.stat().st_size for p in (site / "assets" / "explore").iterdir())
    assert published < 5_000_000, f"the explorer's files take {published / 1e6:.2f} MB (budget: about 5)"
    assert not (site / "assets" / "explore" / "check").exists()
    assert not page.errors, page.errors


def test_the_explorers_controls_change_the_image(page, url):
    page.goto(url + "explore/")
    explorer_ready(page)
    root = ".vaelab-explorer[data-dataset='fashion-mnist']"
    plane_out = f"{root} .vx-section:nth-of-type(1) .vx-out canvas"
    plane = page.locator(f"{root} canvas.vx-plane")
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    assert changes(page, plane_out, lambda: page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"]))
    assert changes(page, plane_out, lambda: page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.6 * box["height"]))
    plane.focus()  # the keyboard moves the point too
    readout = page.locator(f"{root} .vx-readout").inner_text()
    assert changes(page, plane_out, lambda: [page.keyboard.press("Shift+ArrowLeft") for _ in range(3)])
    assert page.locator(f"{root} .vx-readout").inner_text() != readout

    sliders_out = f"{root} .vx-section:nth-of-type(2) .vx-out canvas"
    slider = page.locator(f"{root} .vx-slider input").first
    assert changes(page, sliders_out, lambda: (slider.focus(), page.keyboard.press("End")))
    assert changes(page, sliders_out, lambda: page.get_by_role("button", name="Sample from the prior").first.click())
    assert changes(page, sliders_out, lambda: page.locator(f"{root} .vx-section:nth-of-type(2) select").select_option("5"))

    middle = f"{root} .vx-strip canvas:nth-child(5)"
    assert changes(page, middle, lambda: page.locator(f"{root} .vx-section:nth-of-type(3) select").nth(1).select_option("6"))

    page.locator(".tabbed-labels").first.get_by_text("MNIST", exact=True).click()  # the other dataset's explorer
    mnist = ".vaelab-explorer[data-dataset='mnist']"
    page.locator(f"{mnist} canvas.vx-plane").scroll_into_view_if_needed()
    box = page.locator(f"{mnist} canvas.vx-plane").bounding_box()
    assert changes(page, f"{mnist} .vx-section:nth-of-type(1) .vx-out canvas",
                   lambda: page.mouse.move(box["x"] + 0.4 * box["width"], box["y"] + 0.5 * box["height"]))
    page.locator(".tabbed-labels").first.get_by_text("Fashion-MNIST", exact=True).click()
    page.evaluate("() => window.scrollTo(0, 0)")  # the header then sits at the top of the full-page shot
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "explore-desktop.png"), full_page=True)
    assert not page.errors, page.errors


def test_the_explorer_on_a_phone(browser, url):
    """A 390 x 844 touch screen: nothing scrolls sideways, and a tap on the plane decodes there."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "explore/")
    explorer_ready(page)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    root = ".vaelab-explorer[data-dataset='fashion-mnist']"
    plane = page.locator(f"{root} canvas.vx-plane")
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] >= 250, box
    assert changes(page, f"{root} .vx-section:nth-of-type(1) .vx-out canvas",
                   lambda: page.touchscreen.tap(box["x"] + 0.25 * box["width"], box["y"] + 0.75 * box["height"]))
    tops = page.evaluate(f"() => [...document.querySelectorAll(\"{root} .vx-strip canvas\")]"
                         ".map(c => Math.round(c.getBoundingClientRect().top))")
    assert len(tops) == 10 and len(set(tops)) == 1, f"the interpolation strip wraps: {tops}"
    page.evaluate("() => window.scrollTo(0, 0)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "explore-phone.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_the_explorer_starts_after_instant_navigation_and_after_back(page, url):
    page.goto(url)
    check(page, "index")
    page.locator(".md-sidebar--primary").get_by_role("link", name="Explore", exact=True).click()
    page.wait_for_url("**/explore/")
    explorer_ready(page)
    page.locator(".md-sidebar--primary").get_by_role("link", name="Insights", exact=True).click()
    page.wait_for_url("**/insights/")
    page.go_back()
    page.wait_for_url("**/explore/")
    explorer_ready(page)
    assert page.locator(".vaelab-explorer canvas.vx-plane").count() == 2
    assert not page.errors, page.errors


def test_without_javascript_the_explorer_says_what_it_needs(browser, url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url + "explore/")
    message = page.locator(".vx-noscript")
    assert message.is_visible() and "needs JavaScript" in message.inner_text()
    context.close()
