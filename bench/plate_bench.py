"""`python -m bench.plate_bench`: scanning a merchant plate, `GET /api/v1/merchant-codes/{code}`
and the H5 page `GET /m/{code}`, against the bare Sanic ceiling in the same run, same worker
count; and the poster (`GET /api/v1/merchants/{id}/plate.png`) rendered cold and served cached.

Steps: a fresh PostgreSQL database with generated subjects and records (bench/http_data.py,
COPY), `--merchants` active merchants over its enterprises and individual businesses (one SQL
INSERT … SELECT), the service in production mode, one staff login; every view fetched once
(warm: what a shop's plate sees all day), then wrk with no login, each request the next plate.
Reuses bench/http_bench.py's harness (children, wrk, CPU accounting, table). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from bench import http_bench as hb
from bench.http_data import DataPlan, Windows, load

ROOT = hb.ROOT
PATHS_LUA = ROOT / "bench" / "plate_paths.lua"
# Goals from issue 4: >= 45 % of the ceiling's req/s, p99 <= 30 ms at 64 connections.
GOAL_RATIO = 0.45
GOAL_P99_MS = 30.0
API_TARGET = "service GET /api/v1/merchant-codes/{code}"
H5_TARGET = "service GET /m/{code}"
say = hb.say


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plate_bench",
        description="Merchant plate scans (API and H5) against a bare Sanic ceiling; posters.",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--merchants", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=20000)
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--posters", type=int, default=20, help="posters timed cold and cached")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="measured runs, the best counts")
    parser.add_argument("--targets", default="ceiling,api,h5,poster",
                        help="subset of ceiling,api,h5,poster")  # fmt: skip
    parser.add_argument("--quiet-wait", type=float, default=60.0)
    parser.add_argument("--redis-db", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="500 merchants, 3 s runs")
    parser.add_argument("--out", type=Path, default=hb.OUT_DIR)
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.quick:
        args.merchants, args.subjects, args.records = 500, 5000, 20000
        args.duration, args.warmup, args.posters = 3.0, 1.0, 5
    if args.redis_db == 0:
        parser.error("--redis-db 0 is never flushed by a benchmark; use another")
    return args


@contextlib.contextmanager
def paths_script() -> Any:
    """http_bench.wrk() sends the requests its LUA_SCRIPT makes: here, plate paths."""
    saved = hb.LUA_SCRIPT
    hb.LUA_SCRIPT = PATHS_LUA
    try:
        yield
    finally:
        hb.LUA_SCRIPT = saved


async def make_merchants(dsn: str, count: int) -> list[tuple[int, str]]:
    """Active merchants over the first organisations, codes "B" + 9 digits; user 1 is staff."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO merchant (subject_id, operator_id, name, zone_id, address, category,
                                  status, code, code_issued_on, created_at, updated_at)
            SELECT id, 1, left(name, 90), 'dingyuanying', '定远营古城', '餐饮', 'active',
                   'B' || lpad(id::text, 9, '0'), current_date, now(), now()
            FROM subject WHERE kind <> 'person' ORDER BY id LIMIT $1
            """,
            count,
        )
        await conn.execute("""UPDATE app_user SET roles = '["admin"]' WHERE id = 1""")
        rows = await conn.fetch("SELECT id, code FROM merchant ORDER BY id")
    finally:
        await conn.close()
    return [(int(r["id"]), str(r["code"])) for r in rows]


async def fetch_all(base: str, paths: list[str], concurrency: int = 32) -> None:
    """Every view once: builds and caches it (and lets each worker learn the codes it meets)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as client:

        async def one(n: int) -> None:
            response = await client.get(paths[n])
            if response.status_code != 200:
                raise RuntimeError(f"{paths[n]}: {response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await hb.gather_bounded(len(paths), concurrency, one, "views")
        say(f"  {len(paths):,} views fetched in {time.perf_counter() - started:.1f} s")


async def poster_times(base: str, token: str, merchant_ids: list[int]) -> dict[str, Any]:
    """Each poster twice: the first renders it (a thread, Pillow), the second comes from Redis."""
    headers = {"Authorization": f"Bearer {token}"}
    cold: list[float] = []
    cached: list[float] = []
    sizes: list[int] = []
    async with httpx.AsyncClient(base_url=base, timeout=60.0, headers=headers) as client:
        for merchant_id in merchant_ids:
            for bucket in (cold, cached):
                started = time.perf_counter()
                response = await client.get(f"/api/v1/merchants/{merchant_id}/plate.png")
                bucket.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"poster {merchant_id}: {response.status_code}")
            sizes.append(len(response.content))

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
            "max_ms": round(ordered[-1], 1),
        }

    return {
        "posters": len(merchant_ids),
        "cold": summary(cold),
        "cached": summary(cached),
        "png_kib": round(statistics.mean(sizes) / 1024, 1),
    }


