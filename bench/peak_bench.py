"""`python -m bench peak`: a National Day morning at a scenic area (issue 12 item 10).

Tourists read their credit and show their credit codes, staff at the gate verify and redeem
them, consumers scan shop plates: one mixed, open-loop load for --duration seconds against the
service in production mode (2 workers, PostgreSQL, a Redis of the run's own that persists every
write to its AOF, as a production Redis should). Part-way through, Redis is killed (SIGKILL) and
started again --redis-down seconds later; later one HTTP worker is killed with SIGKILL.

Reported: errors by kind and p50/p99 per phase (before, during the outage, after), and that
nothing was lost: the audit entries written equal the audited 2xx answers (how many entries each
kind of request writes is measured first), and the redemptions stored equal the 201s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.harness import cli
from bench.harness.clients import bearer, login_all
from bench.harness.database import Database
from bench.harness.processes import Child, free_port, say, wait_port
from bench.harness.services import new_keys
from bench.harness.session import Session, open_session, run_main
from bench.http_data import DataPlan
from bench.scan_bench import VENUE, make_staff

TARGETS = ("peak",)
QUICK = {"duration": 60.0, "warmup": 0.0}
# The morning's mix: what share of requests each kind is (citizens, gate staff, consumers).
MIX = {"credit": 30, "code": 20, "verify": 25, "redeem": 10, "plate": 15}
POLICY = "dp-ticket-a"
STATUS_BAD = 500


@dataclass
class Outcome:
    at: float  # seconds since the load started
    kind: str
    result: str  # the HTTP status, or the error class ("ConnectError", "ReadTimeout", ...)
    seconds: float


@dataclass
class Load:
    base: str
    holders: list[str]
    staff: list[str]
    plates: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    codes: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=5000))
    skipped: Counter[str] = field(default_factory=Counter)  # due while IN_FLIGHT were open
    started: float = 0.0

    def fresh_code(self) -> str | None:
        while self.codes and time.monotonic() - self.codes[0][0] > 45:  # codes live 60 s
            self.codes.popleft()
        return self.codes.pop()[1] if self.codes else None

    async def one(self, client: httpx.AsyncClient, kind: str) -> None:
        began = time.monotonic()
        try:
            status = await self._send(client, kind)
        except httpx.HTTPError as exc:
            result = type(exc).__name__
        else:
            if status is None:
                return  # nothing to send yet (no fresh code)
            result = str(status)
        self.outcomes.append(Outcome(began - self.started, kind, result, time.monotonic() - began))

    async def _send(self, client: httpx.AsyncClient, kind: str) -> int | None:
        holder = bearer(random.choice(self.holders))
        if kind == "credit":
            return (await client.get("/api/v1/me/credit", headers=holder)).status_code
        if kind == "code":
            response = await client.get("/api/v1/me/credit-code", headers=holder)
            if response.status_code == 200:
                self.codes.append((time.monotonic(), response.json()["token"]))
            return response.status_code
        if kind == "plate":
            return (
                await client.get(f"/api/v1/merchant-codes/{random.choice(self.plates)}")
            ).status_code
        code = self.fresh_code()
        if code is None:
            return None
        staff = bearer(random.choice(self.staff))
        if kind == "verify":
            body: dict[str, Any] = {"token": code, "venue_id": VENUE}
            return (await client.post("/api/v1/scan/verify", headers=staff, json=body)).status_code
        body = {
            "token": code,
            "policy_id": POLICY,
            "idempotency_key": f"peak-{os.urandom(8).hex()}",
        }
        return (await client.post("/api/v1/scan/redeem", headers=staff, json=body)).status_code


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = cli.bench_parser(
        "python -m bench peak", "A peak morning's mixed load with Redis and a worker killed.",
        TARGETS, default_targets="peak",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second, all kinds")
    parser.add_argument("--holders", type=int, default=3000)
    parser.add_argument("--staff", type=int, default=32)
    parser.add_argument("--merchants", type=int, default=500)
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--redis-down", type=float, default=10.0, help="seconds Redis is away")
    parser.add_argument("--quick", action="store_true", help="a 60 s run, fewer users")
    parser.set_defaults(duration=600.0)  # ten minutes of a morning
    args = cli.parse(parser, argv, TARGETS, QUICK)
    if args.quick:
        args.holders, args.merchants, args.records = 300, 100, 3000
    return args


class PrivateRedis:
    """A Redis of the run's own, persisting every write (appendfsync always), killable."""

    def __init__(self, s: Session) -> None:
        self.s, self.port = s, free_port()
        self.dir = s.workdir / "redis"
        self.dir.mkdir()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.child = self.s.start_child("redis", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
        ])  # fmt: skip
        await wait_port(self.child, self.port)

    def kill(self) -> None:
        if self.child is not None:
            self.child.proc.send_signal(signal.SIGKILL)
            self.child.proc.wait()


