"""The web page in a real browser: Debian's chromium, driven by Playwright, against `ganforge serve`
on real run folders, while `ganforge train` writes into the served folder.

Only Playwright's Python package is used (no browser download). Without /usr/bin/chromium this
module skips with one line; in CI (.ci/run installs chromium) a missing browser is a failure.
"""

import io
import os
import signal
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 120_000  # generous: a training subprocess shares 1-2 cores with everything else

if not os.access(CHROMIUM, os.X_OK):
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {CHROMIUM} is missing (.ci/run installs it)", pytrace=False)
    pytest.skip(f"browser test: no {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test: pip install playwright")

# The range of an image's pixel values, as the browser decoded it: 0 means blank.
IMAGE_RANGE = """img => {
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d"); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let lo = 255, hi = 0;
  for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
  return [c.width, hi - lo];
}"""
# Pixels of a chart's canvas within reach of a series colour: its curve was drawn.
CURVE_PIXELS = """([canvas, rgb]) => {
  const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 128 && Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 60) n++;
  return n;
}"""
RED, BLUE = (0xE4, 0x57, 0x2E), (0x30, 0x56, 0xD3)  # the first two series colours (static/charts.js)


def ganforge(*args):
    return [sys.executable, "-m", "ganforge.cli", *map(str, args)]


