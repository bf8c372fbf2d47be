"""Who may get which incentive, with the reason (issue 5 item 2). Read from the subject's records
as the subject sees them (scoring as in GET /me/credit), never from anything the caller sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from credit.acting import operated_subject_ids
from credit.calendar_dates import today
from credit.models import Record, RecordClass, RecordType, Subject
from credit.scoring import Level, score_subject
from infra.security.sessions import Session
from scenarios.incentives.holders import subject_brief
from scenarios.incentives.programmes import GRADES, SCENARIOS, Policy, default_programmes

KIND_LABELS = {"person": "个人", "enterprise": "企业", "individual_business": "个体工商户"}


@dataclass(frozen=True)
class Facts:
    subject_id: int
    kind: str
    level: Level
    honours: frozenset[str]
    serious_dishonesty_on: tuple[date, ...]  # decision dates of shown serious dishonesty

    @property
    def grade(self) -> str:
        return self.level.grade


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    reason: str


def honour_title(record: Record) -> str:
    details = record.details or {}
    title = details.get("荣誉称号") or details.get("title") or record.title.rpartition("：")[2]
    return str(title).strip()


async def holder_facts(subject: Subject, on: date) -> Facts:
    scored = await score_subject(subject.id, "self", on)
    shown = scored.shown
    return Facts(
        subject_id=subject.id,
        kind=str(subject.kind),
        level=scored.level,
        honours=frozenset(honour_title(r) for r in shown if r.type == RecordType.HONOUR),
        serious_dishonesty_on=tuple(
            r.decided_on
            for r in shown
            if r.record_class == RecordClass.SERIOUS_DISHONESTY or r.type == RecordType.BLACK_LIST
        ),
    )


def evaluate(policy: Policy, facts: Facts, on: date) -> Verdict:
    """Every condition of the policy must hold; the first that does not is the reason."""
    if facts.kind not in policy.subject_kinds:
        kinds = "、".join(KIND_LABELS.get(k, k) for k in policy.subject_kinds)
        return Verdict(False, f"该优惠仅面向{kinds}")
    if not policy.active_on(on):
        return Verdict(False, f"优惠不在有效期内（{policy.valid_from} 至 {policy.valid_until}）")
    reasons = []
    if policy.min_grade is not None:
        if GRADES.index(facts.grade) > GRADES.index(policy.min_grade):
            return Verdict(False, f"信用等级须为 {policy.min_grade} 及以上（当前为 {facts.grade}）")
        reasons.append(f"信用等级 {facts.grade}（{facts.level.label}）")
    if policy.honours:
        held = sorted(facts.honours & set(policy.honours))
        if not held:
            return Verdict(False, "须获得以下荣誉称号之一：" + "、".join(policy.honours))
        reasons.append("荣誉称号：" + "、".join(held))
    years = policy.no_serious_dishonesty_years
    if years:
        since = date(on.year - years, on.month, min(on.day, 28))
        if any(day >= since for day in facts.serious_dishonesty_on):
            return Verdict(False, f"{years} 年内有严重失信记录")
        reasons.append(f"{years} 年内无严重失信记录")
    return Verdict(True, "符合条件：" + "，".join(reasons) if reasons else "符合条件")


async def incentives_for(session: Session) -> dict[str, Any]:
    """GET /incentives: for the caller's person and every organisation they operate, each
    policy of a kind they can hold, eligible or not, with the reason."""
    subjects: list[Subject] = []
    if session.subject_id is not None:
        subjects.append(await Subject.get(id=session.subject_id))
    operated = await operated_subject_ids(session)
    subjects += await Subject.filter(id__in=operated).order_by("id")
    on = today()
    items = []
    for subject in subjects:
        facts = await holder_facts(subject, on)
        policies = []
        for policy in default_programmes().policies.values():
            if facts.kind not in policy.subject_kinds:
                continue
            verdict = evaluate(policy, facts, on)
            venue = default_programmes().venues[policy.venue]
            policies.append(
                {
                    "policy_id": policy.id,
                    "scenario": policy.scenario,
                    "scenario_label": SCENARIOS[policy.scenario],
                    "venue": venue.brief() | {"kind": venue.kind},
                    "title": policy.title,
                    "benefit": policy.benefit,
                    "eligible": verdict.eligible,
                    "reason": verdict.reason,
                    "how": "申请" if policy.scenario == "rental" else "出示信用码",
                }
            )
        items.append(
            {
                "holder": subject_brief(subject),
                "level": facts.level.as_dict(),
                "policies": policies,
            }
        )
    return {"items": items, "next": None}
