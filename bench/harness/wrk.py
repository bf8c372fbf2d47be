"""wrk runs and what one measured run says: requests, latency, and where the CPU went."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness import cpu
from bench.harness.processes import BENCH_DIR, say

# Every request with the next bearer token of a file; also what the ceiling is measured with.
TOKENS_LUA = BENCH_DIR / "rotate_tokens.lua"
# Every request a GET of the next path of a file (optionally with a header: a session cookie).
PATHS_LUA = BENCH_DIR / "plate_paths.lua"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk is not installed: installing it with apt-get (apt-get update; apt-get install -y wrk)")
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"could not install wrk ({exc}); install it and run again") from exc
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk still not found after apt-get install")
    return found


def versions(wrk_bin: str | None) -> dict[str, Any]:
    """Python, wrk, and the installed version of every dependency pyproject.toml pins (the
    service's and the benches' packages), so a result says what it measured."""
    found: dict[str, Any] = {"python": platform.python_version(), "packages": package_versions()}
    if wrk_bin:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            head = subprocess.run(
                [wrk_bin, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
            found["wrk"] = head.split(" [")[0].strip()
    return found


def package_versions() -> dict[str, str]:
    pyproject = tomllib.loads((BENCH_DIR.parent / "pyproject.toml").read_text())
    found: dict[str, str] = {}
    for requirement in pyproject["project"]["dependencies"]:
        name = re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0]
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, Any]:
    """The machine a result was measured on: its cores (the ratios depend on them)."""
    return {"cores": os.cpu_count(), "platform": platform.platform()}


@dataclass(frozen=True)
class Load:
    """The load every measured run puts on a target (the bench's options)."""

    threads: int
    connections: int
    duration: float
    warmup: float
    repeat: int
    quiet_wait: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Load:
        return cls(
            args.threads, args.connections, args.duration, args.warmup, args.repeat,
            args.quiet_wait,
        )  # fmt: skip


@dataclass
class Measurement:
    target: str
    url: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    non_2xx_3xx: int
    socket_errors: int
    ratio_to_ceiling: float | None = None
    # Average cores busy during the measured run: the server under test, Redis, PostgreSQL, the
    # rest (wrk, ...) and the whole machine.
    cpu_cores: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wrk(cls, name: str, url: str, stats: dict[str, Any]) -> Measurement:
        seconds = stats["duration_us"] / 1e6
        return cls(
            target=name,
            url=url,
            requests=stats["requests"],
            seconds=round(seconds, 3),
            rps=round(stats["requests"] / seconds, 1),
            p50_ms=stats["p50_us"] / 1000,
            p90_ms=stats["p90_us"] / 1000,
            p99_ms=stats["p99_us"] / 1000,
            p999_ms=stats["p999_us"] / 1000,
            max_ms=stats["latency_max_us"] / 1000,
            non_2xx_3xx=stats["status_errors"],
            socket_errors=stats["connect_errors"] + stats["read_errors"] + stats["write_errors"]
            + stats["timeouts"],
        )  # fmt: skip

    @property
    def server_cpu_us_per_request(self) -> float | None:
        """CPU time the server under test spent per request: unlike req/s, it hardly moves when
        something else shares the machine, so it compares runs on a busy box."""
        cores = self.cpu_cores.get("server")
        return round(cores * 1e6 / self.rps, 1) if cores and self.rps else None

    @property
    def error_share(self) -> float:
        return (self.non_2xx_3xx + self.socket_errors) / max(1, self.requests)


Hook = Callable[[], Awaitable[Any]]
AfterHook = Callable[[Measurement], Awaitable[Any]]


@dataclass(frozen=True)
class Wrk:
    binary: str
    load: Load

    async def run(
        self, url: str, script: Path, data_file: Path, seconds: float
    ) -> tuple[dict[str, Any], str]:
        """One wrk run; `script` (bench/*.lua) makes the requests from `data_file`'s lines."""
        load = self.load
        cmd = [
            self.binary, f"-t{load.threads}", f"-c{load.connections}",
            f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s", "-s", str(script),
            url, "--", str(data_file), str(load.threads),
        ]  # fmt: skip
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )

        async def wrk_cores() -> float:
            # wrk's own CPU, read just before it ends (afterwards /proc no longer has it).
            await asyncio.sleep(max(0.5, round(seconds) - 0.4))
            return cpu.cpu_seconds([proc.pid]) / (time.monotonic() - started)

        try:
            (out, _), cores = await asyncio.wait_for(
                asyncio.gather(proc.communicate(), wrk_cores()), seconds + 60
            )
        except TimeoutError:
            proc.kill()
            raise RuntimeError(f"wrk did not finish: {' '.join(cmd)}") from None
        text = out.decode(errors="replace")
        match = re.search(r"^BENCH_JSON (\{.*\})$", text, re.MULTILINE)
        if proc.returncode != 0 or match is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
        return json.loads(match.group(1)) | {"wrk_cores": round(cores, 2)}, text

    async def measure(
        self,
        name: str,
        url: str,
        script: Path,
        data_file: Path,
        *,
        warm: bool,
        server_pid: int,
        before_each: Hook | None = None,
        after_each: AfterHook | None = None,
    ) -> tuple[Measurement, str]:
        """--repeat measured runs (the warm-up only before the first); the best by req/s counts,
        the others are kept in notes["runs"]. The hooks run around every measured run."""
        if self.load.quiet_wait > 0:
            busy = await cpu.wait_quiet(within=self.load.quiet_wait)
            if busy > 0.3:
                say(f"  WARNING: the machine is busy ({busy:.2f} cores) before {name}; going on")
        if warm and self.load.warmup > 0:
            await self.run(url, script, data_file, self.load.warmup)
        runs: list[tuple[Measurement, str]] = []
        for _ in range(self.load.repeat):
            if before_each is not None:
                await before_each()
            runs.append(await self._measure_once(name, url, script, data_file, server_pid))
            if after_each is not None:
                await after_each(runs[-1][0])
        best, text = max(runs, key=lambda run: run[0].rps)
        if len(runs) > 1:
            best.notes["runs"] = [
                {"rps": m.rps, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "cpu_cores": m.cpu_cores}
                for m, _ in runs
            ]
            say(f"    best of {len(runs)}: {best.rps:,.0f} req/s")
        return best, text

    async def _measure_once(
        self, name: str, url: str, script: Path, data_file: Path, server_pid: int
    ) -> tuple[Measurement, str]:
        before = cpu.snapshot({"server": server_pid})
        stats, text = await self.run(url, script, data_file, self.load.duration)
        after = cpu.snapshot({"server": server_pid})
        measurement = Measurement.from_wrk(name, url, stats)
        seconds = stats["duration_us"] / 1e6
        cores = cpu.cores_used(before, after, seconds, known={"wrk": stats["wrk_cores"]})
        others = cpu.top_others(before, after, seconds)
        measurement.cpu_cores = cores
        measurement.notes = {"busiest_other_processes": others}
        say(
            f"  {name}: {measurement.rps:,.0f} req/s, p50 {measurement.p50_ms:.1f} ms, "
            f"p99 {measurement.p99_ms:.1f} ms, non-2xx {measurement.non_2xx_3xx}, "
            f"socket errors {measurement.socket_errors}"
        )
        _say_cores(cores, others)
        noisy = cpu.interfering(others)
        if noisy or cores["other"] > 0.4:
            measurement.notes["interference"] = noisy or {"unattributed": cores["other"]}
            say(
                "    WARNING: something else took CPU during this run "
                f"({noisy or cores['other']}): numbers are low; see --repeat"
            )
        return measurement, text


def _say_cores(cores: dict[str, float], others: dict[str, float]) -> None:
    say(
        "    cores busy: "
        + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
        + " (other: "
        + (", ".join(f"{k} {v:.2f}" for k, v in others.items()) or "—")
        + ")"
    )
