"""Screenshots of the web page for the README: a run's page and its generator playground.

    python scripts/web_screenshots.py RUNS_DIR RUN [--compare OTHER_RUN] [--out docs]

Starts `ganforge serve RUNS_DIR`, opens the pages in Debian's chromium (Playwright, as the browser
test does), draws 20 images and walks between two of them, and writes web-run.png and
web-playground.png. Use a run trained to the end: a few-epoch run makes a dull picture.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def shoot(url: str, run: str, compare: str | None, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/#/run/{run}")
        page.wait_for_selector("#run[data-epochs]:not([data-epochs='0'])")
        if compare:
            page.check(f".controls input[value='{compare}']")
        page.select_option("select[name=metric]", "eval_fid")
        page.wait_for_timeout(1500)
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky header is drawn where the page was scrolled to
        page.screenshot(path=out / "web-run.png", full_page=True)
        page.goto(f"{url}/#/run/{run}/play")
        page.fill("input[name=n]", "20")
        page.click("button[name=draw]")
        page.wait_for_function("() => document.querySelectorAll('.sample').length === 20")
        page.click(".sample:nth-child(3)")
        page.click(".sample:nth-child(13)")  # two different twos
        page.fill("input[name=steps]", "10")
        page.click("button[name=walk]")
        page.wait_for_function("() => document.querySelector('img.strip').src.startsWith('blob:')")
        page.wait_for_timeout(1000)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=out / "web-playground.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir")
    parser.add_argument("run")
    parser.add_argument("--compare", help="another run of RUNS_DIR to overlay on the run page")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-m", "ganforge.cli", "serve", args.runs_dir, "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split(" at ")[1].split()[0].rstrip("/")
        shoot(url, args.run, args.compare, Path(args.out))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    print(f"wrote {args.out}/web-run.png and {args.out}/web-playground.png")


if __name__ == "__main__":
    main()
