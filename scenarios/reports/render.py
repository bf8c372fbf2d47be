"""Rendering reports off the event loop, bounded: one thread per worker (ReportLab is not
thread-safe and keeps its fonts per process), and a request waits a bounded time for its turn,
then 503 REPORT_BUSY (like the upload pool, infra/uploads.py)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infra.errors import ServiceUnavailable
from qr.plate import FontMissing
from qr.report_document import ReportDocument

log = logging.getLogger(__name__)


class _RenderPool:
    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-render")
        self.turn = asyncio.Semaphore(1)

    async def run(self, document: ReportDocument, font: Path | None, queue_seconds: float) -> bytes:
        try:
            await asyncio.wait_for(self.turn.acquire(), queue_seconds)
        except TimeoutError as exc:
            log.warning("report renderer busy for %.0f s", queue_seconds)
            raise ServiceUnavailable(
                "报告生成繁忙，请稍后再试", code="REPORT_BUSY", retry_after=5
            ) from exc
        try:
            from qr.report_pdf import render  # ReportLab: loaded on the first report only

            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, render, document, font)
        except FontMissing as exc:
            raise ServiceUnavailable(
                f"服务器缺少中文字体，暂不能生成信用报告（{exc}）。"
                "请安装 fonts-wqy-microhei 或设置 PLATE_FONT_PATH",
                code="FONT_MISSING",
            ) from exc
        finally:
            self.turn.release()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _RenderPool] = (
    weakref.WeakKeyDictionary()
)


async def render_pdf(document: ReportDocument, font: Path | None, queue_seconds: float) -> bytes:
    """The PDF's bytes, rendered in the worker's report thread."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = _RenderPool()
    return await pool.run(document, font, queue_seconds)
