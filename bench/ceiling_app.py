"""The ceiling: a bare Sanic app with one JSON route, served like the service (same loader, same
worker count, no access log), so `python -m bench http` can show what the framework alone does
on this machine.

    python -m bench.ceiling_app --port 8900 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

if TYPE_CHECKING:
    from sanic.worker.loader import AppLoader


def create_app() -> Sanic:
    app = Sanic("bench_ceiling")
    app.config.ACCESS_LOG = False

    @app.get("/")
    async def index(request: Request) -> HTTPResponse:
        return json({"status": "ok"})

    return app


def main(argv: list[str] | None = None) -> int:
    from sanic.worker.loader import AppLoader

    parser = argparse.ArgumentParser(prog="python -m bench.ceiling_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    serve(AppLoader(factory=create_app), args.host, args.port, args.workers, access_log=False)
    return 0


def serve(loader: AppLoader, host: str, port: int, workers: int, *, access_log: bool) -> None:
    """As `python -m server serve` serves (bench/service_variant.py too): one loader, `workers`
    processes, or this one alone."""
    app = loader.load()
    app.prepare(
        host=host,
        port=port,
        workers=workers,
        single_process=workers == 1,
        access_log=access_log,
        motd=False,
    )
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    sys.exit(main())
