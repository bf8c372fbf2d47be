"""`python -m bench report`: credit reports (issue 13 item 7).

- generation over HTTP, `POST /api/v1/me/credit-report`: cold (a new report: the facts from
  PostgreSQL, the PDF rendered in the worker's report thread, signed, stored) and cached (the same
  request again: the report of the same content fingerprint comes back), in ms;
- the event loop's p99 lag while 10 reports render: in this process, the service's own render
  pool (`scenarios/reports/render.py`, one thread) rendering 10 real report documents while a
  ticker measures how late the loop wakes up; and, over HTTP, `GET /healthz` latencies of the
  service while 10 cold reports are asked for at once;
- the verification page `GET /r/{report_no}` and `GET /api/v1/credit-reports/{report_no}` (no
  login, an audited read each) under wrk, against the bare Sanic ceiling in the same run.

Data: a fresh PostgreSQL database (bench/http_data.py), users bound to persons, one report per
user issued in the cold phase. Built on bench/harness/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx

from bench.harness import cli, report
from bench.harness.clients import bearer, login_all, settle
from bench.harness.processes import say
from bench.harness.session import Session, open_session, run_main
from bench.harness.wrk import PATHS_LUA
from bench.http_data import DataPlan

TARGETS = ("ceiling", "page", "api", "generation")
QUICK = {
    "users": 20, "subjects": 3000, "records": 12000, "duration": 3.0, "warmup": 1.0,
}  # fmt: skip
PAGE_TARGET = "service GET /r/{report_no}"
API_TARGET = "service GET /api/v1/credit-reports/{report_no}"
CONCURRENT_RENDERS = 10
TICK_SECONDS = 0.002


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = cli.bench_parser(
        "python -m bench report",
        "Credit reports: generation cold and cached, the loop while 10 render, verification "
        "req/s against a bare Sanic ceiling.",
        TARGETS,
        warmup=2.0,
    )
    parser.add_argument("--users", type=int, default=40, help="users, one report each")
    parser.add_argument("--subjects", type=int, default=20000)
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--quick", action="store_true", help="20 users, 3 s runs")
    args = cli.parse(parser, argv, TARGETS, QUICK)
    if args.users < CONCURRENT_RENDERS + 1:
        parser.error(f"--users must be at least {CONCURRENT_RENDERS + 1}")
    return args


async def run(args: argparse.Namespace) -> int:
    async with open_session("report", args, workdir_prefix="alxa-report-bench-") as s:
        plan = DataPlan(subjects=args.subjects, records=args.records, users=args.users)
        db, _ = await s.fresh_database("alxa_bench_report_", plan, signing_kid="report1")
        await s.start_service()
        tokens = await login_all(s.base, args.users)
        generation = await _generation(s.base, tokens)
        s.result["generation"] = generation
        numbers = generation.pop("numbers")
        if "generation" in args.targets:
            async with db.connect() as conn:
                row = await conn.fetchrow("SELECT * FROM credit_report ORDER BY id LIMIT 1")
            s.result["loop_while_rendering"] = await _loop_lag(s, dict(row))
        paths = {
            ("page", PAGE_TARGET): [f"/r/{n}" for n in numbers],
            ("api", API_TARGET): [f"/api/v1/credit-reports/{n}" for n in numbers],
        }
        files = {key: s.write_lines(f"{key}_paths.txt", p) for (key, _), p in paths.items()}
        await s.measure_ceiling(files["page"])
        for (key, name), _ in paths.items():
            if key in args.targets:
                await settle(s.redis)
                await s.measure(
                    key, name, s.base, files[key], script=PATHS_LUA, warm=True,
                    before_each=partial(settle, s.redis), goal=report.READ_GOAL,
                )  # fmt: skip
        exit_code = s.report(_goals)
    s.write_result()
    return exit_code


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def _post_report(client: httpx.AsyncClient, token: str, purpose: str) -> tuple[float, dict]:
    started = time.perf_counter()
    response = await client.post(
        "/api/v1/me/credit-report", headers=bearer(token), json={"purpose": purpose}
    )
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code not in (200, 201):
        raise RuntimeError(f"credit report: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


async def _generation(base: str, tokens: list[str]) -> dict[str, Any]:
    """Cold: each user's first report, one at a time (the render thread is then the only work);
    cached: the same request again. Then `GET /healthz` while 10 users ask at once."""
    cold: list[float] = []
    cached: list[float] = []
    numbers: list[str] = []
    sizes: list[int] = []
    async with httpx.AsyncClient(base_url=base, timeout=120.0) as client:
        # The worker's first report loads ReportLab and registers the font: timed apart.
        first_ms, first = await _post_report(client, tokens[CONCURRENT_RENDERS], "其他")
        for token in tokens[CONCURRENT_RENDERS:]:
            elapsed, body = await _post_report(client, token, "招投标")
            cold.append(elapsed)
            numbers.append(body["report_no"])
            again, repeat = await _post_report(client, token, "招投标")
            if repeat["report_no"] != body["report_no"] or not repeat["reused"]:
                raise RuntimeError(f"the same request gave another report: {repeat}")
            cached.append(again)
        pdf = await client.get(
            f"/api/v1/credit-reports/{numbers[0]}/pdf", headers=bearer(tokens[CONCURRENT_RENDERS])
        )
        sizes.append(len(pdf.content))
        during = await _healthz_while(client, tokens[:CONCURRENT_RENDERS])
    cold_s, cached_s = _summary(cold), _summary(cached)
    say(
        f"  the worker's first report (ReportLab and the font loaded): {first_ms:.0f} ms; then "
        f"report generation over HTTP ({sizes[0] / 1024:.0f} KiB PDF): cold median "
        f"{cold_s['median_ms']} ms (p95 {cold_s['p95_ms']}), cached median "
        f"{cached_s['median_ms']} ms (p95 {cached_s['p95_ms']})"
    )
    say(
        f"  GET /healthz while {CONCURRENT_RENDERS} reports render: p50 {during['p50_ms']} ms, "
        f"p99 {during['p99_ms']} ms over {during['n']} requests; the 10 took "
        f"{during['reports_seconds']} s"
    )
    return {
        "first_report_ms": round(first_ms, 1), "first_report_no": first["report_no"],
        "cold": cold_s, "cached": cached_s, "pdf_kib": round(sizes[0] / 1024, 1),
        "healthz_while_rendering": during, "numbers": numbers,
    }  # fmt: skip


async def _healthz_while(client: httpx.AsyncClient, tokens: list[str]) -> dict[str, Any]:
    latencies: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30.0) as other:
            while not done.is_set():
                started = time.perf_counter()
                await other.get("/healthz")
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.005)

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    await asyncio.gather(*(_post_report(client, t, "融资") for t in tokens))
    seconds = time.perf_counter() - started
    done.set()
    await prober
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
        "reports_seconds": round(seconds, 2),
    }


async def _loop_lag(s: Session, row: dict[str, Any]) -> dict[str, Any]:
    """The service's render pool in this process: 10 documents of a real report rendered while a
    ticker sleeps 2 ms at a time and records how late it wakes (the loop's lag)."""
    from qr.plate import FontMissing
    from scenarios.merchants.rules import default_rules as merchant_rules
    from scenarios.reports.render import render_pdf
    from scenarios.reports.rules import default_rules
    from scenarios.reports.service import printed_document

    rules = default_rules()
    content = json.loads(row["content"])
    issued = datetime.now(UTC)
    documents = [
        printed_document(
            f"R{n:024d}".replace("0", "2"), "招投标", issued, issued + timedelta(days=30),
            content, f"{s.base}/r/{n}", rules,
        )
        for n in range(CONCURRENT_RENDERS)
    ]  # fmt: skip
    font = merchant_rules().font("")
    if font is None:
        raise RuntimeError("no CJK font (fonts-wqy-microhei) for the in-process render")
    one_started = time.perf_counter()
    try:
        await render_pdf(documents[0], font, 60)  # the font's registration, once per process
    except FontMissing as exc:
        raise RuntimeError(str(exc)) from exc
    first_ms = (time.perf_counter() - one_started) * 1000
    singles = []
    for document in documents[:3]:
        started = time.perf_counter()
        await render_pdf(document, font, 60)
        singles.append((time.perf_counter() - started) * 1000)

    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            expected = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            lags.append(max(0.0, (loop.time() - expected) * 1000))

    idle_task = asyncio.create_task(ticker())
    await asyncio.sleep(0.5)
    done.set()
    await idle_task
    idle = sorted(lags)
    lags.clear()
    done.clear()
    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(render_pdf(d, font, 60) for d in documents))
    seconds = time.perf_counter() - started
    done.set()
    await tick
    busy = sorted(lags)

    def pct(values: list[float], q: float) -> float:
        return round(values[min(len(values) - 1, int(len(values) * q))], 2)

    result = {
        "first_render_ms": round(first_ms, 1),
        "render_ms_median": round(statistics.median(singles), 1),
        "ten_renders_seconds": round(seconds, 2),
        "loop_lag_idle_p99_ms": pct(idle, 0.99),
        "loop_lag_p50_ms": pct(busy, 0.5),
        "loop_lag_p99_ms": pct(busy, 0.99),
        "loop_lag_max_ms": round(busy[-1], 2),
        "ticks": len(busy),
    }
    say(
        f"  in-process render (report thread): first {result['first_render_ms']} ms (font "
        f"registration), then {result['render_ms_median']} ms; {CONCURRENT_RENDERS} at once in "
        f"{result['ten_renders_seconds']} s with the loop's lag p50 {result['loop_lag_p50_ms']} "
        f"ms, p99 {result['loop_lag_p99_ms']} ms (idle p99 {result['loop_lag_idle_p99_ms']} ms)"
    )
    return result


def _goals(s: Session) -> None:
    """Issue 16: the verification reads at 0.40 of the ceiling or more."""
    s.result["goals"] = s.say_goals()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_main(partial(run, args), timeout_minutes=30)


if __name__ == "__main__":
    sys.exit(main())
