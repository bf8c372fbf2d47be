"""`python -m bench <name> [options]`: dispatch to one benchmark (each has its own --help)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable

USAGE = """usage: python -m bench <benchmark> [options]

benchmarks:
  all      issue 16's whole table: http, scan, plate, report and import, one summary
  http     HTTP throughput and latency of the service against a bare Sanic ceiling
  import   speed of importing league platform files
  peak     a peak morning's mixed load, with Redis and a worker killed part-way
  plate    merchant plate scans (API and /m/), posters
  report   credit reports: generation cold and cached, the loop while 10 render, verification
  scan     the staff scan: verify, the signature path, redeem; the offline verifier

`python -m bench <benchmark> --help` shows the options of one benchmark."""


def _all_main() -> Callable[..., int]:
    from bench.all_bench import main

    return main


def _http_main() -> Callable[..., int]:
    from bench.http_bench import main

    return main


def _import_main() -> Callable[..., int]:
    # Written separately (bench/import_bench.py, with its own main(argv)); imported lazily so the
    # other benchmarks work even while it is absent.
    from bench.import_bench import main

    return main


def _peak_main() -> Callable[..., int]:
    from bench.peak_bench import main

    return main


def _plate_main() -> Callable[..., int]:
    from bench.plate_bench import main

    return main


def _report_main() -> Callable[..., int]:
    from bench.report_bench import main

    return main


def _scan_main() -> Callable[..., int]:
    from bench.scan_bench import main

    return main


BENCHMARKS: dict[str, Callable[[], Callable[..., int]]] = {
    "all": _all_main,
    "http": _http_main,
    "import": _import_main,
    "peak": _peak_main,
    "plate": _plate_main,
    "report": _report_main,
    "scan": _scan_main,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        entry = BENCHMARKS[name]()
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.{name}_bench":
            raise
        print(f"benchmark {name!r} is not available yet ({exc.name} is missing)", file=sys.stderr)
        return 2
    return int(_call(entry, name, rest) or 0)


def _call(entry: Callable[..., int | None], name: str, rest: list[str]) -> int | None:
    """main(argv) as agreed; a main() without parameters reads sys.argv, so set it for that."""
    try:
        takes_argv = bool(inspect.signature(entry).parameters)
    except (TypeError, ValueError):
        takes_argv = True
    if takes_argv:
        return entry(rest)
    sys.argv = [f"python -m bench {name}", *rest]
    return entry()


if __name__ == "__main__":
    sys.exit(main())
