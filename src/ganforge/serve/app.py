"""The web page's routes (Starlette). Reads RUNS_DIR only; never imports the trainer.

    GET /                          the page (static/index.html)
    GET /static/...                its scripts, styles and the vendored chart library
    GET /api/runs                  every run: dataset, preset, state, epochs, last judge FID, thumbnail
    GET /api/runs/{run}            one run: the above, config, records, diagnosis, grids
    GET /api/stream                SSE: `runs` (the list) whenever a run changes or appears
    GET /api/runs/{run}/stream     SSE: `run` (all of it), then `records` (new epochs) and `run` again on other changes
    GET /api/runs/{run}/samples    ?seed=&n=&label=&upscale= -> images (data: URLs) and the judge's verdicts
    GET /api/runs/{run}/walk       ?seeds=1,2[,..]&steps=&label=&upscale=&format=png|gif -> a strip or a GIF
                                   (upscale=SR_RUN: through that super-resolution run's net, as generate --upscale)
    POST /api/runs/{run}/translate an image file as the body -> it and the image-to-image run's output
    GET /files/{path}              an image under RUNS_DIR (grids, progress.gif, losses.png)

Errors are one line of JSON, {"error": "..."}, with a 4xx status.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import CheckpointError, ConfigError, GanforgeError, RequestError, TooLarge
from ..walk import parse_seeds
from .playground import MAX_SEED, Playground
from .runs import IMAGE_TYPES, RunsRoot

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD = 8 * 2**20  # bytes of one uploaded image
NO_STORE = {"Cache-Control": "no-cache"}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.query_params.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestError(f"{name}={text[:40]!r}: give a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise RequestError(f"{name}={value}: give a whole number from {low} to {high}")
    return value


def sse(event: str, data) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def create_app(runs_dir: str | Path, poll_seconds: float = 1.0, stream_seconds: float = 300.0) -> Starlette:
    """poll_seconds: how often streams look for changes. stream_seconds: an event stream ends after
    this long; the browser's EventSource reconnects at once, so a forgotten tab holds nothing for ever."""
    routes = [
        Route("/", index),
        Route("/api/runs", list_runs),
        Route("/api/stream", runs_stream),
        Route("/api/runs/{run}", run_detail),
        Route("/api/runs/{run}/stream", run_stream),
        Route("/api/runs/{run}/samples", samples),
        Route("/api/runs/{run}/walk", walk),
        Route("/api/runs/{run}/translate", translate, methods=["POST"]),
        Route("/files/{path:path}", files),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {GanforgeError: ganforge_error, HTTPException: http_error, Exception: server_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.runs, app.state.playground = RunsRoot(runs_dir), Playground()
    app.state.poll_seconds, app.state.stream_seconds = poll_seconds, stream_seconds
    return app


async def index(request):
    return FileResponse(STATIC / "index.html", headers=NO_STORE)


async def list_runs(request):
    return JSONResponse(await run_in_threadpool(request.app.state.runs.summaries), headers=NO_STORE)


async def run_detail(request):
    detail = await run_in_threadpool(request.app.state.runs.detail, request.path_params["run"])
    return JSONResponse(detail, headers=NO_STORE)


async def runs_stream(request):
    state = request.app.state

    async def events():
        last = None
        async for _ in ticks(state.poll_seconds, state.stream_seconds):
            now = await run_in_threadpool(state.runs.summaries)
            if now != last:
                yield sse("runs", now)
                last = now
    return stream(events())


async def run_stream(request):
    state, name = request.app.state, request.path_params["run"]
    state.runs.run(name)  # 404 before the stream starts

    async def events():
        last = None
        async for _ in ticks(state.poll_seconds, state.stream_seconds):
            try:
                now = await run_in_threadpool(state.runs.detail, name)
            except GanforgeError:  # the run was removed: say so once, then end
                yield sse("gone", {"name": name})
                return
            for event in run_changes(last, now):
                yield event
            last = now
    return stream(events())


def samples(request):
    """A plain function: Starlette runs it in a worker thread, so sampling never blocks the streams."""
    run = request.app.state.runs.run(request.path_params["run"])
    seed = int_param(request, "seed", 0, 0, MAX_SEED)
    count = int_param(request, "n", 16, 1, 10**6)
    label = int_param(request, "label", None, 0, 10**6)
    return JSONResponse(request.app.state.playground.draw(run, seed, count, label, upscaler(request)))


def walk(request):
    run = request.app.state.runs.run(request.path_params["run"])
    seeds = seeds_param(request.query_params.get("seeds", ""))
    steps = int_param(request, "steps", 8, 2, 10**6)
    label = int_param(request, "label", None, 0, 10**6)
    form = request.query_params.get("format", "png")
    if form not in ("png", "gif"):
        raise RequestError(f"format={form[:20]!r}: png (a strip) or gif (an animation)")
    body = request.app.state.playground.walk(run, seeds, steps, label, form, upscaler(request))
    name = f"walk_{'-'.join(map(str, seeds))}_{steps}.{form}"
    return Response(body, media_type=f"image/{form}", headers={"Content-Disposition": f'inline; filename="{name}"'})


def upscaler(request):
    """The super-resolution run named by ?upscale=, or None."""
    name = request.query_params.get("upscale", "")
    return request.app.state.runs.run(name) if name else None


async def translate(request):
    run = request.app.state.runs.run(request.path_params["run"])
    data = await body_within(request, MAX_UPLOAD)
    return JSONResponse(await run_in_threadpool(request.app.state.playground.translate, run, data))


async def body_within(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) once it passes `limit` bytes, before more is read."""
    too_big = TooLarge(f"the upload is over {limit // 2**20} MB; send a smaller image")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_big
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_big
    return bytes(data)


async def files(request):
    path = request.app.state.runs.file(request.path_params["path"])
    return FileResponse(path, media_type=IMAGE_TYPES[path.suffix.lower()], headers=NO_STORE)


def seeds_param(text: str) -> list[int]:
    try:
        return parse_seeds(text, where="seeds=")  # the rule `ganforge interpolate --seeds` follows
    except ConfigError as err:
        raise RequestError(str(err)) from None


def run_changes(last: dict | None, now: dict):
    """SSE events that bring a page from `last` to `now`: new epochs alone when only they changed."""
    if last is None:
        yield sse("run", now)
        return
    old, new = last["records"], now["records"]
    rest_old = {k: v for k, v in last.items() if k not in ("records", "updated")}
    rest_new = {k: v for k, v in now.items() if k not in ("records", "updated")}
    if new[: len(old)] != old:  # records rewritten (a resume trims epochs the checkpoint lacks)
        yield sse("run", now)
    elif len(new) > len(old) or rest_old != rest_new:
        yield sse("records", {"records": new[len(old):], "run": {k: v for k, v in now.items() if k != "records"}})


async def ticks(every: float, lasting: float):
    loop = asyncio.get_running_loop()
    end = loop.time() + lasting
    while loop.time() < end:
        yield
        await asyncio.sleep(every)


def stream(events) -> StreamingResponse:
    async def with_retry():
        yield b"retry: 1000\n\n"  # reconnect after a second when the stream ends
        async for event in events:
            yield event
    return StreamingResponse(with_retry(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def ganforge_error(request, err: GanforgeError):
    status = err.status if isinstance(err, RequestError) else 409 if isinstance(err, CheckpointError) else 400
    return error(status, str(err))


async def http_error(request, err: HTTPException):
    return error(err.status_code, err.detail if err.status_code != 404 else "not found")


async def server_error(request, err: Exception):
    return error(500, f"internal error ({type(err).__name__}); the server log has the traceback")
