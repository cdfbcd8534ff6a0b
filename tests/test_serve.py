"""The web page's API (`ganforge serve`), through Starlette's test client: every route, the run
states, half-written folders, path escapes, bad parameters and size bounds, and that nothing it
does changes a run folder."""

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("starlette", reason="the web page needs ganforge[serve]: pip install -e '.[dev]'")
from starlette.testclient import TestClient  # noqa: E402

from ganforge.generate import generate  # noqa: E402
from ganforge.serve import playground as playground_module  # noqa: E402
from ganforge.serve.app import create_app, run_changes  # noqa: E402
from ganforge.walk import gif_bytes, walk_images  # noqa: E402

HOURS_AGO = time.time() - 3 * 3600


def age(folder, when):
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (when, when), follow_symlinks=False)


def dead_pid() -> int:
    """The PID of a process that has ended (a writer killed or gone)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(scope="module")
def runs_dir(viewer_run, tmp_path_factory):
    """A runs folder with a run in each state, half-written ones, and traps outside it."""
    base = tmp_path_factory.mktemp("served")
    root = base / "runs"
    root.mkdir()
    shutil.copytree(viewer_run.root, root / "tiny")  # finished, 2 of 2 epochs
    shutil.copytree(viewer_run.root, root / "torn")  # epoch 2 cut mid-line, quiet for hours: interrupted
    metrics = root / "torn" / "metrics.jsonl"
    metrics.write_bytes(metrics.read_bytes()[:-40])
    (root / "torn" / "writer.lock").unlink(missing_ok=True)  # as an older ganforge left it: judged by its age
    age(root / "torn", HOURS_AGO)
    for name, pid in (("live", os.getpid()), ("ended", dead_pid())):  # epoch 1 of 2, written just now
        shutil.copytree(viewer_run.root, root / name)
        lines = (root / name / "metrics.jsonl").read_text().splitlines(keepends=True)
        (root / name / "metrics.jsonl").write_text(lines[0])
        lock = {"pid": pid, "host": socket.gethostname(), "since": "2026-12-01T00:00:00+00:00"}
        (root / name / "writer.lock").write_text(json.dumps(lock) + "\n")  # live: its writer is alive; ended: not
    shutil.copytree(viewer_run.root, root / "nan")
    (root / "nan" / "diagnosis.jsonl").write_text(json.dumps({"epoch": 2, "code": "diverged", "message": "NaN"}) + "\n")
    (root / "starting").mkdir()
    (root / "starting" / "config.yaml").write_text((viewer_run.root / "config.yaml").read_text())
    (root / "not-a-run").mkdir()
    (root / ".hidden").mkdir()
    (root / ".hidden" / "config.yaml").write_text("epochs: 1\n")
    outside = base / "outside"  # a run and images that must never be served
    shutil.copytree(viewer_run.root, outside)
    (base / "secret.png").write_bytes((viewer_run.root / "losses.png").read_bytes())
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "tiny" / "samples" / "link.png").symlink_to(base / "secret.png")
    return root


@pytest.fixture(scope="module")
def client(runs_dir):
    with TestClient(create_app(runs_dir, poll_seconds=0.1, stream_seconds=0.5)) as c:
        yield c


def one_line_error(response, status, *words):
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and body["error"], body
    for word in words:
        assert word in body["error"], body["error"]


def test_runs_list_states_and_thumbnails(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()}
    assert sorted(runs) == ["ended", "live", "nan", "starting", "tiny", "torn"]  # no escape, hidden or non-runs
    assert [runs[n]["state"] for n in ("tiny", "live", "ended", "torn", "nan", "starting")] == \
        ["finished", "running", "interrupted", "interrupted", "diverged", "running"]
    assert runs["tiny"]["epochs_done"] == 2 and runs["tiny"]["epochs"] == 2 and runs["tiny"]["dataset"] == "embedded-mnist"
    assert runs["tiny"]["preset"] == "default" and runs["tiny"]["last_fid"] is None  # no eval_every in this run
    assert runs["torn"]["epochs_done"] == 1 and "cut-off last line" in runs["torn"]["notes"][0]
    assert "--resume" in runs["torn"]["state_detail"]
    assert runs["starting"]["epochs_done"] == 0 and runs["starting"]["thumbnail"] is None
    assert runs["starting"]["state_detail"].startswith("starting")
    thumb = client.get(runs["tiny"]["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(thumb.content)).size[0] >= 256


def test_run_detail_is_the_folder(client, viewer_run):
    detail = client.get("/api/runs/tiny").json()
    on_disk = [json.loads(line) for line in viewer_run.metrics.read_text().splitlines()]
    assert detail["records"] == on_disk and [r["epoch"] for r in on_disk] == [1, 2]
    assert detail["config"]["n_fixed"] == 100 and detail["config"]["conditional"] is True
    assert detail["sample_epochs"] == [1, 2] and detail["findings"] == []
    assert detail["class_names"] == [str(d) for d in range(10)]
    gif = client.get(detail["gif"])
    assert gif.headers["content-type"] == "image/gif" and Image.open(io.BytesIO(gif.content)).n_frames == 2
    assert client.get("/api/runs/starting").json()["records"] == []


def test_page_and_static_files_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    for name in ("app.js", "dom.js", "run.js", "charts.js", "play.js", "translate.js", "style.css", "vendor/uplot/uPlot.iife.min.js",
                 "vendor/uplot/uPlot.min.css", "vendor/uplot/LICENSE"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.content) > 500, name
        # nothing comes from the network: the only address in the page's files is uPlot's banner comment
        assert set(re.findall(r"https?://[^\s\"')]+", response.text + page.text)) <= {"https://github.com/leeoniya/uPlot"}, name


@pytest.mark.parametrize("url", [
    "/files/%2e%2e/secret.png",                   # encoded ../
    "/files/tiny/%2e%2e/%2e%2e/secret.png",
    "/files/tiny/..%2f..%2fsecret.png",
    "/files/%2Fetc%2Fpasswd",                     # absolute
    "/files//etc/passwd",
    "/files/escape/samples/epoch_0001.png",       # a run folder symlinked from outside
    "/files/tiny/samples/link.png",               # an image symlinked from outside
    "/files/tiny/config.yaml",                    # not an image
    "/files/tiny/checkpoints/last.pt",
    "/files/tiny/samples/%00.png",
    "/files/.hidden/config.yaml",
    "/files/tiny/samples/epoch_9999.png",         # no such epoch
    "/api/runs/%2e%2e",
    "/api/runs/escape",
    "/api/runs/.hidden",
    "/api/runs/not-a-run",
    "/api/runs/escape/samples?n=1",
    "/api/runs/%2e%2e/walk?seeds=1,2",
    "/api/runs/nope/stream",
])
def test_nothing_outside_the_runs_folder(client, url):
    one_line_error(client.get(url), 404)


def test_the_same_files_inside_are_served(client):
    assert client.get("/files/tiny/samples/epoch_0001.png").status_code == 200
    assert client.get("/files/tiny/losses.png").status_code == 200


@pytest.mark.parametrize("url, status, words", [
    ("/api/runs/tiny/samples?n=0", 400, ["n=0"]),
    ("/api/runs/tiny/samples?n=65", 400, ["1 to 64"]),
    ("/api/runs/tiny/samples?n=many", 400, ["n='many'"]),
    ("/api/runs/tiny/samples?seed=-1", 400, ["seed=-1"]),
    ("/api/runs/tiny/samples?seed=2147483647&n=2", 400, ["seed=2147483647"]),
    ("/api/runs/tiny/samples?label=10", 400, ["classes 0 to 9"]),
    ("/api/runs/tiny/walk?seeds=1", 400, ["2 to 32 seeds"]),
    ("/api/runs/tiny/walk?seeds=1,x", 400, ["seeds='1,x'"]),
    ("/api/runs/tiny/walk?seeds=", 400, ["seeds=''"]),
    ("/api/runs/tiny/walk?seeds=3,3", 400, ["must differ"]),
    ("/api/runs/tiny/walk?seeds=1,2&steps=1", 400, ["steps=1"]),
    ("/api/runs/tiny/walk?seeds=1,2&steps=65", 400, ["at most 8 seeds and 64 steps"]),
    ("/api/runs/tiny/walk?seeds=1,2,3,4,5,6,7,8,9", 400, ["at most 8 seeds"]),
    ("/api/runs/tiny/walk?seeds=1,2&format=bmp", 400, ["format='bmp'"]),
    ("/api/runs/tiny/walk?seeds=1,2&label=12", 400, ["classes 0 to 9"]),
    ("/api/runs/starting/samples", 409, ["no generator.safetensors yet"]),
    ("/api/no/such/route", 404, ["not found"]),
])
def test_bad_parameters_are_one_line(client, url, status, words):
    one_line_error(client.get(url), status, *words)


def test_only_get(client):
    one_line_error(client.post("/api/runs"), 405)


def decode(data_url):
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_samples_are_generates_images(client, runs_dir, viewer_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "empty-cache"))  # no judge cached here
    with TestClient(create_app(runs_dir)) as fresh:  # a new server: no judge loaded yet either
        body = fresh.get("/api/runs/tiny/samples?seed=40&n=3&label=4").json()
    assert [(i["seed"], i["label"], i["verdict"]) for i in body["images"]] == [(40, 4, None), (41, 4, None), (42, 4, None)]
    assert body["judge"]["available"] is False and "no verdicts" in body["judge"]["note"]
    for image in body["images"]:
        generate(viewer_run.root, n=1, seed=image["seed"], label=4, out=tmp_path / "one.npz")
        assert np.array_equal(decode(image["png"]), np.load(tmp_path / "one.npz")["images"][0, :, :, 0])
    cycling = client.get("/api/runs/tiny/samples?seed=0&n=12").json()["images"]
    assert [i["label"] for i in cycling] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_size_bounds(client, monkeypatch):
    images = client.get("/api/runs/tiny/samples?seed=1&n=64").json()["images"]
    assert len(images) == 64 and len({i["png"] for i in images}) > 1
    strip = client.get("/api/runs/tiny/walk?seeds=1,2&steps=64")
    assert Image.open(io.BytesIO(strip.content)).size == (64 * 30 + 2, 32)
    monkeypatch.setattr(playground_module, "MAX_PIXELS", 28 * 28 * 10)  # as if the images were larger
    one_line_error(client.get("/api/runs/tiny/samples?n=11"), 400, "11 images of 28x28", "(10)")
    one_line_error(client.get("/api/runs/tiny/walk?seeds=1,2,3&steps=6"), 400, "ask for fewer")


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_image_to_image_run_takes_an_upload(sr_run, viewer_run, data_root, tmp_path):
    """POST an image to an sr run: the image as read and the output `generate --input` writes; every
    refusal in one line: no body, not an image, too large to upscale, over the upload limit, the
    wrong kind of run either way."""
    from ganforge.data import load_dataset
    from ganforge.data.superres import downscale
    from ganforge.generate import translate
    from ganforge.serve.app import MAX_UPLOAD

    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(sr_run.root, root / "upscale")
    shutil.copytree(viewer_run.root, root / "tiny")
    digits = downscale(load_dataset("mnist", "test", data_root).images[:2], 4)  # two 7x7 test digits
    small = np.concatenate([digits[0, 0].numpy(), digits[1, 0, :, :5].numpy()], 1)  # 12 wide, 7 high
    (tmp_path / "small.png").write_bytes(png_bytes(small))
    translate(root / "upscale", tmp_path / "small.png", tmp_path / "out.png", echo=lambda *a: None)
    with TestClient(create_app(root)) as client:
        body = client.post("/api/runs/upscale/translate", content=png_bytes(small)).json()
        assert body["task"] == "sr" and body["input_size"] == [12, 7] and body["output_size"] == [48, 28]
        assert np.array_equal(decode(body["input"]), small)
        assert np.array_equal(decode(body["output"]), np.asarray(Image.open(tmp_path / "out.png")))
        post = lambda run, data: client.post(f"/api/runs/{run}/translate", content=data)  # noqa: E731
        one_line_error(post("upscale", b""), 400, "no image came with the request")
        one_line_error(post("upscale", b"GIF89a, or so it says"), 400, "cannot be used", "not a readable image")
        one_line_error(post("upscale", png_bytes(np.zeros((130, 130), np.uint8))), 400, "130x130", "(up to 128 px")
        one_line_error(post("upscale", bytes(MAX_UPLOAD + 1)), 413, "over 8 MB")
        one_line_error(post("tiny", png_bytes(small)), 400, "tiny draws images from noise")
        one_line_error(client.get("/api/runs/upscale/samples?n=1"), 400, "sr run: it turns images into images")
        one_line_error(client.get("/api/runs/upscale/translate"), 405)
        one_line_error(post("nope", png_bytes(small)), 404)


def test_walk_route_is_the_walk(client, viewer_run):
    from ganforge.generate import load_generator

    G, cfg = load_generator(viewer_run.root)
    gif = client.get("/api/runs/tiny/walk?seeds=5,6,7&steps=4&label=3&format=gif")
    assert gif.headers["content-type"] == "image/gif" and "walk_5-6-7_4.gif" in gif.headers["content-disposition"]
    assert gif.content == gif_bytes(walk_images(G, cfg.latent_dim, [5, 6, 7], 4, label=3))
    assert Image.open(io.BytesIO(gif.content)).n_frames == 7
    strip = client.get("/api/runs/tiny/walk?seeds=5,6&steps=4&label=3")
    assert strip.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(strip.content)).size == (4 * 30 + 2, 32)


def test_verdicts_are_the_judges(client, judge):
    body = client.get("/api/runs/tiny/samples?seed=3&n=10").json()
    assert body["judge"]["available"] and body["judge"]["name"] == judge.name
    images = torch.stack([torch.from_numpy(decode(i["png"]).copy())[None] for i in body["images"]])
    probabilities = torch.softmax(judge.embed(images).logits, 1)
    for image, p in zip(body["images"], probabilities):
        assert image["verdict"]["class"] == int(p.argmax())
        assert image["verdict"]["confidence"] == pytest.approx(float(p.max()), abs=1e-6)
        assert image["verdict"]["name"] == str(int(p.argmax()))


def events(body: str) -> list[tuple[str, object]]:
    found = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_streams_push_new_epochs(viewer_run, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(viewer_run.root, root / "r")
    lines = (root / "r" / "metrics.jsonl").read_text().splitlines(keepends=True)
    (root / "r" / "metrics.jsonl").write_text(lines[0])

    def training_writes():  # what the trainer does at an epoch's end: first half a line, then the rest
        time.sleep(0.4)
        with open(root / "r" / "metrics.jsonl", "a") as f:
            f.write(lines[1][:30])
        time.sleep(0.4)
        with open(root / "r" / "metrics.jsonl", "a") as f:
            f.write(lines[1][30:])

    with TestClient(create_app(root, poll_seconds=0.1, stream_seconds=1.5)) as client:
        writer = threading.Thread(target=training_writes)
        writer.start()
        body = client.get("/api/runs/r/stream").text
        writer.join()
        listing = events(client.get("/api/stream").text)
    got = events(body)
    assert body.startswith("retry: 1000")
    assert got[0][0] == "run" and [r["epoch"] for r in got[0][1]["records"]] == [1]
    # while the line is half written, the page is told so, and sees no record from it
    assert any("cut-off last line" in " ".join(d["run"]["notes"]) for e, d in got if e == "records")
    new = [r["epoch"] for e, d in got if e == "records" for r in d["records"]]
    assert new == [2]
    assert listing[0][0] == "runs" and listing[0][1][0]["epochs_done"] == 2


def test_run_changes_sends_only_what_is_new():
    a = {"name": "r", "records": [{"epoch": 1}], "state": "running", "updated": 1, "state_detail": "x"}
    more = {**a, "records": [{"epoch": 1}, {"epoch": 2}], "updated": 2}
    same = {**a, "updated": 3}  # a checkpoint written, say: nothing the page shows
    stopped = {**a, "state": "interrupted", "state_detail": "y"}
    trimmed = {**a, "records": [{"epoch": 1, "g_loss": 0.5}]}
    assert [e[:12] for e in run_changes(None, a)] == [b"event: run\nd"]
    assert list(run_changes(a, same)) == []
    (event,) = run_changes(a, stopped)
    assert event.startswith(b"event: records\n") and b'"records":[]' in event and b'"interrupted"' in event
    (event,) = run_changes(a, more)
    assert event.startswith(b"event: records\n") and b'"records":[{"epoch":2}]' in event
    assert [e[:11] for e in run_changes(a, trimmed)] == [b"event: run\n"]


def test_read_only(runs_dir, client):
    def state():
        return {str(p): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
                for p in sorted(runs_dir.rglob("*")) if not p.is_symlink()}
    before = state()
    for url in ("/", "/api/runs", "/api/runs/tiny", "/api/stream", "/api/runs/tiny/stream", "/api/runs/torn/stream",
                "/api/runs/tiny/samples?n=4", "/api/runs/tiny/walk?seeds=1,2", "/api/runs/tiny/walk?seeds=1,2&format=gif",
                "/files/tiny/progress.gif", "/api/runs/starting/samples"):
        client.get(url)
    assert state() == before


def raw_get(port: int, target: str) -> str:
    """The status line for a request sent byte for byte, as no client library would normalise it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return conn.makefile("rb").readline().decode().strip()


