"""`python -m server [serve|migrate|import|seed-demo|index-snapshot|report|audit|export|i18n|
fake-wechat]`; no command serves."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from infra.observability import configure_logging, prepare_multiprocess
from infra.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from infra.runtime import Runtime

T = TypeVar("T")
log = logging.getLogger("server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="信用阿拉善 backend")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the HTTP service (default)")
    commands.add_parser("migrate", help="apply database migrations and exit")
    commands.add_parser("seed-demo", help="load the demo users and data (development only)")
    importer = commands.add_parser("import", help="import a file from the league platform")
    from credit.ingest import add_import_arguments

    add_import_arguments(importer)
    commands.add_parser(
        "index-snapshot", help="take today's street credit index of every zone (run daily)"
    )
    report = commands.add_parser("report", help="write a month's 调度 figures as an XLSX workbook")
    report.add_argument("--month", required=True, help="YYYY-MM")
    report.add_argument("--region", help="6-digit region code (default: the whole league)")
    report.add_argument("--out", help="the workbook's path (default figures-<month>-<region>.xlsx)")
    audit = commands.add_parser("audit", help="the audit log")
    audit.add_argument("action", choices=["verify"], help="verify: check the hash chain")
    exporter = commands.add_parser(
        "export", help="export new decisions to the league platform (CSV, UTF-8 with BOM)"
    )
    exporter.add_argument("--since", required=True, help="decisions made from this day, YYYY-MM-DD")
    exporter.add_argument("--out", help="the CSV's path (default: standard output)")
    i18n = commands.add_parser(
        "i18n", help="Mongolian texts: check (CI) lists what is missing; update the catalogue"
    )
    i18n.add_argument("action", choices=["check", "update"], nargs="?", default="check")
    i18n.add_argument("--strict", action="store_true", help="missing or unreviewed: exit 1")
    fake = commands.add_parser("fake-wechat", help="run the fake WeChat API server standalone")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.command == "i18n":
        from server.i18n_tools import main as i18n_main

        return i18n_main([args.action, *(["--strict"] if args.strict else [])])
    if args.command == "fake-wechat":
        from infra.wechat.fake import main as fake_main

        fake_main(["--host", args.host, "--port", str(args.port)])
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.resolved_log_format)
    if args.command in (None, "serve"):
        return serve(settings)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    if args.command == "seed-demo":
        if settings.production:
            print("生产模式不加载演示数据", file=sys.stderr)
            return 2
        asyncio.run(_with_runtime(settings, _seed))
        return 0
    if args.command == "import":
        if not Path(args.file).is_file():
            print(f"找不到文件：{args.file}", file=sys.stderr)
            return 2
        return asyncio.run(_with_runtime(settings, partial(_import, args)))
    if args.command == "index-snapshot":
        return asyncio.run(_with_runtime(settings, _index_snapshot))
    if args.command in ("report", "audit", "export"):
        from infra.errors import ApiError

        work = {"report": _report, "audit": _audit_verify, "export": _export}[args.command]
        try:
            return asyncio.run(_with_runtime(settings, partial(work, args)))
        except ApiError as exc:  # bad --month, --since or --region: the same words as the API
            fields = "；".join(f"{k}：{v}" for k, v in (exc.fields or {}).items())
            print(f"{exc.message}{'（' + fields + '）' if fields else ''}", file=sys.stderr)
            return 2
    parser.error(f"unknown command {args.command}")
    return 2


async def _migrate(settings: Settings) -> None:
    from infra.db import close_database, open_database
    from server.schema import SCHEMA

    await open_database(settings.database_url, SCHEMA, apply_migrations=True)
    await close_database()


async def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    from infra.runtime import start_runtime, stop_runtime
    from server.schema import SCHEMA

    rt = await start_runtime(settings, SCHEMA)
    try:
        return await work(rt)
    finally:
        await stop_runtime(rt)


async def _seed(rt: Runtime) -> None:
    from server.demo import seed_demo

    await seed_demo(rt)


async def _index_snapshot(rt: Runtime) -> int:
    from scenarios.merchants.street_index import snapshot_all

    for zone_id, value in (await snapshot_all()).items():
        print(f"{zone_id}\t{value if value is not None else '无在营商户'}")
    return 0


async def _report(args: argparse.Namespace, rt: Runtime) -> int:
    from scenarios.figures.downloads import file_stem, workbook
    from scenarios.figures.monthly import monthly_figures, parse_scope

    month, region = parse_scope(args.month, args.region)
    figures = await monthly_figures(rt, month, region)
    out = Path(args.out or f"{file_stem(figures)}.xlsx")
    book = await asyncio.to_thread(workbook, figures)
    await asyncio.to_thread(out.write_bytes, book)
    print(f"{figures.month_text} {figures.scope_label}：{out}")
    return 0


async def _audit_verify(args: argparse.Namespace, rt: Runtime) -> int:
    """Exit code 1 when the chain is broken, naming the first broken link."""
    from credit.audit_review import verify_result

    result = await verify_result(rt)
    broken = result["first_broken"]
    if broken is None:
        print(f"审计日志完整：已校验 {result['checked']} 条（最后一条 {result['last_id']}）")
        return 0
    print(
        f"审计日志断链：第一处在第 {broken['id']} 条（{broken['at']}，"
        f"stream {broken['stream_id']}），{broken['reason_label']}；"
        f"此前 {result['checked']} 条完好",
        file=sys.stderr,
    )
    return 1


async def _export(args: argparse.Namespace, rt: Runtime) -> int:
    from credit.applications.export import batch_csv, export_new, parse_since

    batch = await export_new(rt, parse_since(args.since), user_id=None, channel="cli")
    data = await batch_csv(rt, batch)
    if args.out:
        await asyncio.to_thread(Path(args.out).write_bytes, data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    print(f"导出批次 {batch.id}：{batch.count} 条新决定", file=sys.stderr)
    return 0


async def _import(args: argparse.Namespace, rt: Runtime) -> int:
    from credit.ingest import ImportRefused, run_import

    try:
        summary = await run_import(args, rt)
    except ImportRefused as exc:
        print(f"导入被拒绝：{exc}", file=sys.stderr)
        return 2
    print(summary.as_text())
    return 0


def serve(settings: Settings) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from server.app import create_app

    if settings.uses_fakeredis and settings.workers > 1:
        print(
            "进程内缓存（fakeredis）只能单进程运行：请设 WORKERS=1，或配置 REDIS_URL",
            file=sys.stderr,
        )
        return 2
    # Migrate (and seed the demo) once here, before any worker starts, so workers never race.
    if settings.demo:
        asyncio.run(_with_runtime(settings, _seed))
    else:
        asyncio.run(_migrate(settings))
    if settings.workers > 1:  # the workers' metrics, added up by whichever one is scraped
        prepare_multiprocess(settings.path(settings.metrics_dir))
    loader = AppLoader(
        factory=partial(
            create_app, settings, migrate_on_start=False, log_format=settings.resolved_log_format
        )
    )
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        single_process=settings.workers == 1,
        access_log=settings.access_log,
        motd=True,
    )
    log.info(
        "serving on http://%s:%s, %s worker(s)", settings.host, settings.port, settings.workers
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
