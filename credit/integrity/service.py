"""政务失信 reports (issue 13 item 4): submitting (logged in or anonymous), following progress
(own list, or the query code of an anonymous report), the credit centre's queue and decisions,
and what the reported body may see.

Who sees what of the reporter:
- an anonymous report keeps nothing that names its reporter: no user, no contact, no user id in
  its history, attachments handed over to the anonymous holder with their file names dropped;
  only the SHA-256 of the query code it showed once;
- a named report keeps the reporter's user (own list, messages) and contact, encrypted; the
  credit centre's reviewers see the contact masked, and reading it is an audited read; the
  reported body (its operators, the public pages) never sees anything of any reporter.

A change is a conditional UPDATE on the status it starts from, with its history row and the
named reporter's message (outbox) in one transaction, like the applications' workflow."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from credit.acting import acting_subject_ids
from credit.calendar_dates import SHANGHAI, shanghai_iso, shanghai_minute, today
from credit.identifiers import require_uscc
from credit.integrity.models import (
    OPEN_REPORT_STATUSES,
    REPORTER_FIELD,
    IntegrityReport,
    IntegrityReportEvent,
    ReportStatus,
)
from credit.integrity.rules import IntegrityRules, default_rules
from credit.models import Subject, SubjectKind
from credit.workdays import default_calendar, due_estimated
from infra import notifications
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.cache import invalidate_public_lists
from infra.errors import Conflict, Forbidden, Invalid, NotFound
from infra.models import Upload, User
from infra.moderation import Moderation, moderate
from infra.pagination import page
from infra.params import cursor_id, path_id, status_filter
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.crypto import mask_name, mask_phone
from infra.security.sessions import Session
from infra.uploads import owned_upload_ids

Status = ReportStatus
STATUS_LABELS = {
    Status.SUBMITTED: "待受理",
    Status.ACCEPTED: "已受理",
    Status.PROCESSING: "办理中",
    Status.CONCLUDED: "已办结",
    Status.REJECTED: "不予受理",
}
DEFAULT_NOTES = {
    Status.ACCEPTED: "您反映的政务失信问题已受理",
    Status.PROCESSING: "您反映的问题正在办理中",
    Status.CONCLUDED: "您反映的问题已办结，请查看办理结果",
    Status.REJECTED: "您反映的问题不予受理，请查看原因",
}
# (status it starts from, decision) -> status it ends in
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.SUBMITTED, "accept"): Status.ACCEPTED,
    (Status.SUBMITTED, "reject"): Status.REJECTED,
    (Status.ACCEPTED, "process"): Status.PROCESSING,
    (Status.ACCEPTED, "conclude"): Status.CONCLUDED,
    (Status.PROCESSING, "conclude"): Status.CONCLUDED,
}
DECISIONS = ("accept", "reject", "process", "conclude")
DECIDER_ROLE = "reviewer"
QUEUE_ROLES = ("reviewer", "admin")
CENTRE = "阿拉善盟信用中心"
PAGE_SIZE = 20
TEMPLATE = "integrity_report_status"
SUBMIT_BUCKET = "integrity_report"
LOOKUP_BUCKET = "integrity_lookup"
# The owner of what anonymous reporters attach: the uploads leave their uploader.
ANONYMOUS_HOLDER_OPENID = "system:anonymous-integrity-reports"
# Query codes: 16 characters without look-alikes (0/O, 1/I/L), about 78 bits, shown in fours.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16
MAX_AMOUNT = Decimal("99999999999999.99")


# -- query codes -------------------------------------------------------------------------------


def new_query_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def code_hash(code: str) -> str | None:
    """The stored form of a query code as a person may type it (lower case, spaces, dashes);
    None when it cannot be one."""
    text = "".join(code.split()).replace("-", "").upper()
    if len(text) != CODE_LENGTH or not set(text) <= set(CODE_ALPHABET):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


# -- submitting ----------------------------------------------------------------------------------


async def submit(
    rt: Runtime,
    session: Session | None,
    *,
    client: str,
    anonymous: bool,
    agency_uscc: str | None,
    agency_name: str | None,
    category: str,
    promise: str,
    amount: Decimal | None,
    promised_on: date | None,
    broken_on: date | None,
    attachments: list[int],
    contact_name: str | None,
    contact_phone: str | None,
) -> dict[str, Any]:
    """A report; without a session it is anonymous whatever `anonymous` says."""
    rules = default_rules()
    anonymous = anonymous or session is None
    await _count_submission(rt, session, client)
    if category not in rules.categories:
        raise Invalid("问题类别无效", fields={"category": "可选：" + "、".join(rules.categories)})
    if len(promise) > rules.promise_max:
        raise Invalid("内容过长", fields={"promise": f"不超过 {rules.promise_max} 个字符"})
    _check_amount_and_dates(amount, promised_on, broken_on)
    if len(attachments) > rules.max_attachments:
        raise Invalid("附件过多", fields={"attachments": f"最多 {rules.max_attachments} 个"})
    if anonymous and (contact_name or contact_phone):
        raise Invalid("匿名反映不留联系方式", fields={"contact_name": "匿名反映时请勿填写联系方式"})
    agency = await _agency(agency_uscc) if agency_uscc else None
    name = agency.name if agency else (agency_name or "").strip()
    if len(name) < 2:
        raise Invalid("请选择或填写被反映的单位", fields={"agency_name": "须填写单位名称"})
    upload_ids: list[int] = []
    if attachments:
        if session is None:
            raise Invalid("请登录后上传附件", fields={"attachments": "未登录不能附加附件"})
        upload_ids = await owned_upload_ids(session, attachments)
    moderation = await _moderate(rt, rules, session, promise)
    code = new_query_code() if anonymous else None
    calendar = default_calendar()
    accept_due = calendar.add_working_days(today(), rules.accept_working_days)
    reporter_enc = None
    if not anonymous and session is not None:
        reporter_enc = rt.cipher.encrypt(
            json.dumps(
                {"name": contact_name, "phone": contact_phone, "subject_id": session.subject_id},
                ensure_ascii=False,
            ),
            REPORTER_FIELD,
        )
    now = datetime.now(UTC)
    async with in_transaction():
        if anonymous and upload_ids:
            await _hand_over(upload_ids)
        report = await IntegrityReport.create(
            agency_id=agency.id if agency else None,
            agency_name=name[:200],
            category=category,
            promise=promise,
            amount=amount,
            promised_on=promised_on,
            broken_on=broken_on,
            attachments=upload_ids,
            moderation=moderation,
            status=Status.SUBMITTED,
            anonymous=anonymous,
            reporter_user_id=None if anonymous or session is None else session.user_id,
            reporter_enc=reporter_enc,
            query_code_hash=code_hash(code) if code else None,
            due_on=accept_due,
            accept_due_on=accept_due,
        )
        await IntegrityReportEvent.create(
            report_id=report.id, at=now, status=Status.SUBMITTED, actor_role="reporter"
        )
    receipt: dict[str, Any] = {
        "id": report.id,
        "status": str(report.status),
        "status_label": STATUS_LABELS[report.status],
        "anonymous": anonymous,
        "due_on": accept_due.isoformat(),
        "due_estimated": due_estimated(accept_due),
        "query_code": code,
    }
    return receipt


async def _count_submission(rt: Runtime, session: Session | None, client: str) -> None:
    limits = rt.settings.rate_limits
    if session is not None:
        await ratelimit.enforce_per_client(
            rt.redis, rt.keys, SUBMIT_BUCKET, session.user_id, client, limits
        )
        return
    bucket = SUBMIT_BUCKET + ratelimit.ADDRESS_SUFFIX
    await ratelimit.enforce(
        rt.redis, rt.keys, bucket, ratelimit.address_key(client), limits[bucket]
    )


def _check_amount_and_dates(
    amount: Decimal | None, promised_on: date | None, broken_on: date | None
) -> None:
    if amount is not None and not (Decimal(0) <= amount <= MAX_AMOUNT):
        raise Invalid("金额无效", fields={"amount": "须为 0 至 99999999999999.99 元"})
    exponent = amount.as_tuple().exponent if amount is not None else 0
    if not isinstance(exponent, int) or exponent < -2:
        raise Invalid("金额无效", fields={"amount": "最多两位小数"})
    on = today()
    for name, day in (("promised_on", promised_on), ("broken_on", broken_on)):
        if day is not None and day > on:
            raise Invalid("日期不能晚于今天", fields={name: "不能晚于今天"})
    if promised_on and broken_on and broken_on < promised_on:
        raise Invalid("失信日期早于承诺日期", fields={"broken_on": "须不早于 promised_on"})


async def _agency(uscc: str) -> Subject:
    code = require_uscc(uscc, "agency_uscc")
    agency = await Subject.get_or_none(uscc=code, kind=SubjectKind.AGENCY)
    if agency is None:
        raise NotFound("未找到该单位，可直接填写单位名称", code="AGENCY_NOT_FOUND")
    return agency


async def _moderate(
    rt: Runtime, rules: IntegrityRules, session: Session | None, promise: str
) -> Moderation:
    """msg_sec_check judges a user's text by their openid: a report without login is held for
    a reviewer (who is the only one to read it before it is accepted anyway)."""
    if session is None:
        return Moderation.REVIEW
    user = await User.get(id=session.user_id).only("id", "openid")
    return await moderate(rt, user.openid, {"promise": promise}, rules.moderation_scene)


async def _hand_over(upload_ids: list[int]) -> None:
    """An anonymous report's attachments stop being the uploader's (and lose the file name they
    came with), so no table links the report to its reporter."""
    holder, _ = await User.get_or_create(openid=ANONYMOUS_HOLDER_OPENID, defaults={"roles": []})
    await Upload.filter(id__in=upload_ids).update(owner_id=holder.id, original_name=None)


# -- the reporter's side ----------------------------------------------------------------------


async def lookup(rt: Runtime, code: str | None, *, client: str) -> dict[str, Any]:
    """An anonymous report by its query code. Counted per address before anything is looked
    up, and every wrong code is the same 404."""
    bucket = LOOKUP_BUCKET
    await ratelimit.enforce(
        rt.redis, rt.keys, bucket, ratelimit.address_key(client), rt.settings.rate_limits[bucket]
    )
    digest = code_hash(code or "")
    report = await IntegrityReport.get_or_none(query_code_hash=digest) if digest else None
    if report is None:
        raise NotFound("查询码无效，请核对后重试", code="QUERY_CODE_UNKNOWN")
    return await _with_history(report, reporter_view(report))


async def my_reports(session: Session, cursor: str | None) -> dict[str, Any]:
    query = IntegrityReport.filter(reporter_user_id=session.user_id)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1)
    return page(rows, PAGE_SIZE, reporter_view)


async def my_report(session: Session, report_id: str) -> dict[str, Any]:
    """Someone else's report, or an anonymous one, is "not found"."""
    report = await IntegrityReport.get_or_none(
        id=path_id(report_id, "举报不存在", "REPORT_NOT_FOUND"), reporter_user_id=session.user_id
    )
    if report is None:
        raise NotFound("举报不存在", code="REPORT_NOT_FOUND")
    return await _with_history(report, reporter_view(report))


