"""Government bodies as credit subjects (issue 13 item 5): an agency's public page (its 政务失信
records as the publication rules show them, and how the reports about it were handled) and the
league's 政务诚信 summary. Both cached under the public lists' generation
(credit.public_lists), which record changes and report decisions bump."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count

from credit.calendar_dates import now_iso, seconds_until_end_of, today
from credit.identifiers import parse_uscc, require_uscc
from credit.integrity.models import IntegrityReport, ReportStatus
from credit.lookup import record_json
from credit.models import Record, RecordType, Subject, SubjectKind
from credit.public_lists import CACHE_SECONDS, RATE_BUCKET
from credit.publication import objection_labels, shown_to_public
from infra.cache import as_bytes
from infra.errors import Invalid, NotFound
from infra.json_encoding import encode_json_text
from infra.params import CONTROL_CHARACTER_MESSAGE, cursor_id, has_control_characters
from infra.runtime import Runtime
from infra.security import ratelimit

PAGE_SIZE = 50
# Counted publicly once the credit centre has accepted a report: one that is only submitted may
# be unfounded, and one not accepted (不予受理) says nothing about the body.
OPEN_COUNTED = (ReportStatus.ACCEPTED, ReportStatus.PROCESSING)


async def _cached(
    rt: Runtime,
    client: str,
    digest: str,
    build: Callable[[], Any],
    render: Callable[[dict[str, Any]], str] | None,
) -> bytes:
    await ratelimit.enforce(
        rt.redis, rt.keys, RATE_BUCKET, client, rt.settings.rate_limits[RATE_BUCKET]
    )
    generation = int(await rt.redis.get(rt.keys.public_lists_generation) or 0)
    name = digest + (":html" if render else "")
    key = rt.keys.public_list(generation, hashlib.sha256(name.encode()).hexdigest()[:32])
    cached = await rt.redis.get(key)
    if cached is not None:
        return as_bytes(cached)
    view = await build()
    body = (render(view) if render else encode_json_text(view)).encode()
    await rt.redis.set(key, body, ex=min(CACHE_SECONDS, seconds_until_end_of(today())))
    return body


async def _agency(uscc: str) -> Subject:
    code = require_uscc(uscc, "uscc")
    agency = await Subject.get_or_none(uscc=code, kind=SubjectKind.AGENCY)
    if agency is None:
        raise NotFound("未找到该单位", code="AGENCY_NOT_FOUND")
    return agency


async def report_counts(agency_ids: list[int]) -> dict[int, dict[str, int]]:
    """agency id -> {open, concluded, concluded_on_time, not_accepted} (grouped, one query)."""
    counts = {
        agency_id: {"open": 0, "concluded": 0, "concluded_on_time": 0, "not_accepted": 0}
        for agency_id in agency_ids
    }
    if not agency_ids:
        return counts
    rows = (
        await IntegrityReport.filter(agency_id__in=agency_ids)
        .annotate(n=Count("id"))
        .group_by("agency_id", "status", "concluded_on_time")
        .values("agency_id", "status", "concluded_on_time", "n")
    )
    for row in rows:
        entry = counts[int(row["agency_id"])]
        status, n = ReportStatus(row["status"]), int(row["n"])
        if status in OPEN_COUNTED:
            entry["open"] += n
        elif status == ReportStatus.CONCLUDED:
            entry["concluded"] += n
            if row["concluded_on_time"]:
                entry["concluded_on_time"] += n
        elif status == ReportStatus.REJECTED:
            entry["not_accepted"] += n
    return counts


async def record_counts(agency_ids: list[int], on: date) -> dict[int, int]:
    if not agency_ids:
        return {}
    rows = (
        await Record.filter(
            shown_to_public(on), subject_id__in=agency_ids, type=RecordType.GOV_DISHONESTY
        )
        .annotate(n=Count("id"))
        .group_by("subject_id")
        .values("subject_id", "n")
    )
    return {int(row["subject_id"]): int(row["n"]) for row in rows}


def agency_json(agency: Subject) -> dict[str, Any]:
    return {"name": agency.name, "uscc": agency.uscc, "region": agency.region}


async def agency_view(uscc: str, on: date | None = None) -> dict[str, Any]:
    on = on or today()
    agency = await _agency(uscc)
    records = await Record.filter(shown_to_public(on), subject_id=agency.id).order_by(
        "-decided_on", "-id"
    )
    objections = await objection_labels(records)
    shaped_records = []
    for record in records:
        shaped = record_json(record, on, objections.get(record.id))
        shaped["details"] = {
            key: value
            for key, value in (record.details or {}).items()
            if key in ("失信行为类型", "失信事实", "认定依据", "涉及金额（万元）", "整改情况")
            and value
        }
        shaped_records.append(shaped)
    return {
        "agency": agency_json(agency),
        "records": shaped_records,
        "reports": (await report_counts([agency.id]))[agency.id],
        "as_of": now_iso(),
    }


async def agency_page_bytes(
    rt: Runtime,
    uscc: str,
    *,
    client: str,
    render: Callable[[dict[str, Any]], str] | None = None,
) -> bytes:
    code = require_uscc(uscc, "uscc")
    return await _cached(rt, client, f"agency:{code}", lambda: agency_view(code), render)


def _query(q: str | None) -> str | None:
    text = (q or "").strip()
    if not text:
        return None
    if len(text) > 60:
        raise Invalid("查询内容过长", fields={"q": "不超过 60 个字符"})
    if has_control_characters(text):
        raise Invalid("查询内容有误", fields={"q": CONTROL_CHARACTER_MESSAGE})
    return text


async def summary(q: str | None, cursor: str | None, on: date | None = None) -> dict[str, Any]:
    """Per agency of the store: reports open (accepted, not yet concluded), concluded, concluded
    within the deadline, and 政务失信 records shown; plus the reports about bodies not in the
    store, as totals only (a freely typed name is not published)."""
    on = on or today()
    query = Subject.filter(kind=SubjectKind.AGENCY)
    text = _query(q)
    if text is not None:
        code = parse_uscc(text)
        query = query.filter(Q(uscc=code[0]) if code else Q(name__icontains=text))
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__gt=after)
    agencies = await query.order_by("id").limit(PAGE_SIZE + 1)
    shown = agencies[:PAGE_SIZE]
    ids = [agency.id for agency in shown]
    reports = await report_counts(ids)
    records = await record_counts(ids, on)
    unlisted = await IntegrityReport.filter(
        agency_id__isnull=True, status__in=list(OPEN_COUNTED)
    ).count()
    return {
        "items": [
            {"agency": agency_json(a), "reports": reports[a.id], "records": records.get(a.id, 0)}
            for a in shown
        ],
        "next": str(shown[-1].id) if len(agencies) > PAGE_SIZE else None,
        "unlisted_open_reports": unlisted,
        "as_of": now_iso(),
    }


async def summary_bytes(
    rt: Runtime,
    q: str | None,
    cursor: str | None,
    *,
    client: str,
    render: Callable[[dict[str, Any]], str] | None = None,
) -> bytes:
    text, after = _query(q), cursor_id(cursor)
    digest = "summary:" + json.dumps([text, after], ensure_ascii=False)
    return await _cached(rt, client, digest, lambda: summary(text, str(after or "")), render)
