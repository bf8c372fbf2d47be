"""Registration, repair and objection workflows (API.md "Registration, repair, objection",
DESIGN.md §3).

Every status change happens in one transaction with its history row, the record's change and the
applicant's WeChat message (through the outbox, so a crash after the commit loses nothing). A
change is a conditional UPDATE on the status it starts from: two reviewers deciding at once, or a
withdrawal racing a decision, leave exactly one winner and a 409 for the other. Caches are
dropped and the audit entry appended after the commit, so no reader can cache the old state
after the drop.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.acting import acting_subject, acting_subject_ids, link_operator
from credit.applications.models import (
    CLOCK_RUNNING,
    OPEN_STATUSES,
    Application,
    ApplicationEvent,
    ApplicationKind,
    ApplicationStatus,
    ObjectionOutcome,
)
from credit.applications.rules import ApplicationRules, default_rules, repair_eligibility
from credit.calendar_dates import shanghai_iso, shanghai_minute, today
from credit.lookup import subject_json
from credit.models import (
    ID_NUMBER_FIELD,
    IdentityBinding,
    OperatorBasis,
    Record,
    RecordSource,
    RecordStatus,
    RecordType,
    Subject,
)
from credit.person_names import legal_representative_name
from credit.workdays import default_calendar, due_estimated
from infra import notifications
from infra.audit import AuditEvent
from infra.audit import append as append_audit
from infra.cache import invalidate_subjects
from infra.errors import Conflict, Invalid, NotFound
from infra.models import OutboxMessage, User
from infra.moderation import Moderation, moderate
from infra.pagination import page
from infra.params import cursor_id, path_id, status_filter
from infra.runtime import Runtime
from infra.security.crypto import mask_id_number, mask_name
from infra.security.sessions import Session
from infra.uploads import owned_upload_ids

Kind = ApplicationKind
Status = ApplicationStatus

KIND_LABELS = {
    Kind.REGISTRATION: "自愿注册",
    Kind.REPAIR: "信用修复",
    Kind.OBJECTION: "信用异议",
    Kind.AUTHORISATION: "企业经办授权",
}
STATUS_LABELS = {
    Status.SUBMITTED: "已提交",
    Status.ACCEPTED: "已受理",
    Status.APPROVED: "已通过",
    Status.DENIED: "未通过",
    Status.REJECTED: "不予受理",
    Status.WITHDRAWN: "已撤回",
    Status.SUPPLEMENTING: "待补正",
}
DEFAULT_NOTES = {
    Status.SUBMITTED: "申请已提交，请等待审核",
    Status.ACCEPTED: "申请已受理，正在审核",
    Status.APPROVED: "申请已通过",
    Status.DENIED: "申请未通过，请查看原因",
    Status.REJECTED: "申请不予受理，请查看原因",
    Status.WITHDRAWN: "申请已撤回",
    Status.SUPPLEMENTING: "请按审核意见补正材料",
}
OUTCOME_LABELS = {
    ObjectionOutcome.CORRECTED: "异议成立，记录已更正",
    ObjectionOutcome.REVOKED: "异议成立，记录已撤销",
    ObjectionOutcome.UPHELD: "异议不成立，维持原记录",
}
DECISIONS = ("accept", "reject", "approve", "deny", "supplement")
DECISION_LABELS = {
    "accept": "受理",
    "reject": "不予受理",
    "approve": "通过",
    "deny": "不通过",
    "supplement": "补正",
}
# The applicant's own steps: the history has them, no message reports them.
OWN_STEPS = (Status.SUBMITTED, Status.WITHDRAWN)
# (kind, status it starts from, decision) -> status it ends in
TRANSITIONS: dict[tuple[Kind, Status, str], Status] = {
    (Kind.REGISTRATION, Status.SUBMITTED, "approve"): Status.APPROVED,
    (Kind.REGISTRATION, Status.SUBMITTED, "reject"): Status.REJECTED,
    # an authorisation request: reject 不予受理 (materials incomplete), deny 未通过 (not valid)
    (Kind.AUTHORISATION, Status.SUBMITTED, "approve"): Status.APPROVED,
    (Kind.AUTHORISATION, Status.SUBMITTED, "reject"): Status.REJECTED,
    (Kind.AUTHORISATION, Status.SUBMITTED, "deny"): Status.DENIED,
    **{
        transition: target
        for kind in (Kind.REPAIR, Kind.OBJECTION)
        for transition, target in {
            (kind, Status.SUBMITTED, "accept"): Status.ACCEPTED,
            (kind, Status.SUBMITTED, "reject"): Status.REJECTED,
            (kind, Status.ACCEPTED, "approve"): Status.APPROVED,
            (kind, Status.ACCEPTED, "deny"): Status.DENIED,
        }.items()
    },
    # 补正: asking for more documents stops the clock (config/applications.toml [supplement])
    **{(kind, Status.SUBMITTED, "supplement"): Status.SUPPLEMENTING for kind in Kind},
    (Kind.REPAIR, Status.ACCEPTED, "supplement"): Status.SUPPLEMENTING,
    (Kind.OBJECTION, Status.ACCEPTED, "supplement"): Status.SUPPLEMENTING,
}
NEGATIVE_TARGETS = (Status.REJECTED, Status.DENIED)
CORRECTABLE_FIELDS = ("title", "authority", "decided_on")
DECIDER_ROLE = "reviewer"
# The unit the decisions are made in: audit entries name it, the platform export says it.
REVIEWER_UNIT = "阿拉善盟信用中心"
QUEUE_ROLES = ("reviewer", "admin")
PAGE_SIZE = 20


# -- who may act on what -------------------------------------------------------------------


async def own_record(session: Session, record_id: str | int) -> Record:
    """Someone else's record is "not found", so ids reveal nothing."""
    record = await Record.get_or_none(id=path_id(record_id, "记录不存在", "RECORD_NOT_FOUND"))
    if record is None or record.subject_id not in await acting_subject_ids(session):
        raise NotFound("记录不存在", code="RECORD_NOT_FOUND")
    return record


