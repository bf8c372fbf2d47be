"""One bench run: everything it starts is stopped, and its database and Redis data dropped, when
the run ends, also when it fails, times out, or is interrupted (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.harness import project, report
from bench.harness.database import MIGRATE_COMMAND, Database, run_migrations
from bench.harness.processes import PYTHON, Child, say, start_child, wait_http, wait_port
from bench.harness.profile import PySpy
from bench.harness.services import (
    REDIS_BASE,
    WECHAT_APPID,
    Ports,
    cipher_for,
    new_keys,
    raised_config,
    service_env,
)
from bench.harness.wrk import (
    TOKENS_LUA,
    AfterHook,
    Hook,
    Load,
    Measurement,
    Wrk,
    ensure_wrk,
    machine,
)
from bench.harness.wrk import versions as wrk_versions
from bench.http_data import DataPlan, Windows, load

Header = Callable[[argparse.Namespace, str], dict[str, Any]]


def standard_header(args: argparse.Namespace, wrk_bin: str) -> dict[str, Any]:
    """What every result starts with: the options, the versions and the machine's cores."""
    return {
        "options": report.options(args), "versions": wrk_versions(wrk_bin), "machine": machine(),
    }  # fmt: skip


class Session:
    """The services of one run, its measurements (`results`, wrk's output in `raw`) and the JSON
    `result`. `args` is the bench's options: workers, redis_db, out, py_spy and the load."""

    def __init__(
        self, kind: str, args: argparse.Namespace, started_at: datetime, wrk: Wrk,
        workdir: Path, redis: Redis, stack: contextlib.AsyncExitStack,
    ) -> None:  # fmt: skip
        self.kind, self.args, self.started_at, self.wrk = kind, args, started_at, wrk
        self.workdir, self.redis, self.stack = workdir, redis, stack
        self.config: dict[str, Any] = {}
        self.ports = Ports.free()
        self.wechat_secret = "bench-" + secrets.token_hex(12)
        self.keys: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.result: dict[str, Any] = {"started_at": started_at.isoformat(timespec="seconds")}
        self.results: list[Measurement] = []
        self.raw: dict[str, str] = {}
        self.ceiling: Measurement | None = None
        self.goals: dict[str, report.Goal] = {}  # target name -> its goal
        self._service: Child | None = None

    # -- the database and the service --------------------------------------------------------

    async def create_database(self, prefix: str) -> Database:
        return self.own_database(await Database.create(f"{prefix}{secrets.token_hex(4)}"))

    def own_database(self, db: Database) -> Database:
        self.stack.push_async_callback(db.release)
        return db

    def configure(self, db: Database, keys: dict[str, str], signing_kid: str) -> None:
        """The service's environment, for `db` and the field keys its data is encrypted with."""
        self.keys = keys
        self.env = service_env(
            database_url=db.dsn, redis_db=self.args.redis_db, workers=self.args.workers,
            ports=self.ports, config_dir=self.workdir / "config", keys=keys,
            signing_kid=signing_kid, wechat_secret=self.wechat_secret,
        )  # fmt: skip

    async def migrate(self) -> None:
        say(f"applying migrations ({MIGRATE_COMMAND})")
        await run_migrations(self.env, self.workdir)

    async def load(self, db: Database, plan: DataPlan, *, with_users: bool) -> dict[str, float]:
        """bench/http_data.py's data, encrypted with the service's keys; seconds per step."""
        sizes = f"{plan.subjects:,} subjects, {plan.records:,} records"
        say(f"loading {sizes}, {plan.users:,} users" if with_users else f"loading {sizes}")
        records = tomllib.loads((self.workdir / "config" / "records.toml").read_text())
        consent_version = project.identity_consent().version
        async with db.connect() as conn:
            return await load(
                conn, plan, cipher_for(self.keys), Windows.from_records(records),
                consent_version, say=say,
            )  # fmt: skip

    async def fresh_database(
        self, prefix: str, plan: DataPlan, *, signing_kid: str, with_users: bool = True
    ) -> tuple[Database, dict[str, float]]:
        """A new database, migrated by the service and loaded with `plan`."""
        keys = new_keys()
        db = await self.create_database(prefix)
        self.configure(db, keys, signing_kid)
        await self.migrate()
        return db, await self.load(db, plan, with_users=with_users)

    def start_child(self, name: str, cmd: list[str]) -> Child:
        child = start_child(name, cmd, self.env, self.workdir)
        self.stack.callback(child.stop)
        return child

    async def start_service(
        self, cmd: Sequence[str] = (), notes: Sequence[str] = (), pythonpath: str | None = None
    ) -> Child:
        """The standalone fake WeChat, then the service (`cmd`, by default as shipped; the
        `notes` say how else), ready when /readyz answers."""
        port = self.ports.fake_wechat
        fake = self.start_child("fake-wechat", [
            PYTHON, *project.FAKE_WECHAT, "--port", str(port),
            "--appid", WECHAT_APPID, "--secret", self.wechat_secret,
        ])  # fmt: skip
        await wait_port(fake, port)
        say(f"starting the service: {self.args.workers} worker(s) on port {self.ports.service}")
        for note in notes:
            say(note)
        if pythonpath:
            paths = (pythonpath, self.env.get("PYTHONPATH", ""))
            self.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self._service = self.start_child("service", list(cmd) or [PYTHON, *project.SERVE])
        await wait_http(self._service, f"{self.base}/readyz")
        return self._service

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports.service}"

    @property
    def service(self) -> Child:
        if self._service is None:
            raise RuntimeError("the service is not started")
        return self._service

    def write_lines(self, name: str, lines: Sequence[str]) -> Path:
        """A data file for wrk's scripts (and the benches' own checks), one item a line."""
        path = self.workdir / name
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- measuring ---------------------------------------------------------------------------

    async def measure(
        self, key: str, name: str, url: str, data_file: Path, *, script: Path = TOKENS_LUA,
        warm: bool, before_each: Hook | None = None, after_each: AfterHook | None = None,
        server: Child | None = None, goal: report.Goal | None = None,
    ) -> Measurement:  # fmt: skip
        """A target of the service (or of `server`), kept in `results` and wrk's output under
        `key` in `raw`; its `goal`'s verdict goes into its notes when the run reports."""
        if goal is not None:
            self.goals[name] = goal
        m, self.raw[key] = await self.wrk.measure(
            name, url, script, data_file, warm=warm, server_pid=(server or self.service).proc.pid,
            before_each=before_each, after_each=after_each,
        )  # fmt: skip
        self.results.append(m)
        return m

    async def measure_ceiling(self, data_file: Path) -> None:
        """When "ceiling" is among --targets: the bare Sanic app (same loader, same worker count)
        under the same wrk runs as the service's targets, stopped afterwards so that it takes no
        CPU from them."""
        if "ceiling" not in self.args.targets:
            return
        port, workers = self.ports.ceiling, self.args.workers
        say(f"starting the ceiling (bare Sanic, {workers} worker(s)) on {port}")
        ceiling = self.start_child(
            "ceiling",
            [PYTHON, "-m", "bench.ceiling_app", "--port", str(port), "--workers", str(workers)],
        )
        url = f"http://127.0.0.1:{port}/"
        await wait_http(ceiling, url)
        try:
            self.ceiling = await self.measure(
                "ceiling", "ceiling: bare Sanic GET /", url, data_file, warm=True, server=ceiling
            )
        finally:
            ceiling.stop()

    def folded_path(self, what: str) -> Path:
        """Where py-spy's folded stacks of `what` go, beside the JSON result."""
        self.args.out.mkdir(parents=True, exist_ok=True)
        return self.args.out / f"{self.kind}-{self.started_at:%Y%m%d-%H%M%S}-{what}.folded"

    async def profile(
        self, what: str, url: str, data_file: Path, script: Path = TOKENS_LUA
    ) -> dict[str, Any]:
        """An extra wrk run (not in the table) with --py-spy recording the service."""
        spy = PySpy(self.args.py_spy, self.service.proc.pid, self.folded_path(what))
        await spy.start(self.wrk.load.duration)
        await self.wrk.run(url, script, data_file, self.wrk.load.duration)
        return await spy.stop(self.args.workers)

    # -- the report --------------------------------------------------------------------------

    def report(self, goals: Callable[[Session], None]) -> int:
        """The table, then `goals` (which prints the bench's goal lines and sets result["goals"]),
        then the failed targets; returns the exit code."""
        for m in self.results:
            if self.ceiling is not None and self.ceiling.rps > 0:
                m.ratio_to_ceiling = round(m.rps / self.ceiling.rps, 3)
            goal = self.goals.get(m.target)
            if goal is not None and m.ratio_to_ceiling is not None:
                m.notes["goal"] = goal.verdict(m.ratio_to_ceiling, m.p99_ms)
        report.print_table(self.results)
        self.result["results"] = report.rows(self.results)
        self.result["wrk_output"] = self.raw
        goals(self)
        bad = report.failures(self.results)
        self.result["ok"] = not bad
        return 1 if bad else 0

    def say_goals(self) -> dict[str, dict[str, Any]]:
        """The goal line of every measured target with a goal; their verdicts by target."""
        verdicts: dict[str, dict[str, Any]] = {}
        for m in self.results:
            goal = self.goals.get(m.target)
            if goal is not None and m.ratio_to_ceiling is not None:
                verdicts[m.target] = m.notes["goal"]
                say(goal.line(m.target, m.ratio_to_ceiling, m.p99_ms, self.args.connections))
        return verdicts

    def write_result(self) -> Path:
        self.args.out.mkdir(parents=True, exist_ok=True)
        path = self.args.out / f"{self.kind}-{self.started_at:%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps(self.result, ensure_ascii=False, indent=2) + "\n")
        say(f"\nresults written to {path}")
        return path


