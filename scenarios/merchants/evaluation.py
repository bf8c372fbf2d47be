"""A merchant's own level (DESIGN.md §4): the subject's credit score from its published records,
plus the signed integrity commitment, minus consumer complaints upheld. Every point is explained.
Computed when a view is built; views are dropped whenever an input changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from credit.calendar_dates import today
from credit.lookup import record_json
from credit.models import Record
from credit.publication import objection_labels
from credit.scoring import default_rules as default_scoring_rules
from credit.scoring import score_subject
from scenarios.merchants.models import Complaint, ComplaintStatus, Merchant
from scenarios.merchants.rules import MerchantGrade, MerchantRules, default_rules


@dataclass(frozen=True)
class Evaluation:
    grade: MerchantGrade
    score: int
    factors: list[dict[str, Any]]
    published: list[Record]
    upheld_complaints: int
    objections: dict[int, dict[str, Any]]  # record id -> its label while an objection is open

    @property
    def level(self) -> dict[str, Any]:
        return self.grade.as_dict(self.score)


async def evaluate(
    merchant: Merchant, rules: MerchantRules | None = None, on: date | None = None
) -> Evaluation:
    rules = rules or default_rules()
    on = on or today()
    scored = await score_subject(merchant.subject_id, "public", on)
    published = scored.shown
    factors = [factor.as_dict() for factor in scored.factors]
    score = scored.level.score
    if merchant.commitment_accepted_at is not None:
        score += rules.commitment_points
        factors.append(
            {"record_id": None, "points": rules.commitment_points, "reason": "已签署诚信经营承诺"}
        )
    since = datetime.now(UTC) - timedelta(days=rules.complaint_window_days)
    upheld = await Complaint.filter(
        merchant_id=merchant.id, status=ComplaintStatus.UPHELD, decided_at__gte=since
    ).count()
    penalty = min(rules.complaint_cap, upheld * rules.complaint_points)
    if penalty:
        score -= penalty
        factors.append(
            {"record_id": None, "points": -penalty, "reason": f"{upheld} 件消费投诉经核实成立"}
        )
    score = max(0, min(1000, score))
    grade = rules.grade_for(score)
    ceiling = default_scoring_rules().ceiling_for(scored.counted)
    if ceiling is not None and rules.grade_named(ceiling.grade).min_score < grade.min_score:
        # A commitment cannot buy a shop a better grade than its records allow (black list,
        # a serious or general penalty): the same ceilings as the credit level.
        grade = rules.grade_named(ceiling.grade)
        factors.append({"record_id": ceiling.record_id, "points": 0, "reason": ceiling.reason})
    return Evaluation(grade, score, factors, published, upheld, await objection_labels(published))


def published_records_json(evaluation: Evaluation, on: date | None = None) -> list[dict[str, Any]]:
    on = on or today()
    # Without "repairable": that is for the subject's own eyes, not for consumers.
    return [
        record_json(record, on, evaluation.objections.get(record.id))
        for record in evaluation.published
    ]