@pytest.fixture(scope="module")
def served(viewer_run, tmp_path_factory, request):
    """`ganforge serve` on a folder holding a copy of the viewer run, as a user starts it."""
    if os.environ.get("GANFORGE_DATA"):
        request.getfixturevalue("judge")  # cached for the session, so the page shows verdicts
    root = tmp_path_factory.mktemp("browser") / "runs"
    root.mkdir()
    shutil.copytree(viewer_run.root, root / "tiny")
    server = subprocess.Popen(ganforge("serve", root, "--port", 0), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    line = server.stdout.readline()
    assert "http://127.0.0.1:" in line, line + server.stderr.read()
    yield root, line.split(" at ")[1].split()[0].rstrip("/")
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    page.close()
    assert not errors, errors


def image_range(page, selector):
    handle = page.wait_for_selector(selector)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
    return handle.evaluate(IMAGE_RANGE)


def curve_pixels(page, panel, rgb):
    return page.locator(f'.chart[data-panel="{panel}"] canvas').first.evaluate(
        f"(canvas, rgb) => ({CURVE_PIXELS})([canvas, rgb])", list(rgb))


def test_runs_and_run_page_follow_training(served, page):
    root, url = served
    page.goto(f"{url}/#/")
    page.wait_for_selector('tr[data-run="tiny"]')
    assert image_range(page, 'tr[data-run="tiny"] img.thumb')[1] > 100
    page.evaluate("window.notReloaded = true")
    train = ganforge("train", "--out", root / "fresh", "--set", "subset=256", "--epochs", 2, "--seed", 3,
                     "--device", "cpu", "--set", "tensorboard=false", "--no-progress")
    # a new run appears, and its epochs count up, on the open page
    with subprocess.Popen(train, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as training:
        page.wait_for_selector('tr[data-run="fresh"]', timeout=WAIT_MS)
        page.wait_for_function("""() => document.querySelector('tr[data-run="fresh"] .epochs')
                                      .textContent.trim() === "2 / 2" """, timeout=WAIT_MS)
        assert training.wait(timeout=WAIT_MS / 1000) == 0, training.stderr.read()
    page.wait_for_selector('tr[data-run="fresh"] .badge.finished')

    page.click('tr[data-run="fresh"] td:nth-child(2) a')
    page.wait_for_selector('#run[data-run="fresh"][data-epochs="2"]')
    for panel in ("Loss", "D accuracy", "D outputs (mean)"):
        assert curve_pixels(page, panel, RED) > 30 and curve_pixels(page, panel, BLUE) > 30, panel
    assert page.locator('.chart[data-panel="Judge, during training"]').is_hidden()  # no eval in this run
    assert page.text_content(".grid-epoch") == "epoch 2"
    assert image_range(page, "img.grid")[1] > 100 and image_range(page, "img.gif")[1] > 100
    assert "No warnings" in page.text_content("#run") and "n_fixed" in page.text_content("table.config")

    # the open run page takes a third epoch from a resumed run, without a reload
    resume = ganforge("train", "--resume", root / "fresh", "--epochs", 3, "--no-progress")
    assert subprocess.run(resume, capture_output=True, timeout=WAIT_MS / 1000).returncode == 0
    page.wait_for_selector('#run[data-epochs="3"]', timeout=WAIT_MS)
    assert int(page.get_attribute("#run", "data-live-records")) >= 1  # (a resume rewrites metrics.jsonl first)
    page.wait_for_function("() => document.querySelector('.grid-epoch').textContent === 'epoch 3'")
    assert page.evaluate("window.notReloaded") is True


def test_playground_draws_a_class_and_walks(served, page):
    _, url = served
    page.goto(f"{url}/#/run/tiny/play")
    page.select_option("select[name=label]", "3")
    page.fill("input[name=seed]", "20")
    page.fill("input[name=n]", "8")
    page.click("button[name=draw]")
    page.wait_for_function("() => document.querySelectorAll('.sample').length === 8")
    captions = page.locator(".sample .cap").all_text_contents()
    assert captions == [f"seed {s} · 3" for s in range(20, 28)]
    for i in range(8):
        width, spread = image_range(page, f".sample:nth-child({i + 1}) img")
        assert width == 28 and spread > 10  # a barely trained G draws faint blobs, but never a flat image
    note = page.text_content(".judge-note")
    if os.environ.get("GANFORGE_DATA"):
        assert note.startswith("judge mnist/classifier/")
        assert len(page.locator(".sample .verdict").all_text_contents()) == 8
    else:
        assert note.startswith("no verdicts")

    page.click(".sample:nth-child(1)")
    page.click(".sample:nth-child(4)")
    assert page.input_value("input[name=seeds]") == "20,23"
    assert page.input_value("select[name=walk-label]") == "3"
    page.fill("input[name=steps]", "6")
    page.click("button[name=walk]")
    page.wait_for_function("() => document.querySelector('img.strip').src.startsWith('blob:')")
    width, spread = image_range(page, "img.strip")
    assert width == 6 * 30 + 2 and spread > 10
    assert image_range(page, "img.anim")[1] > 10
    assert page.text_content("code.command") == "ganforge interpolate tiny --seeds 20,23 --steps 6 --label 3 --out walk.gif"
    gif = page.request.get(url + page.get_attribute("a.download", "href"))
    assert gif.headers["content-type"] == "image/gif" and Image.open(io.BytesIO(gif.body())).n_frames == 6

    page.fill("input[name=seeds]", "7")  # a bad walk: the server's one line, on the page
    page.click("button[name=walk]")
    page.wait_for_function("() => document.querySelector('.walk .error').textContent.includes('2 to 32 seeds')")


def test_an_image_to_image_run_takes_an_image_from_the_page(served, sr_run, page, tmp_path):
    """The playground of a super-resolution run is a file input: a chosen image comes back 4x
    larger beside it, with the command that makes the same file; a broken file gets the one line."""
    root, url = served
    shutil.copytree(sr_run.root, root / "upscale")  # the server reads the folder live
    ramp = (np.add.outer(np.arange(8), np.arange(10)) * 14).astype(np.uint8)  # 10 wide, 8 high, not flat
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    page.goto(f"{url}/#/run/upscale/play")
    page.set_input_files("input[name=image]", str(tmp_path / "ramp.png"))
    assert image_range(page, ".translate figure.input img") == [10, 224]
    width, spread = image_range(page, ".translate figure.output img")
    assert width == 40 and spread > 10
    assert page.text_content(".translate code.command") == "ganforge generate upscale --input ramp.png --out out/"
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n and then nothing")
    page.set_input_files("input[name=image]", str(tmp_path / "broken.png"))
    page.wait_for_function("() => document.querySelector('.translate .error').textContent.includes('cannot be used')")


def test_a_noise_run_draws_and_walks_through_an_sr_run_from_the_page(served, cascade_runs, page):
    """A 16 px run beside an x4 SR run that fits: the page offers it, and draws and walks at 64 px."""
    root, url = served
    for run in cascade_runs:
        shutil.copytree(run, root / run.name)
    page.goto(f"{url}/#/run/g16/play")
    # the choices arrive with the run's details, after the page is drawn: wait for them
    page.wait_for_function("() => document.querySelectorAll('select[name=upscale] option').length > 1")
    assert page.locator("select[name=upscale] option").all_text_contents() == ["none", "sr4"]
    page.fill("input[name=n]", "4")
    page.click("button[name=draw]")
    page.wait_for_function("() => document.querySelectorAll('.sample').length === 4")
    assert image_range(page, ".sample:nth-child(1) img")[0] == 16
    page.select_option("select[name=upscale]", "sr4")
    page.click("button[name=draw]")
    page.wait_for_function("() => document.querySelector('.sample img').naturalWidth === 64")
    assert image_range(page, ".sample:nth-child(2) img")[0] == 64  # its pixels: test_serve's upscale test
    assert page.get_attribute(".sample:nth-child(2)", "title").endswith("--seed 2 --label 1 --upscale sr4")  # every class in turn
    page.click("button[name=walk]")
    page.wait_for_function("() => document.querySelector('img.strip').src.startsWith('blob:')")
    assert image_range(page, "img.strip")[0] == 8 * 66 + 2  # eight 64 px frames
    assert page.text_content("code.command").endswith("--label 0 --upscale sr4 --out walk.gif")
