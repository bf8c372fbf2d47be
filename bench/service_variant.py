"""Diagnosis only: the service started as `python -m server serve` does, with named changes
patched in at run time inside every worker, to measure what a suspected cost is worth before
anyone changes the service. Nothing here is a fix; `python -m bench http --variant NAME` uses it.

    python -m bench.service_variant no-audit-drain no-pool-reset

Variants:
  no-audit-drain   the audit drainer (its own process beside the workers, or a task in a
                   single process) does nothing (the stream only grows): what draining into
                   the hash-chained table costs
  no-pool-reset    asyncpg returns connections to the pool without the reset round trip
                   (SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL)
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from bench.ceiling_app import serve

if TYPE_CHECKING:
    from sanic import Sanic

    from bench.harness.project import Settings

log = logging.getLogger("bench.service_variant")


def _idle_drainer_process(settings: Settings) -> None:
    """Stands in for the drainer process (module level: the manager pickles it by name)."""
    import signal
    import threading

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()


def _no_audit_drain() -> None:
    from bench.harness.project import patch_audit

    async def idle_drainer(
        redis: Any, keys: Any, stop: asyncio.Event, interval: float = 1.0
    ) -> None:
        await stop.wait()

    patch_audit(run_drainer=idle_drainer, run_drainer_process=_idle_drainer_process)


def _no_pool_reset() -> None:
    import asyncpg

    async def no_reset(self: asyncpg.Connection, **_: Any) -> None:  # same keywords as reset
        return None

    asyncpg.Connection.reset = no_reset  # type: ignore[method-assign]


VARIANTS: dict[str, Callable[[], None]] = {
    "no-audit-drain": _no_audit_drain,
    "no-pool-reset": _no_pool_reset,
}


def apply(names: tuple[str, ...]) -> None:
    for name in names:
        VARIANTS[name]()


def create_app(settings: Settings, names: tuple[str, ...]) -> Sanic:
    """The worker-side factory: patch first, then the service's own factory."""
    apply(names)
    from bench.harness.project import service_app

    return service_app(settings)


def main(argv: list[str] | None = None) -> int:
    from sanic.worker.loader import AppLoader

    from bench.harness.project import SettingsError, load_settings, migrate

    names = tuple(sys.argv[1:] if argv is None else argv)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    asyncio.run(migrate(settings))
    log.warning("diagnosis variant of the service: %s", ", ".join(names) or "(none)")
    loader = AppLoader(factory=partial(create_app, settings, names))
    serve(loader, settings.host, settings.port, settings.workers, access_log=settings.access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
