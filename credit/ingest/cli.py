"""Command-line wiring for `python -m server import <kind> <file>` (server/__main__.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from credit.ingest.importer import ImportSummary, import_file
from credit.ingest.mapping import KINDS

if TYPE_CHECKING:
    from infra.runtime import Runtime


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("须为正整数")
    return number


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """The import command's arguments: kind and file, rejects file, progress and batch size."""
    parser.add_argument(
        "kind",
        choices=KINDS,
        help=(
            "文件类型：penalties 行政处罚，licences 行政许可，lists 红黑名单，honours 荣誉称号，"
            "integrity 政务失信"
        ),
    )
    parser.add_argument("file", type=Path, help="盟公共信用信息平台导出的 CSV 文件")
    parser.add_argument(
        "--rejects",
        type=Path,
        default=None,
        help="拒收行写入的 CSV 文件（默认：与输入文件同目录的 <文件名>.rejects.csv）",
    )
    parser.add_argument("--no-progress", action="store_true", help="不显示进度条")
    parser.add_argument(
        "--batch-size", type=_positive, default=2000, help="每批写入的行数（默认 2000）"
    )


async def run_import(args: argparse.Namespace, runtime: Runtime) -> ImportSummary:
    """Run the import the parsed arguments describe on a started Runtime."""
    return await import_file(
        args.kind,
        args.file,
        cipher=runtime.cipher,
        redis=runtime.redis,
        keys=runtime.keys,
        rejects_path=args.rejects,
        progress=not args.no_progress,
        batch_size=args.batch_size,
    )