def worker_pids(main_pid: int) -> list[int]:
    """The service's HTTP workers (children named Sanic-Server-…), not its audit drainer."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == main_pid and b"SANIC_WORKER_NAME=Sanic-Server" in environ:
            pids.append(int(entry.name))
    return sorted(pids)


async def _prepare(s: Session, redis: PrivateRedis) -> tuple[Database, Load]:
    args = s.args
    users = args.holders + args.staff
    plan = DataPlan(subjects=users * 2, records=args.records, users=users)
    db = await s.create_database("alxa_bench_peak_")
    s.configure(db, new_keys(), "peak1")
    s.env["REDIS_URL"] = redis.url
    await redis.start()
    await s.migrate()
    await s.load(db, plan, with_users=True)
    await make_staff(db, args.holders + 1, args.staff)
    async with db.connect() as conn:
        await conn.execute(
            """
            INSERT INTO merchant (subject_id, operator_id, name, zone_id, address, category,
                                  status, code, code_issued_on, created_at, updated_at)
            SELECT id, 1, left(name, 90), 'dingyuanying', '定远营古城', '餐饮', 'active',
                   'P' || lpad(id::text, 9, '0'), current_date, now(), now()
            FROM subject WHERE kind <> 'person' ORDER BY id LIMIT $1
            """,
            args.merchants,
        )
        plates = [str(r["code"]) for r in await conn.fetch("SELECT code FROM merchant")]
    await s.start_service()
    say(f"logging in {users:,} users")
    tokens = await login_all(s.base, users)
    return db, Load(s.base, tokens[: args.holders], tokens[args.holders :], plates)


async def _audit_rows(db: Database) -> int:
    async with db.connect() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM audit_entry"))


async def _drained(db: Database, redis: PrivateRedis, within: float = 120.0) -> int:
    """The audit entry count once the stream is empty (the drainer writes every 0.25 s)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis.url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            keys = [k async for k in client.scan_iter(match="*audit*")]
            lengths = [await client.xlen(k) for k in keys if await client.type(k) == b"stream"]
            if sum(lengths) == 0:
                break
            await asyncio.sleep(0.5)
    finally:
        await client.aclose()
    await asyncio.sleep(1.0)
    return await _audit_rows(db)


async def _entries_per_kind(db: Database, redis: PrivateRedis, load: Load) -> dict[str, int]:
    """How many audit entries one 2xx of each kind writes, measured on this service."""
    per_kind: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=load.base, timeout=10.0) as client:
        await load.one(client, "code")
        for kind in MIX:
            before = await _drained(db, redis)
            load.outcomes.clear()
            for _ in range(5):
                if kind in ("verify", "redeem"):
                    await load.one(client, "code")
                    load.outcomes = [o for o in load.outcomes if o.kind == kind]
                await load.one(client, kind)
            ok = sum(1 for o in load.outcomes if o.kind == kind and o.result.startswith("2"))
            written = await _drained(db, redis) - before
            per_kind[kind] = round(written / ok) if ok else 0
    load.outcomes.clear()
    return per_kind


# Where in the run the faults come (shares of --duration): apart, so each phase is one fault's.
REDIS_KILLED_AT, WORKER_KILLED_AT = 0.4, 0.75


async def _faults(s: Session, redis: PrivateRedis, load: Load, duration: float) -> dict[str, float]:
    marks: dict[str, float] = {}
    await asyncio.sleep(duration * REDIS_KILLED_AT)
    marks["redis_killed"] = time.monotonic() - load.started
    say(f"  {marks['redis_killed']:.0f} s: Redis killed")
    redis.kill()
    await asyncio.sleep(s.args.redis_down)
    await redis.start()
    marks["redis_back"] = time.monotonic() - load.started
    say(f"  {marks['redis_back']:.0f} s: Redis back (from its AOF)")
    await asyncio.sleep(max(0.0, duration * WORKER_KILLED_AT - (time.monotonic() - load.started)))
    workers = worker_pids(s.service.proc.pid)
    if workers:
        os.kill(workers[0], signal.SIGKILL)
        marks["worker_killed"] = time.monotonic() - load.started
        say(f"  {marks['worker_killed']:.0f} s: worker {workers[0]} killed (of {workers})")
        await asyncio.sleep(10)
        marks["workers_after"] = len(worker_pids(s.service.proc.pid))
        say(f"  workers 10 s later: {worker_pids(s.service.proc.pid)}")
    return marks


IN_FLIGHT = 64  # requests open at once; past it, a due request is counted as skipped, not queued


async def _drive(load: Load, rate: float, duration: float) -> None:
    """Open loop at `rate`, at most IN_FLIGHT at once: a backlog queued in the client would make
    httpx's pool quadratic and measure the client instead of the service."""
    kinds, weights = list(MIX), list(MIX.values())
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=load.base, timeout=5.0, limits=limits) as client:
        tasks: set[asyncio.Task[None]] = set()
        load.started = start = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - start < duration:
            due = int((now - start) * rate)
            for kind in random.choices(kinds, weights, k=max(0, due - sent)):
                if len(tasks) >= IN_FLIGHT:
                    load.skipped[kind] += 1
                    continue
                task = asyncio.create_task(load.one(client, kind))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            sent = max(sent, due)
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)