async def _subject_kind(record: Record) -> str:
    subject = await Subject.get(id=record.subject_id).only("id", "kind")
    return str(subject.kind)


async def _own_application(session: Session, kind: Kind, application_id: str) -> Application:
    found = await Application.get_or_none(
        id=path_id(application_id, "申请不存在", "APPLICATION_NOT_FOUND"),
        kind=kind,
        applicant_id=session.user_id,
    )
    if found is None:
        raise NotFound("申请不存在", code="APPLICATION_NOT_FOUND")
    return found


# -- submitting ------------------------------------------------------------------------------


async def submit_registration(
    rt: Runtime,
    session: Session,
    *,
    subject_uscc: str | None,
    category: str,
    title: str,
    content: str,
    attachments: list[int],
) -> dict[str, Any]:
    rules = default_rules()
    if category not in rules.categories:
        raise Invalid("注册类别无效", fields={"category": "可选：" + "、".join(rules.categories)})
    subject = await acting_subject(session, subject_uscc)
    attachment_ids = await owned_upload_ids(session, attachments)
    openid = await _openid(session.user_id)
    moderation = await moderate(
        rt, openid, {"title": title, "content": content}, rules.moderation_scene
    )
    application = await _create(
        rules,
        session,
        kind=Kind.REGISTRATION,
        subject_id=subject.id,
        record=None,
        subject_line=title,
        category=category,
        title=title,
        text=content,
        moderation=moderation,
        attachments=attachment_ids,
    )
    return _receipt(application)


async def repair_eligibility_of(session: Session, record_id: str) -> dict[str, object]:
    record = await own_record(session, record_id)
    has_open = await Application.exists(open_key=_open_key(record.id))
    kind = await _subject_kind(record)
    return repair_eligibility(record, kind, today(), has_open=has_open).as_dict()


