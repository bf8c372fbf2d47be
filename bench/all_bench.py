"""`python -m bench all`: issue 16's whole table in one command. Runs the benches one after
another (each in a process of its own, on a machine that should be quiet): http (ceiling,
healthz, cold, warm, the public lists, the console queue), scan (ceiling, verify, signature,
redeem, offline), plate (ceiling, merchant-codes, /m/, poster), report (the verification page
and API) and import (PostgreSQL, `python -m bench import`). Each writes its own JSON into
bench/out/all-<time>/; then one summary table (path, req/s, p50, p99, ratio to the ceiling,
server CPU per request, PostgreSQL's cores, goal, met?) with the versions and the core count is
printed and written beside them (summary.json, summary.md).

`--records N --subjects N` go to every bench that loads data (scaling runs: 100k, 2M records).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.harness import report
from bench.harness.processes import BENCH_DIR, OUT_DIR, say
from bench.harness.wrk import machine, versions

BENCHES = ("http", "scan", "plate", "report", "import")
TARGETS = {
    "http": "ceiling,healthz,cold,warm,public,console",
    "scan": "ceiling,verify,signature,redeem,offline",
    "plate": "ceiling,api,h5,poster",
    "report": "ceiling,page,api",
}
IMPORT_GOAL_ROWS_PER_S = 20_000  # issue 16: a 1M-row file into PostgreSQL
IMPORT_LINE = re.compile(r"^postgres\s+import\s+(\d+) rows/s", re.MULTILINE)
USERS_PER_SUBJECT = 0.7  # bench http: users are bound to persons (70 % of subjects)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench all", description="Issue 16's table: every bench, one summary."
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per target")
    parser.add_argument("--quick", action="store_true", help="every bench's smoke check")
    parser.add_argument("--records", type=int, help="records loaded by every bench")
    parser.add_argument("--subjects", type=int, help="subjects loaded by every bench")
    parser.add_argument("--workers", type=int, help="Sanic workers (default: cores)")
    parser.add_argument("--quiet-wait", type=float, help="each bench's wait for an idle machine")
    parser.add_argument("--redis-db", type=int, default=9, help="Redis database (flushed)")
    parser.add_argument(
        "--import-rows", type=int, default=1_000_000, help="rows of the import bench's file"
    )
    parser.add_argument(
        "--only", default=",".join(BENCHES), help=f"a subset of {','.join(BENCHES)}"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the run's folder goes")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    if set(args.only) - set(BENCHES):
        parser.error(f"--only takes {', '.join(BENCHES)}")
    if args.redis_db == 0:
        parser.error("--redis-db must not be 0 (it is flushed)")
    return args


def bench_argv(name: str, args: argparse.Namespace, out: Path) -> list[str]:
    """The options `python -m bench <name>` gets from `bench all`'s."""
    if name == "import":
        rows = 20_000 if args.quick else args.import_rows
        extra = ["--subjects", str(args.subjects)] if args.subjects else []
        return ["--backend", "postgres", "--rows", str(rows), *extra]
    argv = ["--targets", TARGETS[name], "--repeat", str(args.repeat), "--out", str(out)]
    argv += ["--redis-db", str(args.redis_db)]
    if args.quick:
        argv.append("--quick")
    if args.workers:
        argv += ["--workers", str(args.workers)]
    if args.quiet_wait is not None:
        argv += ["--quiet-wait", str(args.quiet_wait)]
    if args.records:
        argv += ["--records", str(args.records)]
    if args.subjects:
        argv += ["--subjects", str(args.subjects)]
        if name == "http":
            argv += ["--users", str(min(20_000, int(args.subjects * USERS_PER_SUBJECT)))]
    return argv


def run_bench(name: str, argv: list[str], out: Path) -> dict[str, Any]:
    """One bench in a process of its own (its output shown as it goes); its JSON result, or
    for import (which prints its figures) a JSON written here from its output."""
    command = [sys.executable, "-m", "bench", name, *argv]
    say(f"\n=== {name}: {' '.join(command[1:])}")
    started = time.time()
    if name == "import":
        done = subprocess.run(command, cwd=BENCH_DIR.parent, capture_output=True, text=True)
        print(done.stdout, end="", flush=True)
        print(done.stderr, end="", file=sys.stderr, flush=True)
        imported = import_result(done.stdout, argv, done.returncode)
        path = out / f"import-{datetime.now():%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps(imported, ensure_ascii=False, indent=2) + "\n")
        return imported | {"file": path.name}
    code = subprocess.run(command, cwd=BENCH_DIR.parent).returncode
    found = sorted(
        (p for p in out.glob(f"{name}-*.json") if p.stat().st_mtime >= started),
        key=lambda p: p.stat().st_mtime,
    )
    if not found:
        return {"kind": name, "exit_code": code, "ok": False, "results": []}
    result: dict[str, Any] = json.loads(found[-1].read_text())
    return result | {"kind": name, "exit_code": code, "file": found[-1].name}