def _base(report: IntegrityReport, rules: IntegrityRules) -> dict[str, Any]:
    return {
        "id": report.id,
        "agency": {"name": report.agency_name, "listed": report.agency_id is not None},
        "category": report.category,
        "category_label": rules.categories.get(report.category, report.category),
        "amount": f"{report.amount:.2f}" if report.amount is not None else None,
        "promised_on": report.promised_on.isoformat() if report.promised_on else None,
        "broken_on": report.broken_on.isoformat() if report.broken_on else None,
        "status": str(report.status),
        "status_label": STATUS_LABELS[report.status],
        "result": report.result,
        "accept_due_on": report.accept_due_on.isoformat(),
        "conclude_due_on": report.conclude_due_on.isoformat() if report.conclude_due_on else None,
        "due_on": report.due_on.isoformat() if report.status in OPEN_REPORT_STATUSES else None,
        "due_estimated": due_estimated(report.due_on),
        "concluded_on_time": report.concluded_on_time,
    }


def reporter_view(report: IntegrityReport) -> dict[str, Any]:
    shaped = _base(report, default_rules())
    shaped.update(
        promise=report.promise,
        anonymous=report.anonymous,
        attachments=list(report.attachments or []),
        created_at=shanghai_iso(report.created_at),
    )
    return shaped