async def submit_repair(
    rt: Runtime,
    session: Session,
    *,
    record_id: int,
    reason: str,
    commitment_accepted: bool,
    attachments: list[int],
    proofs: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """`proofs`: proof code -> the uploads that show it (config/applications.toml)."""
    rules = default_rules()
    proofs = proofs or {}
    if not commitment_accepted:
        raise Invalid(
            "请阅读并同意信用承诺书",
            code="COMMITMENT_REQUIRED",
            fields={"commitment_accepted": "须同意信用承诺书"},
        )
    record = await own_record(session, record_id)
    has_open = await Application.exists(open_key=_open_key(record.id))
    eligibility = repair_eligibility(
        record, await _subject_kind(record), today(), rules, has_open=has_open
    )
    if has_open:
        raise Conflict(eligibility.reason, code="APPLICATION_EXISTS")
    if eligibility.eligible and eligibility.channel == "gsxt":
        raise Conflict(f"{eligibility.reason}：{rules.gsxt_url}", code="REPAIR_CHANNEL_GSXT")
    if not eligibility.eligible:
        raise Conflict(eligibility.reason, code="REPAIR_NOT_ELIGIBLE")
    _require_proofs(rules, record, proofs)
    proof_ids = [upload for uploads in proofs.values() for upload in uploads]
    application = await _file_about_record(
        rt,
        rules,
        session,
        Kind.REPAIR,
        record,
        reason,
        list(dict.fromkeys([*attachments, *proof_ids])),  # the reviewer sees them all
        proofs={code: uploads for code, uploads in proofs.items() if uploads},
        commitment_version=rules.commitment_version,
        commitment_hash=rules.commitment_hash,
        commitment_accepted_at=datetime.now(UTC),
    )
    return _receipt(application)


def _require_proofs(rules: ApplicationRules, record: Record, proofs: dict[str, list[int]]) -> None:
    """422 naming each proof the record's repair needs and the request lacks."""
    unknown = sorted(set(proofs) - set(rules.proofs.labels))
    if unknown:
        raise Invalid(
            "未知的证明材料类型", fields={"proofs": f"未知的证明材料类型：{'、'.join(unknown)}"}
        )
    missing = [code for code in rules.proofs.required(record) if not proofs.get(code)]
    if missing:
        labels = [rules.proofs.labels[code] for code in missing]
        raise Invalid(
            f"缺少修复证明材料：{'、'.join(labels)}",
            code="PROOF_REQUIRED",
            fields={f"proofs.{code}": f"须上传{rules.proofs.labels[code]}" for code in missing},
        )


async def submit_objection(
    rt: Runtime,
    session: Session,
    *,
    record_id: int,
    reason: str,
    attachments: list[int],
    new_facts: str | None = None,
) -> dict[str, Any]:
    """A record decided on once stays decided unless the subject brings new facts: a second
    objection without them is refused, with them it reaches the reviewer marked as a repeat (who
    may reject it as 重复异议 without examining it again)."""
    rules = default_rules()
    record = await own_record(session, record_id)
    if await Application.exists(open_key=_open_key(record.id)):
        raise Conflict("该记录已有正在办理的申请", code="APPLICATION_EXISTS")
    if record.status != RecordStatus.PUBLISHED or not record.shared:
        raise Conflict("该记录当前未在公示，不能提出异议", code="OBJECTION_NOT_ALLOWED")
    decided = (
        await Application.filter(
            record_id=record.id, kind=Kind.OBJECTION, status__in=[Status.APPROVED, Status.DENIED]
        )
        .order_by("-id")
        .first()
    )
    if decided is not None and not (new_facts or "").strip():
        raise Invalid(
            "该记录的异议已有处理结论，再次提出异议须说明新的事实和理由",
            code="NEW_FACTS_REQUIRED",
            fields={"new_facts": "须说明新的事实和理由"},
        )
    application = await _file_about_record(
        rt, rules, session, Kind.OBJECTION, record, reason, attachments,
        moderated={"new_facts": new_facts} if decided is not None and new_facts else {},
        new_facts=new_facts if decided is not None else None,
        repeat_of=decided.id if decided is not None else None,
    )  # fmt: skip
    await invalidate_subjects(rt.redis, rt.keys, {application.subject_id})
    return _receipt(application)


async def _file_about_record(
    rt: Runtime,
    rules: ApplicationRules,
    session: Session,
    kind: Kind,
    record: Record,
    reason: str,
    attachments: list[int],
    *,
    moderated: dict[str, str] | None = None,
    **values: Any,
) -> Application:
    """A repair or an objection, once its own rules have passed: the reason (and any other
    `moderated` text) through content security, the caller's own attachments."""
    attachment_ids = await owned_upload_ids(session, attachments)
    openid = await _openid(session.user_id)
    texts = {"reason": reason} | (moderated or {})
    moderation = await moderate(rt, openid, texts, rules.moderation_scene)
    return await _create(
        rules,
        session,
        kind=kind,
        subject_id=record.subject_id,
        record=record,
        subject_line=record.title,
        text=reason,
        moderation=moderation,
        attachments=attachment_ids,
        **values,
    )


async def submit_authorisation(
    session: Session,
    subject: Subject,
    *,
    power_of_attorney_upload_id: int,
    licence_upload_id: int,
) -> Application:
    """A request to act for `subject` (a market entity the caller is not the legal representative
    of): the 授权委托书 and the 营业执照, both the caller's own uploads, for a reviewer to check.
    One open request per user and entity; approval makes the operator link (`_apply`)."""
    rules = default_rules()
    if power_of_attorney_upload_id == licence_upload_id:
        raise Invalid(
            "授权委托书和营业执照须分别上传",
            fields={"licence_upload_id": "不能与授权委托书是同一文件"},
        )
    attachments = await owned_upload_ids(session, [power_of_attorney_upload_id, licence_upload_id])
    open_key = _authorisation_key(subject.id, session.user_id)
    if await Application.exists(open_key=open_key):
        raise Conflict("您已提交该企业的授权申请，请等待审核", code="APPLICATION_EXISTS")
    return await _create(
        rules,
        session,
        kind=Kind.AUTHORISATION,
        subject_id=subject.id,
        record=None,
        subject_line=subject.name,
        open_key=open_key,
        title=subject.name[:100],
        text=f"申请代{subject.name}办理信用事务",
        attachments=attachments,
    )


def _open_key(record_id: int) -> str:
    return f"record:{record_id}"


def _authorisation_key(subject_id: int, user_id: int) -> str:
    return f"authorisation:{subject_id}:{user_id}"


def _receipt(application: Application) -> dict[str, Any]:
    return {
        "id": application.id,
        "status": str(application.status),
        "due_on": application.due_on.isoformat(),
        "due_estimated": due_estimated(application.due_on),
    }


async def _openid(user_id: int) -> str:
    return (await User.get(id=user_id)).openid


async def _create(
    rules: ApplicationRules,
    session: Session,
    *,
    kind: Kind,
    subject_id: int,
    record: Record | None,
    subject_line: str,
    open_key: str | None = None,
    **values: Any,
) -> Application:
    due_on = default_calendar().add_working_days(today(), rules.due_working_days[kind])
    try:
        async with in_transaction():
            application = await Application.create(
                kind=kind,
                status=Status.SUBMITTED,
                applicant_id=session.user_id,
                subject_id=subject_id,
                record_id=record.id if record else None,
                open_key=_open_key(record.id) if record else open_key,
                due_on=due_on,
                **values,
            )
            if kind == Kind.OBJECTION and record is not None:
                marked = await Record.filter(id=record.id, status=RecordStatus.PUBLISHED).update(
                    status=RecordStatus.UNDER_OBJECTION
                )
                if marked != 1:
                    raise Conflict("该记录当前未在公示，不能提出异议", code="OBJECTION_NOT_ALLOWED")
            await _log_change(
                application, Status.SUBMITTED, session.user_id, "applicant", None,
                subject_line=subject_line,
            )  # fmt: skip
    except IntegrityError as exc:  # the open_key of a racing submission won
        raise Conflict("该记录已有正在办理的申请，请勿重复提交", code="APPLICATION_EXISTS") from exc
    return application


async def _log_change(
    application: Application,
    status: Status,
    actor_user_id: int,
    actor_role: str,
    note: str | None,
    *,
    subject_line: str,
    notify: bool = True,
) -> None:
    """The history row and, for a decision, the applicant's notification (message centre and
    WeChat), in the caller's transaction. The applicant's own steps (submitting, withdrawing)
    send nothing: a one-time subscription is one message, kept for the decision."""
    now = datetime.now(UTC)
    await ApplicationEvent.create(
        application_id=application.id,
        at=now,
        status=status,
        actor_user_id=actor_user_id,
        actor_role=actor_role,
        note=note,
    )
    if status in OWN_STEPS or not notify:
        return
    await _notify_applicant(application, STATUS_LABELS[status], note or DEFAULT_NOTES[status],
                            subject_line, now)  # fmt: skip


async def _notify_applicant(
    application: Application,
    status_label: str,
    note: str,
    subject_line: str,
    at: datetime,
    dedupe_key: str | None = None,
) -> None:
    title = f"{KIND_LABELS[application.kind]}：{subject_line}"
    await notifications.notify(
        application.applicant_id,
        "application_status",
        {
            "title": title,
            "status": status_label,
            "time": shanghai_minute(at),
            "note": note,
        },
        title=f"{title}（{status_label}）",
        content=note,
        page_query=f"kind={application.kind}&id={application.id}",
        dedupe_key=dedupe_key,
    )


OVERDUE_LABEL = "已超期"


async def notify_overdue_repairs(on: date | None = None) -> int:
    """The repair deadline passing: an open repair whose due date is over tells its applicant,
    once (a periodic check, server/app.py; the notification's dedupe key makes it once across
    workers and runs). Returns how many were told now."""
    on = on or today()
    overdue = await Application.filter(
        kind=Kind.REPAIR, status__in=list(CLOCK_RUNNING), due_on__lt=on
    ).order_by("id")
    told = 0
    for application in overdue:
        key = f"repair-overdue:{application.id}"
        if await OutboxMessage.exists(dedupe_key=key):
            continue
        note = f"已超过办理期限（{application.due_on.isoformat()}），信用中心将尽快办理"
        await _notify_applicant(
            application, OVERDUE_LABEL, note, await _subject_line(application),
            datetime.now(UTC), dedupe_key=key,
        )  # fmt: skip
        told += 1
    return told


# -- withdrawing and deciding -------------------------------------------------------------------


async def withdraw(
    rt: Runtime, session: Session, kind: Kind, application_id: str
) -> dict[str, Any]:
    application = await _own_application(session, kind, application_id)
    subject_line = await _subject_line(application)
    now = datetime.now(UTC)
    async with in_transaction():
        changed = await Application.filter(id=application.id, status__in=OPEN_STATUSES).update(
            status=Status.WITHDRAWN, open_key=None, updated_at=now
        )
        if changed != 1:
            raise Conflict("该申请已办结，不能撤回", code="APPLICATION_CLOSED")
        if kind == Kind.OBJECTION:
            await _end_objection(_record_of(application))
        await _log_change(
            application, Status.WITHDRAWN, session.user_id, "applicant", None,
            subject_line=subject_line,
        )  # fmt: skip
    if kind == Kind.OBJECTION:
        await invalidate_subjects(rt.redis, rt.keys, {application.subject_id})
    return await application_detail(session, kind, str(application.id))


async def decide(
    rt: Runtime,
    session: Session,
    kind: Kind,
    application_id: str,
    *,
    decision: str,
    note: str | None,
    outcome: str | None,
    correction: dict[str, str] | None,
    channel: str,
) -> dict[str, Any]:
    rules = default_rules()
    application = await Application.get_or_none(
        id=path_id(application_id, "申请不存在", "APPLICATION_NOT_FOUND"), kind=kind
    )
    if application is None:
        raise NotFound("申请不存在", code="APPLICATION_NOT_FOUND")
    target = _target(application, decision)
    objection_outcome = _objection_outcome(kind, target, outcome, correction)
    if target in NEGATIVE_TARGETS and not (note or "").strip():
        raise Invalid("请填写理由，申请人将看到它", fields={"note": "不予受理或不通过时必填"})
    if target == Status.SUPPLEMENTING and not (note or "").strip():
        raise Invalid("请写明需要补正的材料，申请人将看到它", fields={"note": "要求补正时必填"})
    subject_line = await _subject_line(application)
    now = datetime.now(UTC)
    final = target not in OPEN_STATUSES
    values: dict[str, Any] = {}
    if target == Status.SUPPLEMENTING:
        calendar = default_calendar()
        on = today()
        values = {
            "supplement_from": application.status,
            # the clock stops: what the deadline had left, resumed when the applicant answers
            "supplement_days_left": calendar.working_days_between(on, application.due_on),
            "supplement_due_on": calendar.add_working_days(on, rules.supplement_working_days),
        }
    elif application.status == Status.SUPPLEMENTING:
        values = {"supplement_from": None, "supplement_days_left": None}
    async with in_transaction():
        changed = await Application.filter(id=application.id, status=application.status).update(
            status=target,
            open_key=None if final else application.open_key,
            decided_by=session.user_id,
            decided_at=now,
            decision_note=note,
            outcome=objection_outcome,
            updated_at=now,
            **values,
        )
        if changed != 1:
            raise Conflict(
                "该申请已被其他审核人员处理，请刷新后查看", code="APPLICATION_STATE_CHANGED"
            )
        record_changed = await _apply(rules, application, target, objection_outcome, correction)
        await _log_change(
            application, target, session.user_id, DECIDER_ROLE,
            _applicant_note(note, objection_outcome), subject_line=subject_line,
        )  # fmt: skip
    if record_changed:
        await invalidate_subjects(rt.redis, rt.keys, {application.subject_id})
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action=f"{kind}.{decision}",
            actor_kind="reviewer",
            actor_role=DECIDER_ROLE,
            actor_org=REVIEWER_UNIT,
            purpose=f"{KIND_LABELS[kind]}审核",
            channel=channel,
            actor_user_id=session.user_id,
            subject_id=application.subject_id,
            detail={
                "application_id": application.id,
                "record_id": application.record_id,
                "status": str(target),
                "outcome": str(objection_outcome) if objection_outcome else None,
            },
        ),
    )
    return await review_detail(rt, session, kind, str(application.id), channel=channel, audit=False)


