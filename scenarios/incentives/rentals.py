"""信易租: an organisation applies for a rental incentive; the provider's staff confirm (a
redemption, with the same limits) or decline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from credit.acting import acting_subject
from credit.calendar_dates import SHANGHAI, shanghai_minute, today
from infra import notifications
from infra.errors import Conflict, Invalid, NotFound
from infra.pagination import page
from infra.params import cursor_id, path_id
from infra.runtime import Runtime
from infra.security.sessions import Session
from scenarios.incentives.eligibility import evaluate, holder_facts
from scenarios.incentives.holders import subject_brief
from scenarios.incentives.models import Redemption, RedemptionSource, RedemptionStatus
from scenarios.incentives.programmes import Policy, policy_or_404
from scenarios.incentives.redemptions import PAGE_SIZE, after_redeem, claim, redemption_json
from scenarios.incentives.staff import require_policy_staff, require_venue_access


async def apply_rental(
    rt: Runtime, session: Session, *, policy_id: str, uscc: str | None, note: str | None
) -> dict[str, Any]:
    policy = policy_or_404(policy_id)
    if policy.scenario != "rental":
        raise Conflict("该优惠须到场出示信用码核验，无需申请", code="NOT_A_RENTAL_POLICY")
    subject = await acting_subject(session, uscc)
    on = today()
    facts = await holder_facts(subject, on)
    verdict = evaluate(policy, facts, on)
    if not verdict.eligible:
        raise Conflict(verdict.reason, code="NOT_ELIGIBLE")
    try:
        application = await Redemption.create(
            policy_id=policy.id, venue_id=policy.venue, scenario=policy.scenario,
            holder_id=subject.id, grade=facts.grade, status=RedemptionStatus.PENDING,
            source=RedemptionSource.RENTAL, applicant_user_id=session.user_id,
            open_key=f"{policy.id}|{subject.id}", note=note,
        )  # fmt: skip
    except IntegrityError as exc:
        raise Conflict("已有待处理的申请，请勿重复提交", code="APPLICATION_EXISTS") from exc
    return redemption_json(application) | {"reason": verdict.reason}


async def venue_rentals(
    rt: Runtime, session: Session, venue_id: str, status: str | None, cursor: str | None
) -> dict[str, Any]:
    venue = await require_venue_access(rt, session, venue_id)
    query = Redemption.filter(venue_id=venue.id, source=RedemptionSource.RENTAL)
    if status:
        if status not in {s.value for s in RedemptionStatus}:
            raise Invalid("状态无效", fields={"status": "可选：pending、redeemed、declined"})
        query = query.filter(status=status)
    after = cursor_id(cursor)
    if after is not None:
        query = query.filter(id__lt=after)
    rows = await query.order_by("-id").limit(PAGE_SIZE + 1).prefetch_related("holder")

    def shape(row: Redemption) -> dict[str, Any]:
        return redemption_json(row) | {
            "holder": subject_brief(row.holder),
            "grade_at_application": row.grade,
            "note": row.note,
        }

    return page(rows, PAGE_SIZE, shape)


async def _notify_applicant(
    application: Redemption, policy: Policy, *, confirmed: bool, note: str | None, at: datetime
) -> None:
    """The operator who applied is told the provider's decision (in its transaction)."""
    if application.applicant_user_id is None:
        return
    label = "已确认" if confirmed else "未通过"
    text = note or ("申请已确认，请按约定办理租赁" if confirmed else "申请未通过，请查看原因")
    await notifications.notify(
        application.applicant_user_id,
        "rental_decision",
        {"title": policy.title, "status": label, "time": shanghai_minute(at), "note": text},
        title=f"信易租申请{label}：{policy.title}",
        content=text,
        page_query=f"id={application.id}",
    )


async def decide_rental(
    rt: Runtime,
    session: Session,
    application_id: str,
    *,
    decision: str,
    note: str | None,
    channel: str,
) -> dict[str, Any]:
    application = await Redemption.get_or_none(
        id=path_id(application_id, "申请不存在", "APPLICATION_NOT_FOUND"),
        source=RedemptionSource.RENTAL,
    )
    if application is None:
        raise NotFound("申请不存在", code="APPLICATION_NOT_FOUND")
    policy = policy_or_404(application.policy_id)
    await require_policy_staff(rt, session, policy)
    now = datetime.now(UTC)
    if decision == "decline":
        async with in_transaction():
            changed = await Redemption.filter(
                id=application.id, status=RedemptionStatus.PENDING
            ).update(
                status=RedemptionStatus.DECLINED, open_key=None, staff_user_id=session.user_id,
                decision_note=note, updated_at=now,
            )  # fmt: skip
            if changed != 1:
                raise Conflict("该申请已处理", code="ALREADY_DECIDED")
            await _notify_applicant(application, policy, confirmed=False, note=note, at=now)
        return redemption_json(await Redemption.get(id=application.id))
    day = now.astimezone(SHANGHAI).date()
    if not policy.active_on(day):
        raise Conflict("该优惠不在有效期内", code="POLICY_NOT_ACTIVE")

    async def confirm(day_slot: str | None, visit_slot: str | None) -> Redemption:
        changed = await Redemption.filter(
            id=application.id, status=RedemptionStatus.PENDING
        ).update(
            status=RedemptionStatus.REDEEMED, open_key=None, staff_user_id=session.user_id,
            day=day, redeemed_at=now, day_slot=day_slot, visit_slot=visit_slot,
            decision_note=note, updated_at=now,
        )  # fmt: skip
        if changed != 1:
            raise Conflict("该申请已处理", code="ALREADY_DECIDED")
        await _notify_applicant(application, policy, confirmed=True, note=note, at=now)
        return await Redemption.get(id=application.id)

    redemption = await claim(
        policy,
        application.holder_id,
        f"rental-{application.id}",
        day,
        confirm,
    )
    await after_redeem(rt, redemption, session.user_id, channel)
    return redemption_json(redemption)
