"""The options every bench takes: the load wrk puts on a target, and where the run's data goes."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.harness.processes import OUT_DIR


def bench_parser(
    prog: str,
    description: str,
    targets: Sequence[str],
    *,
    default_targets: str | None = None,
    warmup: float = 2.0,
    quiet_wait: float = 60.0,
) -> argparse.ArgumentParser:
    """A bench's parser with the options every bench takes (--targets: all by default)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    _add_run_options(parser, targets, default_targets or ",".join(targets), warmup, quiet_wait)
    return parser


def _add_run_options(
    parser: argparse.ArgumentParser,
    targets: Sequence[str],
    default_targets: str,
    warmup: float,
    quiet_wait: float,
) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="Sanic workers for the service and the ceiling (default: cores)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument(
        "--warmup", type=float, default=warmup, help="seconds of warm-up per target"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measured runs per target, the best counts (on a shared machine: 3)",
    )
    parser.add_argument(
        "--targets",
        default=default_targets,
        help=f"comma-separated subset of {','.join(targets)}",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=quiet_wait,
        help="before each run, wait up to this many seconds for the machine to be idle (0: never)",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=9,
        help="Redis database number (not 0); FLUSHDB'd before and after",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the JSON result goes")


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse(
    parser: argparse.ArgumentParser,
    argv: list[str],
    targets: Sequence[str],
    quick: Mapping[str, Any],
) -> argparse.Namespace:
    """The options, with `quick`'s values under --quick and --targets as a list; exits with the
    usage on what cannot run."""
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    args.targets = comma_list(args.targets)
    unknown = set(args.targets) - set(targets)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.redis_db == 0:
        parser.error("--redis-db must not be 0 (it is flushed)")
    if min(args.workers, args.connections, args.threads, args.repeat) < 1:
        parser.error("--workers, --connections, --threads and --repeat must be positive")
    return args