def allowed_decisions(application: Application) -> list[str]:
    """The decisions a reviewer may make now, in DECISIONS order (the console offers these)."""
    allowed = []
    for decision in DECISIONS:
        try:
            _target(application, decision)
        except Conflict:
            continue
        allowed.append(decision)
    return allowed


def _target(application: Application, decision: str) -> Status:
    """The status `decision` leads to from the application's, or 409 saying why not. While the
    applicant is asked to 补正, only they move it, until their deadline has passed: then the
    reviewer may close it with the negative decision of the state it was asked from."""
    status = application.status
    if status == Status.SUPPLEMENTING:
        due = application.supplement_due_on
        if due is not None and due >= today():
            raise Conflict(
                f"已要求申请人补正材料，补正期限 {due.isoformat()} 前不能作出决定",
                code="SUPPLEMENT_PENDING",
            )
        origin = application.supplement_from or Status.SUBMITTED
        target = TRANSITIONS.get((application.kind, origin, decision))
        if target in NEGATIVE_TARGETS:
            return target
        raise Conflict(
            "申请人未在期限内补正，只能作出不予受理或不通过的决定", code="DECISION_NOT_ALLOWED"
        )
    found = TRANSITIONS.get((application.kind, status, decision))
    if found is None:
        if status not in OPEN_STATUSES:
            raise Conflict("该申请已办结，不能再作决定", code="APPLICATION_CLOSED")
        raise Conflict(
            f"申请当前为“{STATUS_LABELS[status]}”，不能作出此决定",
            code="DECISION_NOT_ALLOWED",
        )
    return found