def test_serve_command(runs_dir, tmp_path):
    from test_cli import assert_one_line_error, run_cli

    assert_one_line_error(*run_cli("serve", str(tmp_path / "nowhere"))[::2], "is not a folder")
    server = subprocess.Popen([sys.executable, "-m", "ganforge.cli", "serve", str(runs_dir), "--host", "0.0.0.0",
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        assert raw_get(port, "/api/runs").endswith("200 OK")
        for target in ("/files/../secret.png", "/files/tiny/../../secret.png", "/files/%2e%2e/secret.png",
                       "/files/escape/losses.png", "/api/runs/../api/runs"):
            assert raw_get(port, target).startswith("HTTP/1.1 404"), target
        assert raw_get(port, "/files/tiny/losses.png").endswith("200 OK")
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0 and out.strip() == "stopped"
    assert err.startswith("warning: listening on 0.0.0.0, beyond this machine") and len(err.splitlines()) == 1


def test_a_noise_run_draws_through_a_super_resolution_run_that_fits(cascade_runs, tmp_path):
    """The run page lists the SR runs here that take this run's images; a draw and a walk through
    one are what `generate --upscale` and `interpolate --upscale` make; a run that does not fit is refused."""
    from ganforge.generate import load_generator
    from ganforge.nets.sampling import sample

    g16, sr4 = cascade_runs
    root = tmp_path / "runs"
    root.mkdir()
    for run in (g16, sr4):
        shutil.copytree(run, root / run.name)
    shutil.copytree(sr4, root / "sr2")  # a x2 run from 32 px: does not take 16 px images
    config = (root / "sr2" / "config.yaml").read_text()
    (root / "sr2" / "config.yaml").write_text(config.replace("scale: 4", "scale: 2"))
    with TestClient(create_app(root, poll_seconds=0.1, stream_seconds=0.5)) as client:
        assert client.get("/api/runs/g16").json()["upscalers"] == ["sr4"]
        assert client.get("/api/runs/sr4").json()["upscalers"] == []  # an SR run draws from images, not noise
        drawn = client.get("/api/runs/g16/samples?seed=5&n=3&label=2&upscale=sr4").json()["images"]
        G, cfg = load_generator(g16, upscale=sr4)
        for k, image in enumerate(drawn):
            expected = sample(G, cfg.latent_dim, 1, 5 + k, label=2)[0].permute(1, 2, 0).numpy()
            assert np.array_equal(decode(image["png"]), expected)  # generate --upscale --n 1 --seed 5+k
        assert decode(client.get("/api/runs/g16/samples?seed=5&n=1").json()["images"][0]["png"]).shape == (16, 16, 3)
        strip = client.get("/api/runs/g16/walk?seeds=1,2&steps=3&label=0&upscale=sr4")
        assert strip.status_code == 200 and Image.open(io.BytesIO(strip.content)).size == (3 * 66 + 2, 68)  # 64 px frames
        one_line_error(client.get("/api/runs/g16/samples?n=1&upscale=sr2"), 400, "upscales 3-channel 32 px images x2")
        one_line_error(client.get("/api/runs/sr4/samples?n=1&upscale=g16"), 400, "super-resolution run")
        one_line_error(client.get("/api/runs/g16/samples?n=1&upscale=..%2Fescape"), 404)
