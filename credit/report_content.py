"""What a credit report says about its subject (issue 13), as plain JSON-able data: the subject
(masked for persons), the level with its factors, every record shown to the subject by class with
its repair and objection history, the completed repairs with their commitments, self-registered
information marked as such, and the 专项 result "近三年有无行政处罚 / 严重失信".

The one path from the store to a report's facts; the report service signs and prints this. It
reads through `score_subject` with the audience "self" (credit/publication.py), so a report never
shows what the subject's own view would not, and nothing of any other subject."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from credit.applications.models import Application, ApplicationKind
from credit.applications.service import KIND_LABELS, OUTCOME_LABELS, STATUS_LABELS
from credit.calendar_dates import add_months, shanghai_iso
from credit.lookup import record_json, repair_history, subject_json
from credit.models import (
    Record,
    RecordClass,
    RecordSource,
    RecordType,
    Severity,
    Subject,
)
from credit.publication import is_published_kind, objection_labels
from credit.scoring import score_subject
from infra.security.crypto import FieldCipher

CLASS_LABELS = {
    RecordClass.BASIC: "基础信息",
    RecordClass.POSITIVE: "增信信息（含荣誉、红名单）",
    RecordClass.GENERAL_DISHONESTY: "一般失信信息",
    RecordClass.SERIOUS_DISHONESTY: "严重失信信息",
    RecordClass.RISK: "风险提示信息",
}
SELF_REGISTERED_LABEL = "自愿注册信息（主体自行提供，经审核）"


@dataclass(frozen=True)
class SpecialRules:
    years: int
    footnote: str


def special_result(shown: list[Record], on: date, rules: SpecialRules) -> dict[str, Any]:
    """近三年有无行政处罚 / 严重失信 over the shown records (config/reports.toml [special] says
    what is counted and why)."""
    since = add_months(on, -12 * rules.years)
    recent = [r for r in shown if r.decided_on >= since]
    penalties = [r for r in recent if r.type == RecordType.PENALTY and r.severity is not None]
    serious = [
        r
        for r in shown
        if r.record_class == RecordClass.SERIOUS_DISHONESTY
        or r.severity == Severity.SERIOUS
        or r.type == RecordType.BLACK_LIST
    ]
    # A black-list entry counts while it is shown, whenever it was decided.
    serious = [r for r in serious if r.decided_on >= since or r.type == RecordType.BLACK_LIST]
    return {
        "years": rules.years,
        "from": since.isoformat(),
        "to": on.isoformat(),
        "penalties": len(penalties),
        "serious": len(serious),
        "penalty_line": f"近{years_text(rules.years)}年有无行政处罚："
        + (f"有（{len(penalties)} 条）" if penalties else "无"),
        "serious_line": f"近{years_text(rules.years)}年有无严重失信："
        + (f"有（{len(serious)} 条）" if serious else "无"),
        "footnote": rules.footnote,
    }


def years_text(years: int) -> str:
    return "一二三四五六七八九十"[years - 1] if 1 <= years <= 10 else str(years)


async def _histories(records: list[Record]) -> dict[int, list[dict[str, Any]]]:
    """record id -> its repair and objection applications, oldest first (statuses, dates and
    outcomes; never the applicant's text, which may name other people)."""
    ids = [r.id for r in records]
    if not ids:
        return {}
    found = await Application.filter(
        record_id__in=ids, kind__in=[ApplicationKind.REPAIR, ApplicationKind.OBJECTION]
    ).order_by("created_at", "id")
    history: dict[int, list[dict[str, Any]]] = {}
    for application in found:
        if application.record_id is None:
            continue
        history.setdefault(application.record_id, []).append(
            {
                "kind": str(application.kind),
                "kind_label": KIND_LABELS[application.kind],
                "status": str(application.status),
                "status_label": STATUS_LABELS[application.status],
                "filed_at": shanghai_iso(application.created_at),
                "decided_at": shanghai_iso(application.decided_at)
                if application.decided_at
                else None,
                "outcome": OUTCOME_LABELS[application.outcome] if application.outcome else None,
            }
        )
    return history


async def report_content(
    subject: Subject, cipher: FieldCipher, on: date, special: SpecialRules
) -> dict[str, Any]:
    """The facts of a report on `on` (a Shanghai date); stable for the same store state, so its
    canonical JSON fingerprints what the report shows."""
    scored = await score_subject(subject.id, "self", on)
    shown = scored.shown
    objections = await objection_labels(shown)
    histories = await _histories(shown)
    grouped: dict[str, list[dict[str, Any]]] = {c.value: [] for c in RecordClass}
    for record in shown:
        shaped = record_json(record, on, objections.get(record.id))
        shaped["self_registered"] = record.source == RecordSource.SELF_REGISTERED
        shaped["published"] = is_published_kind(record)
        shaped["history"] = histories.get(record.id, [])
        shaped["updated_at"] = shanghai_iso(record.updated_at)
        grouped[str(record.record_class)].append(shaped)
    return {
        "subject": subject_json(subject, cipher),
        "level": scored.level.as_dict(),
        "factors": [factor.as_dict() for factor in scored.factors],
        "records": grouped,
        "repairs": await repair_history(subject.id),
        "special": special_result(shown, on, special),
        "as_of": on.isoformat(),
    }