def is_overdue(application: Application) -> bool:
    """Past its due date with the clock running (a 补正 request stops it)."""
    return application.status in CLOCK_RUNNING and application.due_on < today()


async def answer_supplement(
    rt: Runtime,
    session: Session,
    kind: Kind,
    application_id: str,
    *,
    note: str,
    attachments: list[int],
) -> dict[str, Any]:
    """The applicant's answer to a 补正 request: the documents (their own uploads) and a note,
    within their deadline. The application returns to the state it was asked from and its
    deadline resumes with the working days it had left."""
    rules = default_rules()
    application = await _own_application(session, kind, application_id)
    if application.status != Status.SUPPLEMENTING:
        raise Conflict("该申请当前无需补正材料", code="SUPPLEMENT_NOT_REQUESTED")
    on = today()
    if application.supplement_due_on is not None and application.supplement_due_on < on:
        raise Conflict(
            f"补正期限 {application.supplement_due_on.isoformat()} 已过，请联系信用中心",
            code="SUPPLEMENT_DEADLINE_PASSED",
        )
    attachment_ids = await owned_upload_ids(session, attachments)
    moderation = await moderate(
        rt, await _openid(session.user_id), {"note": note}, rules.moderation_scene
    )
    origin = application.supplement_from or Status.SUBMITTED
    due_on = default_calendar().add_working_days(on, application.supplement_days_left or 0)
    subject_line = await _subject_line(application)
    values: dict[str, Any] = {}
    if moderation == Moderation.REVIEW:
        values["moderation"] = Moderation.REVIEW
    async with in_transaction():
        changed = await Application.filter(id=application.id, status=Status.SUPPLEMENTING).update(
            status=origin,
            due_on=due_on,
            attachments=list(dict.fromkeys([*application.attachments, *attachment_ids])),
            supplement_from=None,
            supplement_days_left=None,
            supplement_due_on=None,
            updated_at=datetime.now(UTC),
            **values,
        )
        if changed != 1:
            raise Conflict("该申请状态已变化，请刷新后查看", code="APPLICATION_STATE_CHANGED")
        await _log_change(
            application, origin, session.user_id, "applicant", f"已补正：{note}"[:500],
            subject_line=subject_line, notify=False,
        )  # fmt: skip
    return await application_detail(session, kind, str(application.id))


