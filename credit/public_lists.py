"""The public 红黑榜 and 双公示 lists (issue 13 item 3): no login, enterprises and individual
businesses only (natural persons are never listed), only what the publication rules show the
public (credit.publication.shown_to_public: in its window, not repaired, expired or revoked, of a
published severity).

Each list is one indexed query (record (type, id), (type, decided_on), (type, authority_uscc))
newest first with an id cursor. Pages are cached as ready JSON under the public lists'
generation, which every change of shown records bumps (infra.cache.invalidate_subjects: imports,
repairs, objections), and for at most until the end of the day, when records leave their
window."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tortoise.expressions import Q

from credit.calendar_dates import now_iso, seconds_until_end_of, today
from credit.identifiers import parse_uscc
from credit.models import MARKET_ENTITY_KINDS, SEVERITY_LABELS, Record, RecordType, Severity
from credit.publication import objection_labels, shown_to_public
from infra.cache import as_bytes
from infra.errors import Invalid, NotFound
from infra.json_encoding import encode_json
from infra.pagination import page
from infra.params import (
    CONTROL_CHARACTER_MESSAGE,
    EARLIEST_DATE,
    LATEST_DATE,
    cursor_id,
    has_control_characters,
    query_date,
)
from infra.runtime import Runtime
from infra.security import ratelimit

PAGE_SIZE = 20
CACHE_SECONDS = 300
RATE_BUCKET = "public_list"


@dataclass(frozen=True)
class PublicList:
    name: str  # the path segment
    label: str
    type: RecordType
    # ?category= values -> the severity they select (None: the list has no categories)
    categories: dict[str, Severity] | None
    # the details of the feed a list shows (the 双公示 data items, no personal data)
    details: tuple[str, ...]


SEVERITY_CATEGORIES = {"general": Severity.GENERAL, "serious": Severity.SERIOUS}
LISTS: dict[str, PublicList] = {
    entry.name: entry
    for entry in (
        PublicList("red-list", "红名单", RecordType.RED_LIST, None, ("列入原因",)),
        PublicList(
            "black-list", "黑名单（严重失信主体名单）", RecordType.BLACK_LIST, None, ("列入原因",)
        ),
        PublicList(
            "penalties",
            "行政处罚（双公示）",
            RecordType.PENALTY,
            SEVERITY_CATEGORIES,
            (
                "违法行为类型", "违法事实", "处罚依据", "处罚类别", "处罚内容",
                "罚款金额（万元）", "没收违法所得、没收非法财物的金额（万元）",
                "暂扣或吊销证照名称及编号", "处罚有效期",
            ),
        ),
        PublicList(
            "licences",
            "行政许可（双公示）",
            RecordType.LICENCE,
            None,
            (
                "行政许可决定文书名称", "项目名称", "许可类别", "许可证书名称", "许可编号",
                "许可内容", "有效期自", "有效期至", "当前状态",
            ),
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Filters:
    authority: str | None = None
    start: date | None = None
    end: date | None = None
    category: str | None = None
    keyword: str | None = None
    cursor: int | None = None

    def digest(self, name: str, form: str) -> str:
        text = json.dumps(
            [name, form, self.authority, str(self.start), str(self.end), self.category,
             self.keyword, self.cursor],
            ensure_ascii=False,
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _text(value: str | None, name: str, max_length: int) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > max_length:
        raise Invalid("筛选内容过长", fields={name: f"不超过 {max_length} 个字符"})
    if has_control_characters(text):
        raise Invalid("筛选内容有误", fields={name: CONTROL_CHARACTER_MESSAGE})
    return text


def parse_filters(entry: PublicList, args: dict[str, str | None]) -> Filters:
    """The query string of a list: 422 with a Chinese message for anything it cannot mean."""
    start = query_date(args.get("from"), EARLIEST_DATE, "from") if args.get("from") else None
    end = query_date(args.get("to"), LATEST_DATE, "to") if args.get("to") else None
    if start and end and start > end:
        raise Invalid("起始日期晚于截止日期", fields={"from": "须不晚于 to"})
    category = _text(args.get("category"), "category", 20)
    if category is not None:
        if entry.categories is None:
            raise Invalid(f"{entry.label}不支持按类别筛选", fields={"category": "此列表无类别"})
        if category not in entry.categories:
            raise Invalid(
                "类别参数无效", fields={"category": "可选：" + "、".join(entry.categories)}
            )
    return Filters(
        authority=_text(args.get("authority"), "authority", 100),
        start=start,
        end=end,
        category=category,
        keyword=_text(args.get("keyword"), "keyword", 60),
        cursor=cursor_id(args.get("cursor")),
    )


def list_entry(name: str) -> PublicList:
    entry = LISTS.get(name)
    if entry is None:
        raise NotFound("没有这个公示列表", code="LIST_NOT_FOUND")
    return entry


async def find(entry: PublicList, filters: Filters, on: date | None = None) -> dict[str, Any]:
    """One page of the list (not cached; `public_list_bytes` caches it)."""
    on = on or today()
    query = Record.filter(
        shown_to_public(on), type=entry.type, subject__kind__in=list(MARKET_ENTITY_KINDS)
    )
    if filters.cursor is not None:
        query = query.filter(id__lt=filters.cursor)
    if filters.start is not None:
        query = query.filter(decided_on__gte=filters.start)
    if filters.end is not None:
        query = query.filter(decided_on__lte=filters.end)
    if filters.authority is not None:
        code = parse_uscc(filters.authority)
        if code:
            query = query.filter(authority_uscc=code[0])
        else:
            query = query.filter(authority=filters.authority)
    if filters.category is not None and entry.categories is not None:
        query = query.filter(severity=entry.categories[filters.category])
    if filters.keyword is not None:
        code = parse_uscc(filters.keyword)
        query = query.filter(
            Q(subject__uscc=code[0]) if code else Q(subject__name__icontains=filters.keyword)
        )
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1).prefetch_related("subject")
    objections = await objection_labels(rows[:PAGE_SIZE])
    shaped = page(rows, PAGE_SIZE, lambda record: item_json(entry, record, objections))
    shaped["list"] = {"name": entry.name, "label": entry.label}
    shaped["as_of"] = now_iso()
    return shaped


def item_json(
    entry: PublicList, record: Record, objections: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    subject = record.subject
    details = record.details or {}
    return {
        "id": record.id,
        "type": str(record.type),
        "title": record.title,
        "subject": {
            "name": subject.name,
            "kind": str(subject.kind),
            "uscc": subject.uscc,
            "registration_no": subject.registration_no if subject.uscc is None else None,
        },
        "authority": record.authority,
        "authority_uscc": record.authority_uscc,
        "document_no": record.document_no,
        "decided_on": record.decided_on.isoformat(),
        "publish_until": record.publish_max_until.isoformat() if record.publish_max_until else None,
        "severity": str(record.severity) if record.severity else None,
        "severity_label": SEVERITY_LABELS[record.severity] if record.severity else None,
        "status": str(record.status),
        "objection": objections.get(record.id),
        "details": {key: details[key] for key in entry.details if details.get(key)},
    }


async def public_list_bytes(
    rt: Runtime,
    name: str,
    args: dict[str, str | None],
    *,
    client: str,
    form: str = "json",
    render: Callable[[dict[str, Any], Filters], str] | None = None,
) -> bytes:
    """The cached page as JSON, or as the H5 page `render(view) -> str` draws (`form` "html")."""
    await ratelimit.enforce(
        rt.redis, rt.keys, RATE_BUCKET, client, rt.settings.rate_limits[RATE_BUCKET]
    )
    entry = list_entry(name)
    filters = parse_filters(entry, args)
    generation = int(await rt.redis.get(rt.keys.public_lists_generation) or 0)
    key = rt.keys.public_list(generation, filters.digest(name, form))
    cached = await rt.redis.get(key)
    if cached is not None:
        return as_bytes(cached)
    view = await find(entry, filters)
    if form == "html" and render is not None:
        body = render(view, filters).encode()
    else:
        body = encode_json(view)
    await rt.redis.set(key, body, ex=min(CACHE_SECONDS, seconds_until_end_of(today())))
    return body