def import_result(stdout: str, argv: list[str], exit_code: int) -> dict[str, Any]:
    match = IMPORT_LINE.search(stdout)
    rows_per_s = int(match.group(1)) if match else None
    return {
        "kind": "import", "command": "python -m bench import " + " ".join(argv),
        # It exits 1 when its own target is missed: a failure here only if it printed no figure.
        "exit_code": exit_code if rows_per_s is None else 0, "bench_exit_code": exit_code,
        "rows_per_s": rows_per_s, "output": stdout,
        "versions": versions(None), "machine": machine(),
        "goal": {
            "goal": f"≥ {IMPORT_GOAL_ROWS_PER_S:,} rows/s",
            "met": rows_per_s is not None and rows_per_s >= IMPORT_GOAL_ROWS_PER_S,
        },
    }  # fmt: skip


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A bench's rows of the summary: its wrk targets, and the figures that are not req/s."""
    kind = result.get("kind", "?")
    rows = [_wrk_row(kind, r) for r in result.get("results", [])]
    posters = result.get("posters")
    if posters:
        verdict = result.get("goals", {}).get("poster_cold", {})
        rows.append({
            "bench": kind, "path": "poster cold render (median ms)",
            "p50_ms": posters["cold"]["median_ms"], "goal": verdict.get("goal"),
            "met": verdict.get("met"), "note": f"cached {posters['cached']['median_ms']} ms",
        })  # fmt: skip
    if kind == "import":
        rows.append({
            "bench": kind, "path": "双公示 import into PostgreSQL (rows/s)",
            "rps": result.get("rows_per_s"), "goal": result["goal"]["goal"],
            "met": result["goal"]["met"],
        })  # fmt: skip
    if not rows:
        rows.append({"bench": kind, "path": "(no result)", "met": False,
                     "note": f"exit code {result.get('exit_code')}"})  # fmt: skip
    return rows


def _wrk_row(kind: str, r: dict[str, Any]) -> dict[str, Any]:
    notes, goal = r.get("notes", {}), r.get("notes", {}).get("goal", {})
    return {
        "bench": kind, "path": r["target"], "rps": r["rps"], "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"], "ratio": r.get("ratio_to_ceiling"),
        "cpu_us_per_request": r.get("server_cpu_us_per_request"),
        "postgres_cores": r.get("cpu_cores", {}).get("postgres"),
        "goal": goal.get("goal"), "met": goal.get("met"), "note": _note(notes),
    }  # fmt: skip


def _note(notes: dict[str, Any]) -> str:
    if "redemptions_stored" in notes:
        ok = "ok" if notes["stored_matches_2xx"] else "MISMATCH"
        return (
            f"stored {notes['redemptions_stored']} = 201s {notes['answers_2xx']} + "
            f"{notes['stored_unanswered_at_end']} in flight ({ok}); "
            f"non-2xx {notes['non_2xx_share']:.1%}"
        )
    if "approx_cache_hit_share" in notes:
        return f"≈{notes['approx_cache_hit_share']:.0%} hits"
    return ""


def _cell(value: Any, form: str = "{}") -> str:
    return "—" if value is None else form.format(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The summary as a Markdown table (printed and written as is)."""
    lines = [
        "| bench | path | req/s | p50 ms | p99 ms | ratio | CPU/req µs | PG cores | goal | met? "
        "| note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        met = None if r.get("met") is None else report.met(bool(r["met"]))
        lines.append(
            f"| {r['bench']} | {r['path']} | {_cell(r.get('rps'), '{:,.0f}')} "
            f"| {_cell(r.get('p50_ms'), '{:.1f}')} | {_cell(r.get('p99_ms'), '{:.1f}')} "
            f"| {_cell(r.get('ratio'), '{:.2f}')} "
            f"| {_cell(r.get('cpu_us_per_request'), '{:,.0f}')} "
            f"| {_cell(r.get('postgres_cores'), '{:.2f}')} | {_cell(r.get('goal'))} "
            f"| {_cell(met)} | {r.get('note', '')} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started_at = datetime.now().astimezone()
    out = args.out / f"all-{started_at:%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {
        "command": "python -m bench all " + " ".join(argv),
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(shutil.which("wrk")),
    }  # fmt: skip
    results = [run_bench(name, bench_argv(name, args, out), out) for name in args.only]
    rows = [row for result in results for row in summary_rows(result)]
    packages = header["versions"]["packages"]
    text = (
        f"{header['command']} ({header['started_at']}, {header['machine']['cores']} cores, "
        f"Python {header['versions']['python']}, {header['versions'].get('wrk', 'wrk ?')}, "
        f"sanic {packages.get('sanic')}, asyncpg {packages.get('asyncpg')}, "
        f"redis {packages.get('redis')})\n\n" + table(rows) + "\n"
    )
    say("\n" + text)
    (out / "summary.md").write_text(text)
    failed = [r["kind"] for r in results if r.get("exit_code")]
    summary = header | {"rows": rows, "files": [r.get("file") for r in results], "failed": failed}
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    say(f"results in {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