def _objection_outcome(
    kind: Kind, target: Status, outcome: str | None, correction: dict[str, str] | None
) -> ObjectionOutcome | None:
    if kind != Kind.OBJECTION or target not in (Status.APPROVED, Status.DENIED):
        return None
    if target == Status.DENIED:
        return ObjectionOutcome.UPHELD
    if outcome not in (ObjectionOutcome.CORRECTED, ObjectionOutcome.REVOKED):
        raise Invalid(
            "异议成立时须选择处理结果",
            fields={"outcome": "可选：corrected（更正）、revoked（撤销）"},
        )
    if outcome == ObjectionOutcome.CORRECTED and not correction:
        raise Invalid(
            "更正记录时须提供更正后的内容",
            fields={"correction": "可更正：" + "、".join(CORRECTABLE_FIELDS)},
        )
    return ObjectionOutcome(outcome)


def _applicant_note(note: str | None, outcome: ObjectionOutcome | None) -> str | None:
    if outcome is None:
        return note
    return f"{OUTCOME_LABELS[outcome]}；{note}" if note else OUTCOME_LABELS[outcome]


def _record_of(application: Application) -> int:
    """The record a repair or an objection is about (a registration has none)."""
    if application.record_id is None:
        raise ValueError(f"application {application.id} ({application.kind}) names no record")
    return application.record_id


async def _apply(
    rules: ApplicationRules,
    application: Application,
    target: Status,
    outcome: ObjectionOutcome | None,
    correction: dict[str, str] | None,
) -> bool:
    """The change an approval or denial makes to the credit store; True when a view changes."""
    if application.kind == Kind.AUTHORISATION:
        if target == Status.APPROVED:
            await link_operator(
                application.applicant_id,
                application.subject_id,
                OperatorBasis.POWER_OF_ATTORNEY,
                application.id,
            )
        return False
    if application.kind == Kind.REGISTRATION:
        if target == Status.APPROVED:
            await _publish_registration(rules, application)
            return True
        return False
    record_id = _record_of(application)
    if application.kind == Kind.REPAIR:
        if target != Status.APPROVED:
            return False
        repaired = await Record.filter(id=record_id, status=RecordStatus.PUBLISHED).update(
            status=RecordStatus.REPAIRED, shared=False
        )
        if repaired != 1:
            raise Conflict("该记录状态已变化，无法修复，请刷新后查看", code="RECORD_STATE_CHANGED")
        return True
    # objection
    if target in OPEN_STATUSES:
        return False
    if outcome == ObjectionOutcome.REVOKED:
        await _end_objection(record_id, status=RecordStatus.REVOKED, shared=False)
    elif outcome == ObjectionOutcome.CORRECTED:
        await _correct(record_id, application.id, correction or {})
    else:
        await _end_objection(record_id)
    return True


