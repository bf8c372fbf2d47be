"""`python -m bench.scan_bench`: POST /api/v1/scan/verify (信易游 staff scan) against the bare
Sanic ceiling in the same run, same worker count, and the reference offline verifier's
verifications per second.

Steps: a fresh PostgreSQL database with generated holders (bench/http_data.py, COPY), a few of
them made venue staff of the demo scenic area; the service in production mode with its own
CODE_SIGNING_KEYS; real logins; real credit codes from GET /api/v1/me/credit-code (issued again
right before every measured run: they live 60 s); then wrk against the ceiling and against
/scan/verify, where every request carries the next (staff token, credit code) pair. Optional
target `signature`: every issuance record deleted first, so each verify takes the fallback path
(Ed25519 + database) — what the Redis record saves. Optional target `redeem`: POST
/api/v1/scan/redeem, every request a fresh (credit code, policy) pair under the real limits (once
per code, once per holder and day); the redemptions stored in PostgreSQL are counted against the
2xx answers. Built on bench/harness/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tomllib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.harness import cli, project, report
from bench.harness.clients import bearer, call_each, login_all, redis_delete, settle
from bench.harness.database import Database
from bench.harness.processes import BENCH_DIR, say
from bench.harness.profile import print_profile
from bench.harness.services import REDIS_PREFIX
from bench.harness.session import Session, open_session, run_main
from bench.harness.wrk import Measurement
from bench.http_data import BENCH_OPENID_PREFIX, DataPlan

SCAN_LUA = BENCH_DIR / "scan_tokens.lua"
REDEEM_LUA = BENCH_DIR / "redeem_pairs.lua"
REDEEM_PAIRS = "redeem.txt"  # "<staff bearer>\t<credit code>\t<policy>\t<idempotency key>"
REDEEM_PATH = "/api/v1/scan/redeem"
REDEEM_TARGET = f"service POST {REDEEM_PATH}"
PAIRS = "pairs.txt"  # in the run's work directory: "<staff bearer>\t<credit code>" per line
VERIFY_PATH = "/api/v1/scan/verify"
VERIFY_TARGET = f"service POST {VERIFY_PATH}"
VENUE = "alxa-desert-park"
TARGETS = ("ceiling", "verify", "signature", "redeem", "offline")
QUICK = {
    "holders": 500, "redeem_holders": 1500, "records": 5000, "duration": 3.0, "warmup": 1.0,
}  # fmt: skip
# Goals from issue 16 (issue 5 had 0.35 and 30 ms), at 64 connections.
GOAL = report.Goal(ratio=0.50, p99_ms=20.0)
SIGNATURE_GOAL = report.Goal(ratio=0.20, p99_ms=60.0)
REDEEM_GOAL = report.Goal(ratio=0.25, p99_ms=50.0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = cli.bench_parser(
        "python -m bench.scan_bench",
        "POST /api/v1/scan/verify against a bare Sanic ceiling; offline verifier.",
        TARGETS,
        default_targets="ceiling,verify,offline",
    )
    parser.add_argument("--holders", type=int, default=2000, help="holders with a credit code")
    parser.add_argument("--staff", type=int, default=64, help="staff users scanning")
    parser.add_argument(
        "--redeem-holders", type=int, default=10000,
        help="holders with a code before each redeem run: their eligible (code, policy) pairs "
        "must outnumber the run's requests, or the rest are 409s",
    )  # fmt: skip
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument(
        "--subjects", type=int, default=0, help="subjects (default: twice the users)"
    )
    parser.add_argument("--offline-seconds", type=float, default=3.0)
    parser.add_argument(
        "--py-spy", default=None, help="a py-spy binary: profile an extra verify run (not counted)"
    )
    parser.add_argument("--quick", action="store_true", help="500 holders, 3 s runs")
    parser.add_argument(
        "--no-analyze", action="store_true", help="leave audit_entry unanalysed (a fresh table)"
    )
    return cli.parse(parser, argv, TARGETS, QUICK)


async def run(args: argparse.Namespace) -> int:
    async with open_session("scan", args, workdir_prefix="alxa-scan-bench-") as s:
        scans = await _prepare(s)
        await s.measure_ceiling(s.write_lines("tokens.txt", [*scans.holders, *scans.staff]))
        if "verify" in args.targets:
            await _measure_verify(scans)
            if args.py_spy:
                await _profile_verify(scans)
        if "signature" in args.targets:
            await _measure_signature(scans)
        if "redeem" in args.targets:
            await _measure_redeem(scans)
        if "offline" in args.targets:
            await _offline(s, scans)
        exit_code = s.report(_goals)
    s.write_result()
    return exit_code


@dataclass
class Scans:
    """The holders and staff of a run, and the (staff, code) pairs wrk's scan script sends."""

    s: Session
    db: Database
    holders: list[str]
    staff: list[str]
    redeem_holders: list[str] = field(default_factory=list)
    redeem_staff: list[str] = field(default_factory=list)  # staff of every holder policy's venue
    codes: list[str] = field(default_factory=list)  # the latest, one per holder

    @property
    def url(self) -> str:
        return f"{self.s.base}{VERIFY_PATH}"

    @property
    def pairs_file(self) -> Path:
        return self.s.workdir / PAIRS

    async def fresh_codes(self) -> None:
        """New codes before every run: they live 60 s."""
        await settle(self.s.redis)
        self.codes = [answer["token"] for answer in await issue_codes(self.s.base, self.holders)]
        self.s.write_lines(PAIRS, pairs(self.staff, self.codes))
        await settle(self.s.redis)
        if self.s.args.no_analyze:
            return
        # Earlier, a fresh database that had never analysed audit_entry had the drain's
        # "last entry" query read the whole table per batch; the look-up is now bounded by
        # the primary key (infra/audit.py), and --no-analyze checks that it stays cheap.
        # Analysed as a running deployment's table would be, so runs compare with earlier.
        async with self.db.connect() as conn:
            await conn.execute("ANALYZE audit_entry")


