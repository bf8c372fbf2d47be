"""A merchant's own level (DESIGN.md §4): the subject's credit score from its published records,
plus the signed integrity commitment, minus consumer complaints upheld. Every point is explained.
Computed when a view is built; views are dropped whenever an input changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from credit.calendar_dates import today
from credit.lookup import is_shown, record_json
from credit.models import Record
from credit.scoring import default_rules as default_scoring
from scenarios.merchants.models import Complaint, ComplaintStatus, Merchant
from scenarios.merchants.rules import MerchantGrade, MerchantRules, default_rules


@dataclass(frozen=True)
class Evaluation:
    grade: MerchantGrade
    score: int
    factors: list[dict[str, Any]]
    published: list[Record]
    upheld_complaints: int

    @property
    def level(self) -> dict[str, Any]:
        return self.grade.as_dict(self.score)


async def evaluate(
    merchant: Merchant, rules: MerchantRules | None = None, on: date | None = None
) -> Evaluation:
    rules = rules or default_rules()
    on = on or today()
    records = await Record.filter(subject_id=merchant.subject_id).order_by("-decided_on", "-id")  # type: ignore[attr-defined]
    published = [r for r in records if is_shown(r, "public", on)]
    subject_level, subject_factors = default_scoring().score(published)
    factors: list[dict[str, Any]] = [
        {"record_id": f.record_id, "points": f.points, "reason": f.reason} for f in subject_factors
    ]
    score = subject_level.score
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
    if subject_level.grade == "D" and any(r.type == "black_list" for r in published):
        grade = rules.grades[-1]  # a black-listed subject's shop is never shown as trustworthy
    return Evaluation(grade, score, factors, published, upheld)


def published_records_json(evaluation: Evaluation, on: date | None = None) -> list[dict[str, Any]]:
    on = on or today()
    # Repairability is for the subject's own eyes, not for consumers.
    return [
        {k: v for k, v in record_json(record, on).items() if k != "repairable"}
        for record in evaluation.published
    ]