async def _with_history(
    report: IntegrityReport, shaped: dict[str, Any], *, staff: bool = False
) -> dict[str, Any]:
    events = await IntegrityReportEvent.filter(report_id=report.id).order_by("at", "id")
    shaped["history"] = [
        {"at": shanghai_iso(event.at), "status": str(event.status), "note": event.note}
        | ({"actor_role": event.actor_role} if staff else {})
        for event in events
    ]
    return shaped


# -- the credit centre -------------------------------------------------------------------------


async def review_queue(
    *,
    status: str | None,
    overdue: bool,
    held_for_review: bool,
    agency_uscc: str | None,
    cursor: str | None,
) -> dict[str, Any]:
    """Oldest first, so the queue is worked in order of arrival."""
    query = IntegrityReport.all()
    if status:
        query = query.filter(status=status_filter(Status, status))
    if overdue:
        query = query.filter(status__in=list(OPEN_REPORT_STATUSES), due_on__lt=today())
    if held_for_review:
        query = query.filter(moderation=Moderation.REVIEW)
    if agency_uscc:
        query = query.filter(agency_id=(await _agency(agency_uscc)).id)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__gt=after)
    rows = await query.order_by("id").limit(PAGE_SIZE + 1)
    return page(rows, PAGE_SIZE, _review_summary)


