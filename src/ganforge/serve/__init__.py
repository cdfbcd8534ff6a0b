"""`ganforge serve`: one local web page to watch runs learn and to play with their generators.

A viewer like `generate` and `info`: it reads run folders and never imports the trainer (a test
checks this). app.py holds the routes, runs.py what the page may read, playground.py the sampling,
static/ the page itself, with uPlot vendored (static/vendor/uplot, MIT): no CDN, works offline.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click

from ..errors import ConfigError, GanforgeError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def open_socket(host: str, port: int) -> socket.socket:
    """A listening socket, so that port 0 becomes a real port before the URL is printed."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror or err}); try another --port, "
                          "or --port 0 for any free one") from None
    return sock


def serve(runs_dir: str | Path = "runs", host: str = "127.0.0.1", port: int = 8321, echo=click.echo) -> None:
    """Serve the page for RUNS_DIR until Ctrl-C."""
    try:
        import uvicorn

        from .app import create_app
    except ImportError as err:
        raise GanforgeError(f"the web page needs {err.name}: pip install 'ganforge[serve]'") from None
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder; pass the folder your runs are in (ganforge train writes runs/)")
    sock = open_socket(host, port)
    bound = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    if host not in LOCAL_HOSTS:
        echo(f"warning: listening on {host}, beyond this machine: anyone who can reach it sees your runs and can "
             "draw from their generators", err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(root), log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=2))
    try:
        echo(f"serving {root.resolve()} at http://{shown}:{bound}/  (read-only; Ctrl-C to stop)")
        sys.stdout.flush()
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again for its caller
        pass
    finally:
        sock.close()
    echo("stopped")