async def _prepare(s: Session) -> Scans:
    """Holders and staff in a fresh database, the service started, everyone logged in."""
    args = s.args
    redeem = "redeem" in args.targets
    holders = max(args.holders, args.redeem_holders if redeem else 0)
    users = holders + args.staff * (2 if redeem else 1)
    subjects = args.subjects or users * 2
    plan = DataPlan(subjects=subjects, records=args.records, users=users)
    db, _ = await s.fresh_database("alxa_bench_scan_", plan, signing_kid="scan1")
    staff_first = holders + 1
    await make_staff(db, staff_first, args.staff)
    say(f"  users {staff_first}..{holders + args.staff} ({BENCH_OPENID_PREFIX}N) staff of {VENUE}")
    if redeem:
        venues = person_policy_venues(s.workdir / "config")
        await make_staff(db, staff_first + args.staff, args.staff, venues)
        say(f"  users {staff_first + args.staff}..{users} staff of {', '.join(venues)} (redeem)")
    await s.start_service()
    say(f"logging in {plan.users:,} users")
    tokens = await login_all(s.base, plan.users)
    staff_end = holders + args.staff
    return Scans(
        s, db, tokens[: args.holders], tokens[holders:staff_end],
        redeem_holders=tokens[: args.redeem_holders] if redeem else [],
        redeem_staff=tokens[staff_end:],
    )  # fmt: skip


def person_policy_venues(config_dir: Path) -> tuple[str, ...]:
    """The venues of every policy a person may hold (config/programmes.toml), in order."""
    programmes = tomllib.loads((config_dir / "programmes.toml").read_text())
    venues = [p["venue"] for p in programmes["policies"] if "person" in p["subject_kinds"]]
    return tuple(dict.fromkeys(venues))


async def make_staff(
    db: Database, first_user: int, count: int, venues: tuple[str, ...] = (VENUE,)
) -> None:
    ids = list(range(first_user, first_user + count))
    async with db.connect() as conn:
        await conn.execute(
            """UPDATE app_user SET roles = '["citizen", "venue_staff"]' WHERE id = ANY($1)""", ids
        )
        await conn.executemany(
            "INSERT INTO staff_assignment (user_id, venue_id, created_at) VALUES ($1, $2, now())",
            [(i, venue) for i in ids for venue in venues],
        )


