"""What a run prints and keeps: the table, the goals, the failed targets, the JSON result."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.harness.processes import say
from bench.harness.wrk import Measurement

MAX_ERROR_SHARE = 0.001


def options(args: argparse.Namespace, leave_out: Collection[str] = ()) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in leave_out
    }


def print_table(results: list[Measurement]) -> None:
    header = (
        f"{'target':<38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs ceiling':>10}"
        f" {'server CPU/req':>15}"
    )
    say("\n" + header + "\n" + "-" * len(header))
    for m in results:
        ratio = f"{m.ratio_to_ceiling:.0%}" if m.ratio_to_ceiling is not None else "—"
        per_request = m.server_cpu_us_per_request
        cost = f"{per_request:,.0f} µs" if per_request else "—"
        say(
            f"{m.target:<38} {m.rps:>9,.0f} {m.p50_ms:>8.1f} {m.p99_ms:>8.1f} {ratio:>10}"
            f" {cost:>15}"
        )


def rows(results: list[Measurement]) -> list[dict[str, Any]]:
    return [asdict(m) | {"server_cpu_us_per_request": m.server_cpu_us_per_request} for m in results]


def failures(results: list[Measurement]) -> list[Measurement]:
    """The targets with too many errors (printed): they fail the run."""
    bad = [m for m in results if m.error_share > MAX_ERROR_SHARE]
    for m in bad:
        say(
            f"\nFAILED: {m.target}: {m.non_2xx_3xx} non-2xx/3xx and {m.socket_errors} socket "
            f"errors in {m.requests} requests (more than {MAX_ERROR_SHARE:.1%})"
        )
    return bad


def cpu_ratio(ceiling: Measurement, m: Measurement) -> float | None:
    """The share of the ceiling from server CPU per request (ceiling ÷ target): what the target
    would reach with the cores to itself, robust when other jobs share the machine."""
    ceiling_us, target_us = ceiling.server_cpu_us_per_request, m.server_cpu_us_per_request
    return ceiling_us / target_us if ceiling_us and target_us else None


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass(frozen=True)
class Goal:
    """An issue's goal for a target: req/s as a share of the ceiling's, and p99 (None: the issue
    sets none). Issue 16's goals are the ones in force; each bench names them beside its
    targets, and `Session.measure(goal=...)` keeps the verdict with the measurement."""

    ratio: float
    p99_ms: float | None = None

    def met(self, ratio: float, p99_ms: float) -> bool:
        return ratio >= self.ratio and (self.p99_ms is None or p99_ms <= self.p99_ms)

    def text(self) -> str:
        p99 = f", p99 ≤ {self.p99_ms:.0f} ms" if self.p99_ms is not None else ""
        return f"≥ {self.ratio:.2f}{p99}"

    def verdict(self, ratio: float, p99_ms: float) -> dict[str, Any]:
        return {
            "goal": self.text(), "goal_ratio": self.ratio, "goal_p99_ms": self.p99_ms,
            "ratio": round(ratio, 3), "ratio_met": ratio >= self.ratio,
            "p99_ms": p99_ms, "p99_met": self.p99_ms is None or p99_ms <= self.p99_ms,
            "met": self.met(ratio, p99_ms),
        }  # fmt: skip

    def line(self, what: str, ratio: float, p99_ms: float, connections: int | None = None) -> str:
        at = f" at {connections} connections" if connections is not None else ""
        p99 = (
            f"; p99 ≤ {self.p99_ms:.0f} ms{at}: {p99_ms:.1f} ms → {met(p99_ms <= self.p99_ms)}"
            if self.p99_ms is not None
            else ""
        )
        return (
            f"goal {what} ≥ {self.ratio:.0%} of the ceiling: {ratio:.0%} → "
            f"{met(ratio >= self.ratio)}{p99}"
        )


# Issue 16: every read page added by the newer issues (the report verification page, the public
# lists, the console queues) at 0.40 of the ceiling or more; no p99 is set for them.
READ_GOAL = Goal(ratio=0.40)
