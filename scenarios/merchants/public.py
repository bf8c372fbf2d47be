"""What a consumer sees when scanning a plate: `GET /api/v1/merchant-codes/{code}` and the H5
page `/m/{code}`, both without login.

The hot path is one Redis round trip: a script that reads the cached view from the subject's
merchant-view hash and appends the audit entry of the read. Codes never move to another merchant,
so the code -> (merchant, subject) mapping is kept in process memory after the first lookup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from credit.calendar_dates import now_iso
from infra.audit import AuditEvent, AuditTemplate
from infra.errors import NotFound
from infra.json_encoding import encode_json
from infra.redis_scripts import script_for
from infra.runtime import Runtime
from infra.security import ratelimit
from qr.plate import is_valid_code
from scenarios.merchants.evaluation import evaluate, published_records_json
from scenarios.merchants.h5 import render_page
from scenarios.merchants.models import Complaint, ComplaintStatus, Merchant
from scenarios.merchants.rules import default_rules
from scenarios.merchants.service import STATUS_LABELS, commitment_json

Format = Literal["json", "html"]
VIEW_SECONDS = 3600
MAX_REMEMBERED_CODES = 200_000
_codes: dict[str, tuple[int, int]] = {}


async def resolve_code(rt: Runtime, code: str, client: Callable[[], str]) -> tuple[int, int]:
    """(merchant id, subject id). Unknown codes cost a database query, so they are rate limited
    by `client()` (asked for only then: working out the address has a cost of its own)."""
    known = _codes.get(code)
    if known is not None:
        return known
    if is_valid_code(code):
        row = await Merchant.filter(code=code).first().values_list("id", "subject_id")
    else:
        row = None
    if row is None:
        rule = rt.settings.rate_limits["merchant_code_miss"]
        await ratelimit.enforce(rt.redis, rt.keys, "merchant_code_miss", client(), rule)
        raise NotFound(
            "未找到该商户码，请确认是否为信用阿拉善商户码", code="MERCHANT_CODE_NOT_FOUND"
        )
    if len(_codes) >= MAX_REMEMBERED_CODES:
        _codes.clear()
    _codes[code] = (int(row[0]), int(row[1]))
    return _codes[code]


# The cached view, and the audit entry of the read, in one round trip.
_SCAN_SCRIPT = """
local view = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
return view
"""
_SUBJECT_MARK, _MERCHANT_MARK = "-922922922", "-933933933"
PLATE_SCAN_PURPOSE = "扫码查看商户信用"  # the monthly figures count scans by it
_TEMPLATES: dict[str, AuditTemplate] = {}


def _audit_template(channel: str) -> AuditTemplate:
    template = _TEMPLATES.get(channel)
    if template is None:
        template = AuditTemplate(
            AuditEvent(
                action="credit.read", actor_kind="public", actor_role="public",
                purpose=PLATE_SCAN_PURPOSE, channel=channel, subject_id=int(_SUBJECT_MARK),
                detail={"merchant_id": int(_MERCHANT_MARK)},
            ),
            (_SUBJECT_MARK, _MERCHANT_MARK),
        )  # fmt: skip
        if len(_TEMPLATES) < 16:  # channels are a small fixed set
            _TEMPLATES[channel] = template
    return template


async def scan(
    rt: Runtime, code: str, fmt: Format, *, channel: str, client: Callable[[], str]
) -> bytes:
    merchant_id, subject_id = await resolve_code(rt, code, client)
    key = rt.keys.merchant_views(subject_id)
    entry = _audit_template("h5" if fmt == "html" else channel).render(subject_id, merchant_id)
    cached = await script_for(rt.redis, _SCAN_SCRIPT)(
        keys=[key, rt.keys.audit_stream],
        args=[f"{'j' if fmt == 'json' else 'h'}:{merchant_id}", entry],
    )
    if cached:
        return bytes(cached)
    view = await build_view(rt, merchant_id)
    body = encode_json(view)
    page = render_page(view).encode()
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.hset(key, mapping={f"j:{merchant_id}": body, f"h:{merchant_id}": page})
        pipe.expire(key, VIEW_SECONDS)
        await pipe.execute()
    return body if fmt == "json" else page


async def build_view(rt: Runtime, merchant_id: int) -> dict[str, Any]:
    rules = default_rules()
    merchant = await Merchant.get(id=merchant_id).prefetch_related("subject")
    evaluation = await evaluate(merchant, rules)
    zone = rules.zones.get(merchant.zone_id)
    return {
        "code": merchant.code,
        "status": str(merchant.status),
        "status_label": STATUS_LABELS[merchant.status],
        "merchant": {
            "name": merchant.name,
            "name_mn": merchant.name_mn or None,
            "zone": zone.name if zone else merchant.zone_id,
            "zone_mn": zone.name_mn if zone and zone.name_mn else None,
            "zone_kind": zone.kind if zone else None,
            "address": merchant.address,
            "category": merchant.category,
            "subject_name": merchant.subject.name,
            "uscc": merchant.subject.uscc,
        },
        "level": evaluation.level,
        "factors": evaluation.factors,
        "commitment": commitment_json(merchant) | {"text_version": rules.commitment_version},
        "records": published_records_json(evaluation),
        "complaints": await complaint_counts(merchant_id),
        "as_of": now_iso(),
    }


async def complaint_counts(merchant_id: int) -> dict[str, int]:
    since = datetime.now(UTC) - timedelta(days=default_rules().complaint_window_days)
    total = await Complaint.filter(merchant_id=merchant_id, created_at__gte=since).count()
    upheld = await Complaint.filter(
        merchant_id=merchant_id, status=ComplaintStatus.UPHELD, decided_at__gte=since
    ).count()
    return {"total": total, "upheld": upheld}