async def _end_objection(
    record_id: int, *, status: RecordStatus = RecordStatus.PUBLISHED, shared: bool = True
) -> None:
    changed = await Record.filter(id=record_id, status=RecordStatus.UNDER_OBJECTION).update(
        status=status, shared=shared
    )
    if changed != 1:
        raise Conflict("该记录状态已变化，请刷新后查看", code="RECORD_STATE_CHANGED")


async def _correct(record_id: int, application_id: int, correction: dict[str, str]) -> None:
    """Corrects the fields in place and keeps what they were in the record's details."""
    record = await Record.get(id=record_id)
    before: dict[str, str] = {}
    for name, value in correction.items():
        before[name] = str(getattr(record, name))
        setattr(record, name, date.fromisoformat(value) if name == "decided_on" else value)
    details = dict(record.details or {})
    details["corrections"] = [
        *details.get("corrections", []),
        {"application_id": application_id, "at": today().isoformat(), "before": before},
    ]
    record.details = details
    await record.save(update_fields=[*correction, "details"])
    await _end_objection(record_id)


async def _publish_registration(rules: ApplicationRules, application: Application) -> None:
    category = rules.categories[str(application.category)]
    record = await Record.create(
        subject_id=application.subject_id,
        record_class=category.record_class,
        type=RecordType.REGISTRATION,
        title=f"{category.label}：{application.title}",
        decided_on=today(),
        source=RecordSource.SELF_REGISTERED,
        authority="自愿注册（阿拉善盟信用中心审核）",
        document_no=f"自愿注册第{application.id}号",
        natural_key=f"registration|{application.id}",
        content_hash=f"registration|{application.id}",
        details={"category": category.code, "content": application.text},
    )
    await Application.filter(id=application.id).update(result_record_id=record.id)


async def _subject_line(application: Application) -> str:
    if application.record_id is None:
        return application.title or ""
    record = await Record.get(id=application.record_id)
    return record.title


# -- reading ---------------------------------------------------------------------------------


async def my_applications(session: Session, kind: Kind, cursor: str | None) -> dict[str, Any]:
    query = Application.filter(kind=kind, applicant_id=session.user_id)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1).prefetch_related("record")
    return page(rows, PAGE_SIZE, _summary)


async def application_detail(session: Session, kind: Kind, application_id: str) -> dict[str, Any]:
    application = await _own_application(session, kind, application_id)
    await application.fetch_related("record")
    return await _with_history(application, _summary(application), reviewer=False)


async def review_queue(
    kind: Kind,
    *,
    status: str | None,
    overdue: bool,
    held_for_review: bool,
    cursor: str | None,
) -> dict[str, Any]:
    """Oldest first, so the queue is worked in order of arrival."""
    query = Application.filter(kind=kind)
    if status:
        query = query.filter(status=status_filter(Status, status))
    if overdue:
        query = query.filter(status__in=list(CLOCK_RUNNING), due_on__lt=today())
    if held_for_review:
        query = query.filter(moderation=Moderation.REVIEW)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__gt=after)
    rows = await query.order_by("id").limit(PAGE_SIZE + 1).prefetch_related("record", "subject")
    return page(rows, PAGE_SIZE, _review_summary)


async def queue_counts() -> dict[str, dict[str, int]]:
    """Per kind: applications open, of them overdue (clock running, past due) and waiting for
    a 补正 answer; the console's at-a-glance view of the queues."""
    on = today()
    counts: dict[str, dict[str, int]] = {}
    for kind in Kind:
        open_query = Application.filter(kind=kind, status__in=list(OPEN_STATUSES))
        counts[str(kind)] = {
            "open": await open_query.count(),
            "overdue": await Application.filter(
                kind=kind, status__in=list(CLOCK_RUNNING), due_on__lt=on
            ).count(),
            "supplementing": await Application.filter(
                kind=kind, status=Status.SUPPLEMENTING
            ).count(),
        }
    return counts


async def review_detail(
    rt: Runtime,
    session: Session,
    kind: Kind,
    application_id: str,
    *,
    channel: str,
    audit: bool = True,
) -> dict[str, Any]:
    """A reviewer reading an application reads the subject's credit data: it is audited."""
    application = await Application.get_or_none(
        id=path_id(application_id, "申请不存在", "APPLICATION_NOT_FOUND"), kind=kind
    )
    if application is None:
        raise NotFound("申请不存在", code="APPLICATION_NOT_FOUND")
    await application.fetch_related("record", "subject")
    if audit:
        # credit.read: listed in the subject's "who read my record"
        await _audit_review_read(rt, session, "credit.read", application, kind, channel)
    shaped = _review_summary(application)
    shaped["decisions"] = allowed_decisions(application)  # what the reviewer may do now
    shaped["subject"] = subject_json(application.subject, rt.cipher)
    if kind == Kind.AUTHORISATION:
        # The reviewer compares it with the power of attorney: the name itself (audited above).
        shaped["subject"]["legal_representative"] = legal_representative_name(
            application.subject, rt.cipher
        )
        shaped["applicant"] = await _applicant_identity(
            rt, session, application, channel=channel, audit=audit
        )
    return await _with_history(application, shaped, reviewer=True)


