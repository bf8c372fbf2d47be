"""Where the machine's CPU went during a run, from /proc (Linux): the process tree under test,
Redis, PostgreSQL, and the rest (wrk, this script, anything else) as the difference."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
NAMED_GROUPS = {"redis": ("redis-server",), "postgres": ("postgres",)}


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: the fields after it start past the last ')'.
    return text[text.rfind(")") + 2 :].split()


def _all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def _comm(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields:
            children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle, all cores together."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICKS


@dataclass
class CpuSnapshot:
    groups: dict[str, float]
    machine: float
    per_process: dict[int, tuple[str, float]]  # pid -> (name, CPU seconds)


def snapshot(roots: dict[str, int]) -> CpuSnapshot:
    """CPU seconds so far of each named process tree, of Redis and PostgreSQL, and of the box."""
    groups = {name: cpu_seconds(tree(pid)) for name, pid in roots.items()}
    by_name: dict[str, list[int]] = {}
    per_process: dict[int, tuple[str, float]] = {}
    grouped = {pid for root in roots.values() for pid in tree(root)}
    for pid in _all_pids():
        comm = _comm(pid)
        by_name.setdefault(comm, []).append(pid)
        if pid not in grouped and not any(comm in c for c in NAMED_GROUPS.values()):
            per_process[pid] = (comm, cpu_seconds([pid]))
    for name, comms in NAMED_GROUPS.items():
        groups[name] = cpu_seconds([pid for comm in comms for pid in by_name.get(comm, [])])
    return CpuSnapshot(groups, machine_busy_seconds(), per_process)


def cores_used(
    before: CpuSnapshot, after: CpuSnapshot, seconds: float, known: dict[str, float] | None = None
) -> dict[str, float]:
    """Average cores busy per group between two snapshots, plus `known` ones measured elsewhere
    (wrk); "other" is the rest: other processes, short-lived ones that ended in between, and
    kernel time not charged to a process (part of the loopback network work)."""
    used = {
        name: round((after.groups[name] - before.groups.get(name, 0.0)) / seconds, 2)
        for name in after.groups
    }
    used.update(known or {})
    total = round((after.machine - before.machine) / seconds, 2)
    used["other"] = round(max(0.0, total - sum(used.values())), 2)
    used["total"] = total
    return used


def top_others(before: CpuSnapshot, after: CpuSnapshot, seconds: float) -> dict[str, float]:
    """The busiest other processes by name (cores), e.g. wrk, or someone else's test run."""
    used: dict[str, float] = {}
    for pid, (name, spent) in after.per_process.items():
        # By pid: a kernel worker's name changes with the work it picks up.
        delta = spent - before.per_process.get(pid, (name, 0.0))[1]
        if delta > 0:
            used[name] = used.get(name, 0.0) + delta / seconds
    best = sorted(used.items(), key=lambda item: item[1], reverse=True)[:4]
    return {name: round(cores, 2) for name, cores in best if cores >= 0.02}


def interfering(others: dict[str, float], threshold: float = 0.15) -> dict[str, float]:
    """Other processes (not kernel threads) that took a noticeable share of the machine."""
    return {
        name: cores
        for name, cores in others.items()
        if cores >= threshold and not name.startswith(("kworker", "ksoftirqd"))
    }


async def wait_quiet(limit_cores: float = 0.3, within: float = 120.0) -> float:
    """Wait (up to `within` seconds) until the machine is nearly idle over a 2-second window, so
    someone else's job does not share the cores with the run; returns the last busy cores."""
    import asyncio
    import time

    deadline = time.monotonic() + within
    while True:
        before = machine_busy_seconds()
        await asyncio.sleep(2.0)
        busy = (machine_busy_seconds() - before) / 2.0
        if busy <= limit_cores or time.monotonic() >= deadline:
            return round(busy, 2)