async def run(args: argparse.Namespace) -> int:
    started_at = datetime.now()
    wrk_bin = hb.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="alxa-plate-bench-"))
    db_name = f"alxa_bench_plate_{secrets.token_hex(4)}"
    dsn = hb.SERVICE_DSN.format(name=db_name)
    pg_dsn = dsn.replace("postgres://", "postgresql://", 1)
    redis = Redis.from_url(f"{hb.REDIS_BASE}/{args.redis_db}")
    children: list[hb.Child] = []
    created_db = False
    plan = DataPlan(subjects=args.subjects, records=args.records, users=1)
    result: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "versions": hb.versions(wrk_bin),
    }
    exit_code = 0
    try:
        config = hb.raised_config(workdir / "config")
        await redis.flushdb()
        keys = hb.new_keys()
        say(f"creating database {db_name}")
        await hb.admin(f'CREATE DATABASE "{db_name}"')
        created_db = True
        fake_port, service_port, ceiling_port = hb.free_port(), hb.free_port(), hb.free_port()
        wechat_secret = "bench-" + secrets.token_hex(12)
        env = {k: v for k, v in os.environ.items() if k not in hb.SERVICE_ENV_NAMES}
        env.update({
            "APP_ENV": "production", "DEMO": "false", "HOST": "127.0.0.1",
            "DATABASE_URL": dsn, "REDIS_URL": f"{hb.REDIS_BASE}/{args.redis_db}",
            "REDIS_PREFIX": hb.REDIS_PREFIX, "WECHAT_API_BASE": f"http://127.0.0.1:{fake_port}",
            "WECHAT_APPID": hb.WECHAT_APPID, "WECHAT_SECRET": wechat_secret,
            "FIELD_KEYS": keys["field_keys"], "BLIND_INDEX_KEY": keys["blind_index_key"],
            "WORKERS": str(args.workers), "PORT": str(service_port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{service_port}", "ACCESS_LOG": "false",
            "CONFIG_DIR": str(workdir / "config"), "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        env["CODE_SIGNING_KEYS"] = "plate1:" + base64.b64encode(secrets.token_bytes(32)).decode()
        say("applying migrations (python -m server migrate)")
        await hb.run_migrations(env, workdir)
        say(f"loading {plan.subjects:,} subjects, {plan.records:,} records")
        scoring = tomllib.loads((workdir / "config" / "scoring.toml").read_text())
        conn = await asyncpg.connect(pg_dsn)
        try:
            await load(
                conn, plan, hb.cipher_for(keys), Windows.from_scoring(scoring),
                str(config.get("identity_consent_version", "2026-01")), say=say,
            )  # fmt: skip
        finally:
            await conn.close()
        merchants = await make_merchants(pg_dsn, args.merchants)
        say(f"  {len(merchants):,} active merchants")

        await hb.start_fake_wechat(fake_port, wechat_secret, env, workdir, children)
        say(f"starting the service: {args.workers} worker(s) on port {service_port}")
        service = hb.start_child("service", [hb.PYTHON, "-m", "server", "serve"], env, workdir)
        children.append(service)
        base = f"http://127.0.0.1:{service_port}"
        await hb.wait_http(service, f"{base}/readyz")
        staff_token = (await hb.login_all(base, 1))[0]
        api_file, h5_file = workdir / "api_paths.txt", workdir / "h5_paths.txt"
        api_file.write_text("".join(f"/api/v1/merchant-codes/{code}\n" for _, code in merchants))
        h5_file.write_text("".join(f"/m/{code}\n" for _, code in merchants))
        results: list[hb.Measurement] = []
        raw: dict[str, str] = {}
        ceiling: hb.Measurement | None = None

        if "ceiling" in args.targets:
            ceiling, raw["ceiling"] = await hb.measure_ceiling(
                args, wrk_bin, ceiling_port, api_file, env, workdir, children
            )
            results.append(ceiling)

        for target, name, paths_file in (("api", API_TARGET, api_file), ("h5", H5_TARGET, h5_file)):
            if target not in args.targets:
                continue
            await fetch_all(base, paths_file.read_text().split())
            await hb.settle(redis)
            with paths_script():
                m, raw[target] = await hb.measure(
                    name, base, paths_file, args, wrk_bin, warm=True,
                    server_pid=service.proc.pid,
                    before_each=partial_settle(redis),
                )  # fmt: skip
            results.append(m)

        if "poster" in args.targets:
            picked = [merchant_id for merchant_id, _ in merchants[: args.posters]]
            posters = await poster_times(base, staff_token, picked)
            result["posters"] = posters
            say(
                f"  poster ({posters['png_kib']} KiB PNG): cold median "
                f"{posters['cold']['median_ms']} ms (p95 {posters['cold']['p95_ms']}), cached "
                f"median {posters['cached']['median_ms']} ms (p95 {posters['cached']['p95_ms']})"
            )

        for m in results:
            if ceiling is not None and ceiling.rps > 0:
                m.ratio_to_ceiling = round(m.rps / ceiling.rps, 3)
        hb.print_table(results)
        result["results"] = [
            asdict(m) | {"server_cpu_us_per_request": m.server_cpu_us_per_request} for m in results
        ]
        result["wrk_output"] = raw
        result["goals"] = {}
        for m in results:
            if m.target not in (API_TARGET, H5_TARGET) or ceiling is None:
                continue
            ratio = m.rps / ceiling.rps
            result["goals"][m.target] = {
                "ratio": round(ratio, 3), "ratio_met": ratio >= GOAL_RATIO,
                "p99_ms": m.p99_ms, "p99_met": m.p99_ms <= GOAL_P99_MS,
            }  # fmt: skip
            say(
                f"goal {m.target} ≥ {GOAL_RATIO:.0%} of the ceiling: {ratio:.0%} → "
                f"{'met' if ratio >= GOAL_RATIO else 'NOT met'}; p99 ≤ {GOAL_P99_MS:.0f} ms: "
                f"{m.p99_ms:.1f} ms → {'met' if m.p99_ms <= GOAL_P99_MS else 'NOT met'}"
            )
        bad = [m for m in results if m.error_share > hb.MAX_ERROR_SHARE]
        for m in bad:
            say(f"\nFAILED: {m.target}: {m.non_2xx_3xx} non-2xx/3xx, {m.socket_errors} errors")
            exit_code = 1
        result["ok"] = not bad
    finally:
        for child in reversed(children):
            child.stop()
        with contextlib.suppress(Exception):
            await redis.flushdb()
        await redis.aclose()
        if created_db:
            with contextlib.suppress(Exception):
                await hb.admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out_path = args.out / f"plate-{started_at:%Y%m%d-%H%M%S}.json"
    out_path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    say(f"\nresults written to {out_path}")
    return exit_code


def partial_settle(redis: Redis) -> Any:
    """Before each measured run: let the audit drain catch up, so runs start alike."""

    async def settle() -> None:
        await hb.settle(redis)

    return settle


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