async def _audit_review_read(
    rt: Runtime,
    session: Session,
    action: str,
    application: Application,
    kind: Kind,
    channel: str,
    subject_id: int | None = None,
) -> None:
    """A reviewer read data of `subject_id` (default: the application's subject) to review it."""
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action=action,
            actor_kind="reviewer",
            actor_role=DECIDER_ROLE if session.has_role(DECIDER_ROLE) else "admin",
            actor_org=REVIEWER_UNIT,
            purpose=f"{KIND_LABELS[kind]}审核",
            channel=channel,
            actor_user_id=session.user_id,
            subject_id=subject_id if subject_id is not None else application.subject_id,
            detail={"application_id": application.id},
        ),
    )


async def _applicant_identity(
    rt: Runtime, session: Session, application: Application, *, channel: str, audit: bool
) -> dict[str, str] | None:
    """Who asks to act for the entity, masked, so the reviewer can hold it against the 授权委托书's
    受托人; reading it is a read of the applicant's personal data, audited as such."""
    binding = await IdentityBinding.get_or_none(user_id=application.applicant_id)
    if binding is None:
        return None
    person = await Subject.get(id=binding.subject_id)
    id_number = (
        rt.cipher.decrypt(person.id_number_enc, ID_NUMBER_FIELD) if person.id_number_enc else ""
    )
    if audit:
        await _audit_review_read(
            rt, session, "identity.read", application, Kind.AUTHORISATION, channel, person.id
        )
    return {"name_masked": mask_name(person.name), "id_number_masked": mask_id_number(id_number)}


def _summary(application: Application) -> dict[str, Any]:
    record = application.record
    shaped: dict[str, Any] = {
        "id": application.id,
        "kind": str(application.kind),
        "status": str(application.status),
        "status_label": STATUS_LABELS[application.status],
        "due_on": application.due_on.isoformat(),
        "due_estimated": due_estimated(application.due_on),
        "created_at": shanghai_iso(application.created_at),
        "decided_at": shanghai_iso(application.decided_at),
        "note": application.decision_note,
        "attachments": list(application.attachments or []),
        "supplement": (
            {
                "due_on": application.supplement_due_on.isoformat()
                if application.supplement_due_on
                else None,
                "note": application.decision_note,
                "days_left": application.supplement_days_left,
            }
            if application.status == Status.SUPPLEMENTING
            else None
        ),
    }
    if application.kind == Kind.REGISTRATION:
        shaped.update(
            category=application.category, title=application.title, content=application.text
        )
        shaped["record_id"] = application.result_record_id
    elif application.kind == Kind.AUTHORISATION:
        power_of_attorney, licence = [*application.attachments, None, None][:2]
        shaped.update(
            enterprise=application.title,
            power_of_attorney_upload_id=power_of_attorney,
            licence_upload_id=licence,
        )
    else:
        shaped["reason"] = application.text
        shaped["record"] = (
            {"id": record.id, "title": record.title, "type": str(record.type)} if record else None
        )
    if application.kind == Kind.OBJECTION:
        shaped["outcome"] = str(application.outcome) if application.outcome else None
        shaped["new_facts"] = application.new_facts
        shaped["repeat_of"] = application.repeat_of  # the objection decided before, if any
    if application.kind == Kind.REPAIR:
        shaped["commitment"] = {
            "version": application.commitment_version,
            "accepted_at": shanghai_iso(application.commitment_accepted_at),
        }
        labels = default_rules().proofs.labels
        shaped["proofs"] = [
            {"code": code, "label": labels.get(code, code), "attachments": uploads}
            for code, uploads in (application.proofs or {}).items()
        ]
    return shaped


def _review_summary(application: Application) -> dict[str, Any]:
    shaped = _summary(application)
    shaped["moderation"] = str(application.moderation)
    shaped["overdue"] = is_overdue(application)
    return shaped


async def _with_history(
    application: Application, shaped: dict[str, Any], *, reviewer: bool
) -> dict[str, Any]:
    events = await ApplicationEvent.filter(application_id=application.id).order_by("at", "id")
    shaped["history"] = [
        {"at": shanghai_iso(event.at), "status": str(event.status), "note": event.note}
        | ({"actor_role": event.actor_role} if reviewer else {})
        for event in events
    ]
    return shaped
