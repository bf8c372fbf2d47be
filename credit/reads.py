"""Who read my record (API.md `GET /me/credit/queries`): the audit log's reads of a subject,
as the subject is shown them."""

from __future__ import annotations

from typing import Any

from credit.calendar_dates import shanghai_iso
from infra.audit import drain
from infra.models import AuditEntry
from infra.pagination import page
from infra.params import cursor_id
from infra.runtime import Runtime

ACTOR_KIND_LABELS = {
    "self": "本人",
    "public": "公众查询",
    "reviewer": "信用中心审核人员",
    "staff": "场所工作人员",
    "operator": "企业经办人",
    "report_verifier": "信用报告核验",
}


async def reads_of_subject(
    rt: Runtime, subject_id: int, cursor: str | None, limit: int = 50
) -> dict[str, Any]:
    """Newest first, including reads still in the audit stream."""
    await drain(rt.redis, rt.keys, wait=2.0)
    query = AuditEntry.filter(subject_id=subject_id, action="credit.read")
    before = cursor_id(cursor)
    if before is not None:
        query = query.filter(id__lt=before)
    entries = await query.order_by("-id").limit(limit + 1)
    return page(entries, limit, _shown)


def _shown(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": shanghai_iso(entry.at),
        "actor_kind": entry.actor_kind,
        "actor_label": ACTOR_KIND_LABELS.get(entry.actor_kind, entry.actor_kind),
        "actor_org": entry.actor_org,
        "purpose": entry.purpose,
        "channel": entry.channel,
    }