async def issue_codes(base: str, holders: list[str]) -> list[dict[str, Any]]:
    """GET /me/credit-code of each holder: the answers (token, eligible policies, ...)."""
    codes: list[dict[str, Any]] = [{}] * len(holders)

    async def one(client: httpx.AsyncClient, n: int) -> None:
        response = await client.get("/api/v1/me/credit-code", headers=bearer(holders[n]))
        if response.status_code != 200:
            raise RuntimeError(f"credit code {n}: {response.status_code} {response.text}")
        codes[n] = response.json()

    seconds = await call_each(base, len(holders), one, "codes", concurrency=16)
    say(f"  {len(codes):,} credit codes in {seconds:.1f} s")
    return codes


def pairs(staff: list[str], codes: list[str]) -> list[str]:
    return [f"{staff[n % len(staff)]}\t{code}" for n, code in enumerate(codes)]


async def check_one(base: str, staff: str, code: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        response = await client.post(VERIFY_PATH, headers=bearer(staff), json={"token": code})
    if response.status_code != 200:
        raise RuntimeError(f"verify: {response.status_code} {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


async def _measure_verify(scans: Scans) -> None:
    s = scans.s
    await scans.fresh_codes()
    sample = await check_one(s.base, scans.staff[0], scans.codes[0])  # the first pair
    s.result["sample_verify"] = sample
    say(f"  sample answer: {json.dumps(sample, ensure_ascii=False)[:160]}")
    await s.measure(
        "verify", VERIFY_TARGET, scans.url, scans.pairs_file, script=SCAN_LUA, warm=True,
        before_each=scans.fresh_codes, goal=GOAL,
    )  # fmt: skip


async def _profile_verify(scans: Scans) -> None:
    await scans.fresh_codes()
    profile = await scans.s.profile("verify", scans.url, scans.pairs_file, SCAN_LUA)
    scans.s.result["profile"] = profile
    print_profile(f"profile of POST {VERIFY_PATH}", profile, lines=40)


async def _measure_signature(scans: Scans) -> None:
    """Every issuance record deleted before each run: each verify checks the signature."""

    async def without_records() -> None:
        await scans.fresh_codes()
        gone = await redis_delete(scans.s.redis, REDIS_PREFIX + project.CREDIT_CODE_RECORDS)
        say(f"    {gone:,} issuance records deleted: every verify checks the signature")

    await scans.s.measure(
        "signature", f"{VERIFY_TARGET} (signature path)", scans.url, scans.pairs_file,
        script=SCAN_LUA, warm=False, before_each=without_records, goal=SIGNATURE_GOAL,
    )  # fmt: skip


async def _measure_redeem(scans: Scans) -> None:
    """Before each run a new day, as far as the limits go (the run's redemptions deleted, the
    quota counters and today's-use cache emptied) and a new code per holder; every line of the
    pairs file is one eligible (code, policy) of a holder, so each request redeems something
    fresh. After each run the redemptions stored are compared with the 2xx answers."""
    s, runs = scans.s, 0

    async def fresh_day() -> None:
        nonlocal runs
        runs += 1
        await settle(s.redis)
        async with scans.db.connect() as conn:
            await conn.execute("DELETE FROM redemption")
            await conn.execute("UPDATE policy_counter SET used = 0")
        await redis_delete(s.redis, REDIS_PREFIX + project.INCENTIVE_USED)
        answers = await issue_codes(s.base, scans.redeem_holders)
        lines = redeem_lines(scans.redeem_staff, answers, f"r{runs}")
        s.write_lines(REDEEM_PAIRS, lines)
        say(f"    {len(lines):,} fresh (code, policy) pairs of {len(answers):,} holders")
        await settle(s.redis)

    async def count_stored(m: Measurement) -> None:
        # wrk stops with up to one request per connection unanswered; the service still
        # finishes those: count once the table stops growing.
        async with scans.db.connect() as conn:
            stored, previous = -1, -2
            while stored != previous:
                previous = stored
                await asyncio.sleep(1.0)
                stored = int(await conn.fetchval("SELECT count(*) FROM redemption"))
        answered_2xx = m.requests - m.non_2xx_3xx - m.socket_errors
        unanswered = stored - answered_2xx  # stored without a 201 wrk read
        consistent = 0 <= unanswered <= s.args.connections
        m.notes |= {
            "redemptions_stored": stored, "answers_2xx": answered_2xx,
            "stored_unanswered_at_end": unanswered, "stored_matches_2xx": consistent,
            "non_2xx_share": round(m.non_2xx_3xx / max(1, m.requests), 4),
        }  # fmt: skip
        say(
            f"    redemptions stored {stored:,} = 2xx (201) answers {answered_2xx:,} + "
            f"{unanswered:,} in flight when wrk stopped (≤ {s.args.connections} connections: "
            f"{'yes' if consistent else 'NO'}); non-2xx {m.non_2xx_3xx:,} of {m.requests:,} "
            f"({m.notes['non_2xx_share']:.1%})"
        )

    await fresh_day()  # the warm-up's pairs
    url = f"{s.base}{REDEEM_PATH}"
    sample = await redeem_one(s.base, (s.workdir / REDEEM_PAIRS).read_text().splitlines()[0])
    s.result["sample_redeem"] = sample
    say(f"  sample answer: {json.dumps(sample, ensure_ascii=False)[:160]}")
    await s.measure(
        "redeem", REDEEM_TARGET, url, s.workdir / REDEEM_PAIRS, script=REDEEM_LUA, warm=True,
        before_each=fresh_day, after_each=count_stored, goal=REDEEM_GOAL,
    )  # fmt: skip


def redeem_lines(staff: list[str], answers: list[dict[str, Any]], run: str) -> list[str]:
    """One line per (code, eligible policy), the holders' pairs interleaved by policy, each with
    the next staff token and an idempotency key of its own."""
    pairs_ = [
        (answer["token"], policy)
        for rank in range(max((len(a["eligible"]) for a in answers), default=0))
        for answer in answers
        if rank < len(answer["eligible"])
        for policy in (answer["eligible"][rank],)
    ]
    return [
        f"{staff[n % len(staff)]}\t{token}\t{policy}\t{run}-{n}"
        for n, (token, policy) in enumerate(pairs_)
    ]


async def redeem_one(base: str, line: str) -> dict[str, Any]:
    """The first pair by hand, before the warm-up: a 201 and its answer, kept in the result."""
    staff, token, policy, key = line.split("\t")
    body = {"token": token, "policy_id": policy, "idempotency_key": f"{key}-sample"}
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        response = await client.post(REDEEM_PATH, headers=bearer(staff), json=body)
    if response.status_code != 201:
        raise RuntimeError(f"redeem: {response.status_code} {response.text}")
    answer: dict[str, Any] = response.json()
    return answer


async def _offline(s: Session, scans: Scans) -> None:
    async with httpx.AsyncClient(base_url=s.base, timeout=10.0) as client:
        bundle = (
            await client.get(
                f"/api/v1/venues/{VENUE}/offline-bundle", headers=bearer(scans.staff[0])
            )
        ).json()
    codes = [answer["token"] for answer in await issue_codes(s.base, scans.holders[:200])]
    rate = offline_rate(bundle, codes, s.args.offline_seconds)
    s.result["offline_verifier"] = rate
    say(
        f"  reference offline verifier: {rate['per_second']:,} verifications/s "
        f"({rate['us_each']} µs each, one core)"
    )


def offline_rate(bundle: dict[str, Any], codes: list[str], seconds: float) -> dict[str, Any]:
    """Verifications per second of qr/offline_verifier.py on one core (parse, Ed25519, expiry,
    revocations, policies), as a staff device would run it."""
    verifier = project.OfflineVerifier(bundle)
    now = time.time()
    rates = []
    for _ in range(3):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 3:
            for code in codes[:200]:
                verifier.verify(code, now=now)
            done += min(200, len(codes))
        rates.append(done / (time.perf_counter() - started))
    best = max(rates)
    runs = [round(r) for r in rates]
    return {"per_second": round(best), "us_each": round(1e6 / best, 1), "runs": runs}


def _goals(s: Session) -> None:
    s.result["goals"] = s.say_goals()
    verify = next((m for m in s.results if m.target == VERIFY_TARGET), None)
    by_cpu = report.cpu_ratio(s.ceiling, verify) if verify and s.ceiling else None
    if by_cpu:
        s.result["goals"][VERIFY_TARGET]["ratio_by_cpu_per_request"] = round(by_cpu, 3)
        say(f"  (/scan/verify from server CPU per request: {by_cpu:.0%})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_main(partial(run, args))


if __name__ == "__main__":
    sys.exit(main())
