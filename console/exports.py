"""Results back to the league platform (issue 14 item 5) in the console: the export batches, a
form to export the decisions not yet exported since a date, and each batch's CSV; the functions
and role of the API's /api/v1/admin/exports (credit/applications/export.py: idempotent by its
watermark, so a second run exports nothing new)."""

from __future__ import annotations

from sanic.response import HTTPResponse, raw

from console.core import Ctx, console_page, see_other, view
from credit.applications import export
from credit.calendar_dates import today
from infra.params import cursor_id

ROLES = (export.EXPORT_ROLE,)
BASE = "/console/exports"


def _console_batch(batch: dict[str, object]) -> dict[str, object]:
    """The API's batch with the console's own download link (the console's cookie)."""
    return batch | {"csv_url": f"{BASE}/{batch['id']}/decisions.csv"}


@console_page("/exports", roles=ROLES, title="结果报送", nav_order=85, name="console_exports")
async def exports_page(ctx: Ctx) -> HTTPResponse:
    batches = await export.list_batches(ctx.session, cursor_id(ctx.arg("cursor")))
    created = ctx.arg("created")
    return view(
        ctx,
        "exports.html",
        title="办理结果报送盟平台",
        batches=[_console_batch(b) for b in batches["items"]],
        more=f"{BASE}?cursor={batches['next']}" if batches["next"] else None,
        since=today().replace(day=1).isoformat(),
        created=created,
    )


@console_page("/exports", roles=ROLES, methods=("POST",), name="console_exports_create")
async def exports_create(ctx: Ctx) -> HTTPResponse:
    batch = await export.create_batch(
        ctx.rt, ctx.session, ctx.form.get("since"), channel=ctx.channel
    )
    return see_other(BASE, created=str(batch["id"]))


@console_page("/exports/<batch_id:str>/decisions.csv", roles=ROLES, name="console_exports_csv")
async def exports_csv(ctx: Ctx, batch_id: str) -> HTTPResponse:
    batch, data = await export.batch_csv_for(ctx.rt, ctx.session, batch_id)
    return raw(
        data,
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="decisions-{batch.id}.csv"',
            "Cache-Control": "no-store",
        },
    )