def _review_summary(report: IntegrityReport) -> dict[str, Any]:
    shaped = reporter_view(report)
    shaped["moderation"] = str(report.moderation)
    shaped["overdue"] = report.status in OPEN_REPORT_STATUSES and report.due_on < today()
    # Nothing of the reporter here: the detail shows a named reporter's contact, audited.
    return shaped


async def review_detail(
    rt: Runtime, session: Session, report_id: str, *, channel: str, audit: bool = True
) -> dict[str, Any]:
    report = await _report(report_id)
    shaped = _review_summary(report)
    shaped["reporter"] = await _reporter(rt, session, report, channel=channel, audit=audit)
    return await _with_history(report, shaped, staff=True)


async def _reporter(
    rt: Runtime, session: Session, report: IntegrityReport, *, channel: str, audit: bool
) -> dict[str, Any]:
    """A named reporter's contact, masked, for the reviewer (reading it is audited, and listed
    in the reporter's "who read my record" when their identity is bound); of an anonymous
    report, only that it is anonymous."""
    if report.anonymous or report.reporter_enc is None:
        return {"anonymous": True}
    contact = json.loads(rt.cipher.decrypt(report.reporter_enc, REPORTER_FIELD))
    subject_id = contact.get("subject_id")
    name = contact.get("name")
    if not name and subject_id is not None:
        person = await Subject.get_or_none(id=subject_id).only("id", "name")
        name = person.name if person else None  # stored masked
    if audit:
        await append_audit(
            rt.redis,
            rt.keys,
            AuditEvent(
                action="identity.read",
                actor_kind="reviewer",
                actor_role=DECIDER_ROLE if session.has_role(DECIDER_ROLE) else "admin",
                actor_org=CENTRE,
                purpose="政务失信举报办理",
                channel=channel,
                actor_user_id=session.user_id,
                subject_id=subject_id,
                detail={"integrity_report_id": report.id},
            ),
        )
    return {
        "anonymous": False,
        "name_masked": mask_name(name) if name else None,
        "phone_masked": mask_phone(contact["phone"]) if contact.get("phone") else None,
        "identity_bound": subject_id is not None,
    }


async def _report(report_id: str) -> IntegrityReport:
    report = await IntegrityReport.get_or_none(
        id=path_id(report_id, "举报不存在", "REPORT_NOT_FOUND")
    )
    if report is None:
        raise NotFound("举报不存在", code="REPORT_NOT_FOUND")
    return report


