"""py-spy over the service's processes while wrk runs, summarised as where the time goes."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.harness.processes import say

# Frames every sample of a Sanic worker shares: left out of the ranking, they only say "busy".
TRUNK_FRAMES = {
    "<module> (<string>)", "spawn_main (multiprocessing/spawn.py)",
    "_main (multiprocessing/spawn.py)", "BaseProcess._bootstrap (multiprocessing/process.py)",
    "BaseProcess.run (multiprocessing/process.py)", "worker_serve (sanic/worker/serve.py)",
    "_serve_http_1 (sanic/server/runners.py)",
}  # fmt: skip


def summarise_folded(path: Path, top: int = 30) -> dict[str, Any]:
    """From py-spy's raw (folded) output: samples, the frames with the most inclusive and self
    time, and self time by top-level package (percent of all samples)."""
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    package: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        line = re.sub(r'process \d+:"[^"]*";?', "", line)  # command lines may hold ';'
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += count
        for frame in set(frames) - TRUNK_FRAMES:
            inclusive[frame] += count
        own[frames[-1]] += count
        where = re.search(r"\(([^)]*)\)$", frames[-1])
        package[where.group(1).split("/")[0] if where else frames[-1]] += count

    def ranked(table: dict[str, int], limit: int = top) -> list[tuple[str, float]]:
        best = sorted(table.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [(frame, round(100 * count / max(1, total), 1)) for frame, count in best]

    return {
        "samples": total,
        "inclusive_percent": ranked(inclusive),
        "self_percent": ranked(own),
        "self_by_package_percent": ranked(package, 15),
    }


class PySpy:
    """py-spy recording every process under `pid` (the Sanic workers too), on-CPU samples only."""

    RATE = 250

    def __init__(self, binary: str, pid: int, out_path: Path) -> None:
        self.binary, self.pid, self.out_path = binary, pid, out_path
        self.proc: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.open_ended = True
        self.seconds: float | None = None

    async def start(self, seconds: float | None = None) -> None:
        limit = ["--duration", str(max(1, round(seconds)))] if seconds else []
        self.open_ended = not seconds
        self.seconds = seconds
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "record", "--pid", str(self.pid), "--subprocesses", "--nonblocking",
            "--rate", str(self.RATE), "--format", "raw", "-o", str(self.out_path), *limit,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.started = time.monotonic()
        await asyncio.sleep(1.0)  # let it attach to every process before the load starts

    async def stop(self, workers: int) -> dict[str, Any]:
        """Ends the recording (waits for a timed one) and returns the summary, with busy_share =
        on-CPU samples / (rate x seconds x workers)."""
        assert self.proc is not None
        seconds = time.monotonic() - self.started
        if self.seconds:
            seconds = min(seconds, max(1, round(self.seconds)))
        if self.proc.returncode is None and self.open_ended:
            self.proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(self.proc.communicate(), 120)
        if not self.out_path.exists():
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-2000:]}")
        summary = summarise_folded(self.out_path)
        summary["busy_share"] = round(summary["samples"] / (self.RATE * seconds * workers), 2)
        summary["folded"] = str(self.out_path)
        return summary


def print_profile(title: str, summary: dict[str, Any], lines: int = 18) -> None:
    say(f"\n{title}: {summary['samples']} on-CPU samples, workers busy {summary['busy_share']:.0%}")
    say("  inclusive (percent of on-CPU samples):")
    for frame, percent in summary["inclusive_percent"][:lines]:
        say(f"    {percent:5.1f}%  {frame}")
    say("  self time by package: " + ", ".join(
        f"{name} {percent:.0f}%" for name, percent in summary["self_by_package_percent"][:8]
    ))  # fmt: skip