@contextlib.asynccontextmanager
async def open_session(
    kind: str,
    args: argparse.Namespace,
    *,
    workdir_prefix: str,
    started_at: datetime | None = None,
    header: Header = standard_header,
) -> AsyncIterator[Session]:
    """A run named `kind` (its result files are bench/out/<kind>-<time>.*); its Redis database
    --redis-db is flushed before and after."""
    started_at = started_at or datetime.now()
    wrk_bin = ensure_wrk()
    async with contextlib.AsyncExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix=workdir_prefix))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        redis = Redis.from_url(f"{REDIS_BASE}/{args.redis_db}")
        stack.push_async_callback(_flush_and_close, redis)
        wrk = Wrk(wrk_bin, Load.from_args(args))
        session = Session(kind, args, started_at, wrk, workdir, redis, stack)
        session.result |= header(args, wrk_bin)
        session.config = raised_config(workdir / "config")
        await redis.flushdb()
        try:
            yield session
        except BaseException:  # the children's logs outlive a failed run (the workdir does not)
            _keep_logs(workdir, args.out / f"{kind}-{started_at:%Y%m%d-%H%M%S}-logs")
            raise


def _keep_logs(workdir: Path, folder: Path) -> None:
    logs = sorted(workdir.glob("*.log"))
    if not logs:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for log in logs:
        shutil.copy2(log, folder / log.name)
    print(f"the logs of the failed run: {folder}")


async def _flush_and_close(redis: Redis) -> None:
    with contextlib.suppress(Exception):
        await redis.flushdb()
    await redis.aclose()


def run_main(run: Callable[[], Awaitable[int]], timeout_minutes: float | None = None) -> int:
    """asyncio.run(run()), cleaned up on SIGTERM too (as on Ctrl-C) and after `timeout_minutes`;
    a RuntimeError is the bench's own failure, printed without a traceback."""

    async def guarded() -> int:
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        if timeout_minutes is None:
            return await run()
        return await asyncio.wait_for(run(), timeout_minutes * 60)

    try:
        return asyncio.run(guarded())
    except TimeoutError:
        if timeout_minutes is None:
            raise
        print(f"gave up after {timeout_minutes} minutes (cleaned up)", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