async def decide(
    rt: Runtime,
    session: Session,
    report_id: str,
    *,
    decision: str,
    note: str | None,
    agency_uscc: str | None,
    channel: str,
) -> dict[str, Any]:
    """accept (受理; may link a freely named body to the store's agency), reject (不予受理, with
    the reason), process (办理中), conclude (办结, with the result). The reason and the result are
    `note`, which the reporter is shown."""
    rules = default_rules()
    report = await _report(report_id)
    target = TRANSITIONS.get((report.status, decision))
    if target is None:
        if report.status not in OPEN_REPORT_STATUSES:
            raise Conflict("该举报已办结，不能再作决定", code="REPORT_CLOSED")
        raise Conflict(
            f"举报当前为“{STATUS_LABELS[report.status]}”，不能作出此决定",
            code="DECISION_NOT_ALLOWED",
        )
    if target in (Status.REJECTED, Status.CONCLUDED) and not (note or "").strip():
        raise Invalid(
            "请填写不予受理的理由或办结结果，反映人将看到它",
            fields={"note": "不予受理或办结时必填"},
        )
    if agency_uscc and target != Status.ACCEPTED:
        raise Invalid("仅受理时可关联被反映单位", fields={"agency_uscc": "仅 accept 时可填"})
    agency = await _agency(agency_uscc) if agency_uscc else None
    now = datetime.now(UTC)
    on = today()
    values: dict[str, Any] = {"status": target, "decided_by": session.user_id, "updated_at": now}
    if agency is not None:
        values.update(agency_id=agency.id, agency_name=agency.name)
    if target == Status.ACCEPTED:
        conclude_due = default_calendar().add_working_days(on, rules.conclude_working_days)
        values.update(accepted_at=now, conclude_due_on=conclude_due, due_on=conclude_due)
    if target in (Status.REJECTED, Status.CONCLUDED):
        values.update(result=note, concluded_at=now)
    if target == Status.CONCLUDED:
        values["concluded_on_time"] = report.conclude_due_on is not None and (
            on <= report.conclude_due_on
        )
    async with in_transaction():
        changed = await IntegrityReport.filter(id=report.id, status=report.status).update(**values)
        if changed != 1:
            raise Conflict("该举报已被其他审核人员处理，请刷新后查看", code="REPORT_STATE_CHANGED")
        await IntegrityReportEvent.create(
            report_id=report.id, at=now, status=target, actor_role=DECIDER_ROLE,
            actor_user_id=session.user_id, note=note,
        )  # fmt: skip
        if report.reporter_user_id is not None:
            await _notify(report, target, note, now)
    await invalidate_public_lists(rt.redis, rt.keys)  # the 政务诚信 summary counts it
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action=f"integrity_report.{decision}",
            actor_kind="reviewer",
            actor_role=DECIDER_ROLE,
            actor_org=CENTRE,
            purpose="政务失信举报办理",
            channel=channel,
            actor_user_id=session.user_id,
            subject_id=agency.id if agency else report.agency_id,
            detail={"integrity_report_id": report.id, "status": str(target)},
        ),
    )
    return await review_detail(rt, session, str(report.id), channel=channel, audit=False)


async def _notify(report: IntegrityReport, status: Status, note: str | None, at: datetime) -> None:
    assert report.reporter_user_id is not None
    title = f"政务失信反映：{report.agency_name}"
    label = STATUS_LABELS[status]
    text = note or DEFAULT_NOTES[status]
    await notifications.notify(
        report.reporter_user_id,
        TEMPLATE,
        {"title": title, "status": label, "time": shanghai_minute(at), "note": text},
        title=f"{title}（{label}）",
        content=text,
        page_query=f"id={report.id}",
    )


# -- the reported body ---------------------------------------------------------------------


async def agency_reports(session: Session, uscc: str, cursor: str | None) -> dict[str, Any]:
    """Reports about an agency, for the users who act for it: what was reported and how it was
    handled, once the credit centre has accepted it; never anything of the reporter (not even
    whether the report was anonymous, its attachments or the minute it came in)."""
    agency = await _agency(uscc)
    if agency.id not in await acting_subject_ids(session):
        raise Forbidden("您不是该单位的经办人员", code="NOT_SUBJECT_OPERATOR")
    query = IntegrityReport.filter(
        agency_id=agency.id, status__in=[s for s in Status if s != Status.SUBMITTED]
    )
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1)
    rules = default_rules()

    def shape(report: IntegrityReport) -> dict[str, Any]:
        shaped = _base(report, rules)
        shaped["promise"] = report.promise
        shaped["reported_on"] = report.created_at.astimezone(SHANGHAI).date().isoformat()
        return shaped

    return page(rows, PAGE_SIZE, shape)