def _phase(at: float, marks: dict[str, float]) -> str:
    """By when the answer (or the error) came: a request dropped by the worker's death belongs
    to that phase even if it was sent a moment before."""
    if "worker_killed" in marks and marks["worker_killed"] <= at < marks["worker_killed"] + 10:
        return "worker killed"
    if at < marks.get("redis_killed", float("inf")):
        return "before"
    if at < marks.get("redis_back", float("inf")) + 5:
        return "redis down"
    return "after"


def _report(load: Load, marks: dict[str, float]) -> dict[str, Any]:
    by_phase: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in load.outcomes:
        by_phase[_phase(outcome.at + outcome.seconds, marks)].append(outcome)
    table: dict[str, Any] = {}
    say(f"\n{'phase':<14}{'kind':<8}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}  results")
    for phase in ("before", "redis down", "worker killed", "after"):
        for kind in MIX:
            rows = [o for o in by_phase.get(phase, []) if o.kind == kind]
            if not rows:
                continue
            times = sorted(o.seconds * 1000 for o in rows)
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            results = Counter(o.result for o in rows)
            table.setdefault(phase, {})[kind] = {
                "requests": len(rows), "p50_ms": round(statistics.median(times), 1),
                "p99_ms": round(p99, 1), "results": dict(results),
            }  # fmt: skip
            shown = ", ".join(f"{k}: {v}" for k, v in results.most_common())
            p50 = statistics.median(times)
            say(f"{phase:<14}{kind:<8}{len(rows):>9}{p50:>9.1f}{p99:>9.1f}  {shown}")
    return table


async def run(args: argparse.Namespace) -> int:
    async with open_session("peak", args, workdir_prefix="alxa-peak-bench-") as s:
        redis = PrivateRedis(s)
        db, load = await _prepare(s, redis)
        per_kind = await _entries_per_kind(db, redis, load)
        say(f"  audit entries per 2xx: {per_kind}")
        async with db.connect() as conn:
            redemptions_before = int(await conn.fetchval("SELECT count(*) FROM redemption"))
        audit_before = await _drained(db, redis)
        say(f"peak load: {args.rate:.0f} req/s for {args.duration:.0f} s, mix {MIX}")
        faults = asyncio.create_task(_faults(s, redis, load, args.duration))
        await _drive(load, args.rate, args.duration)
        marks = await faults
        table = _report(load, marks)
        audit_written = await _drained(db, redis) - audit_before
        audited = sum(per_kind[o.kind] for o in load.outcomes if o.result.startswith("2"))
        async with db.connect() as conn:
            stored = (
                int(await conn.fetchval("SELECT count(*) FROM redemption")) - redemptions_before
            )
        created = sum(1 for o in load.outcomes if o.kind == "redeem" and o.result == "201")
        unanswered = sum(1 for o in load.outcomes if o.kind == "redeem" and not o.result.isdigit())
        server_errors = sum(
            1 for o in load.outcomes if o.result.isdigit() and int(o.result) >= STATUS_BAD
        )
        say(f"\naudit entries written {audit_written:,}, audited 2xx answers {audited:,}")
        say(
            f"redemptions stored {stored:,}, 201 answers {created:,}, "
            f"redeems without an answer {unanswered:,}"
        )
        say(f"5xx answers: {server_errors:,} of {len(load.outcomes):,}")
        say(f"not sent (the client had {IN_FLIGHT} open): {dict(load.skipped)}")
        # A redemption whose answer a dropped connection swallowed is stored without its 201
        # (the client's retry with the same idempotency key gets it): stored may exceed the
        # 201s by at most the redeems that got no answer; fewer stored is a loss.
        lost = audit_written < audited or not created <= stored <= created + unanswered
        s.result |= {
            "marks": marks, "phases": table, "audit_per_2xx": per_kind,
            "audit_written": audit_written, "audited_2xx": audited,
            "redemptions_stored": stored, "redemptions_201": created,
            "server_errors": server_errors, "requests": len(load.outcomes), "lost": lost,
            "skipped": dict(load.skipped),
        }  # fmt: skip
        s.result["service_errors"] = _service_errors(s.service.log_path)
        say("nothing lost" if not lost else "LOST: see the counts above")
    s.write_result()
    return 1 if lost else 0


def _service_errors(log_path: Path, shown: int = 8) -> dict[str, int]:
    """The service's own error lines by message (timestamps and ids cut), to tell each 5xx or
    dropped connection from the outage's expected one line per part."""
    errors: Counter[str] = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        if " ERROR " not in line and not line.startswith("Traceback"):
            continue
        message = line.split(" ERROR ", 1)[-1]
        errors[" ".join(message.split())[:160]] += 1
    if errors:
        say("\nservice log, ERROR lines by message:")
        for message, count in errors.most_common(shown):
            say(f"  {count:>5} × {message}")
    return dict(errors)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # setup (data, logins) and the load, with room to drain afterwards
    return run_main(partial(run, args), timeout_minutes=args.duration / 60 + 20)


if __name__ == "__main__":
    sys.exit(main())
