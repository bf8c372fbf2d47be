"""The transparent, rule-based credit level (DESIGN.md §4), rules from config/scoring.toml.

Every point comes with the record that moved it and why, so a citizen can see the reason."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from credit.models import Record
from credit.publication import Audience, counts, is_shown
from infra.db import fetch_models
from infra.settings import read_config


class ScoredRecord(Protocol):
    """What scoring reads of a record (read-only, so a model's enum fields fit)."""

    @property
    def id(self) -> int: ...

    @property
    def type(self) -> str: ...

    @property
    def severity(self) -> str | None: ...


@dataclass(frozen=True)
class Grade:
    grade: str
    label: str
    colour: str
    min_score: int


@dataclass(frozen=True)
class Factor:
    record_id: int | None  # None: not a record (e.g. a merchant's commitment)
    points: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "points": self.points, "reason": self.reason}


@dataclass(frozen=True)
class Ceiling:
    """The best grade a shown record allows, whatever the points (config/scoring.toml [rules])."""

    grade: str
    record_id: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"grade": self.grade, "record_id": self.record_id, "reason": self.reason}


@dataclass(frozen=True)
class Level:
    grade: str
    score: int
    label: str
    colour: str
    ceiling: Ceiling | None = None  # set when a record held the grade below the score's

    def as_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "score": self.score,
            "label": self.label,
            "colour": self.colour,
            "ceiling": self.ceiling.as_dict() if self.ceiling else None,
        }


_CEILING_REASONS = {
    "black_list": "列入严重失信主体名单，信用等级为 {}",
    "penalty.serious": "公示期内有严重失信行政处罚，信用等级最高为 {}",
    "penalty.general": "公示期内有一般失信行政处罚，信用等级最高为 {}",
    "penalty.minor": "公示期内有轻微失信行政处罚，信用等级最高为 {}",
}

_SCORING_KEYS = frozenset({"base_score", "min_score", "max_score", "grades", "points", "rules"})


@dataclass(frozen=True)
class ScoringRules:
    base_score: int
    min_score: int
    max_score: int
    grades: tuple[Grade, ...]
    points: dict[str, Any]
    # record type or penalty severity -> the best grade while such a record is counted
    ceilings: dict[str, str]

    @classmethod
    def load(cls, path: Path | None = None) -> ScoringRules:
        raw = read_config("scoring.toml", path)
        unknown = sorted(set(raw) - _SCORING_KEYS)
        if unknown:  # e.g. a second copy of a rule that lives in another file
            raise ValueError(
                f"config/scoring.toml: 未知的配置项 {', '.join(unknown)}"
                "（公示期限只在 config/records.toml 的 [publication] 中配置）"
            )
        grades = tuple(
            sorted((Grade(**g) for g in raw["grades"]), key=lambda g: g.min_score, reverse=True)
        )
        rules = raw.get("rules", {})
        ceilings: dict[str, str] = {}  # "black_list" or "penalty.<severity>" -> grade
        for kind, value in rules.get("grade_ceilings", {}).items():
            if isinstance(value, dict):
                ceilings.update({f"{kind}.{severity}": grade for severity, grade in value.items()})
            else:
                ceilings[kind] = value
        names = {g.grade for g in grades}
        unknown_grades = sorted(set(ceilings.values()) - names)
        if unknown_grades:
            raise ValueError(f"config/scoring.toml: 未知的信用等级 {', '.join(unknown_grades)}")
        unexplained = sorted(set(ceilings) - set(_CEILING_REASONS))
        if unexplained:
            raise ValueError(f"config/scoring.toml: 不支持的等级上限 {', '.join(unexplained)}")
        loaded = cls(
            base_score=raw["base_score"],
            min_score=raw.get("min_score", 0),
            max_score=raw.get("max_score", 1000),
            grades=grades,
            points=raw["points"],
            ceilings=ceilings,
        )
        loaded._check_self_registered_cap(rules.get("self_registered_max_grade"))
        return loaded

    def _check_self_registered_cap(self, max_grade: str | None) -> None:
        """Self-registered information alone must not lift a subject above `max_grade`: the
        base plus the registration rule's cap has to stay below the next grade up."""
        if max_grade is None:
            return
        above = [g for g in self.grades if g.min_score > self.grade_named(max_grade).min_score]
        cap = self.points.get("registration", {}).get("cap")
        if above and (cap is None or self.base_score + int(cap) >= above[-1].min_score):
            raise ValueError(
                "config/scoring.toml: 自愿注册信息的加分上限（points.registration.cap）"
                f"须使基础分加上限低于 {above[-1].grade} 级的最低分 {above[-1].min_score}"
            )

    def grade_for(self, score: int) -> Grade:
        for grade in self.grades:
            if score >= grade.min_score:
                return grade
        return self.grades[-1]

    def grade_named(self, name: str) -> Grade:
        return next(g for g in self.grades if g.grade == name)

    def _rule(self, record: ScoredRecord) -> dict[str, Any] | None:
        rule: dict[str, Any] | None = self.points.get(record.type)
        if rule is None:
            return None
        if "points" not in rule:  # per severity, e.g. penalties; none: not dishonesty
            by_severity: dict[str, Any] | None = (
                rule.get(record.severity) if record.severity else None
            )
            return by_severity
        return rule

    def score(self, records: Sequence[ScoredRecord]) -> tuple[Level, list[Factor]]:
        """Score the records that are shown now; the caller decides which those are."""
        factors: list[Factor] = []
        used: dict[str, int] = defaultdict(int)
        for record in sorted(records, key=lambda r: r.id):
            rule = self._rule(record)
            if rule is None:
                continue
            points = int(rule["points"])
            cap = rule.get("cap")
            if cap is not None:
                points = max(0, min(points, int(cap) - used[record.type]))
                if points == 0:
                    continue
                used[record.type] += points
            factors.append(Factor(record.id, points, rule["reason"]))
        total = self.base_score + sum(f.points for f in factors)
        total = max(self.min_score, min(self.max_score, total))
        grade = self.grade_for(total)
        ceiling = self.ceiling_for(records)
        if ceiling is not None and self.grade_named(ceiling.grade).min_score < grade.min_score:
            grade = self.grade_named(ceiling.grade)
            return Level(grade.grade, total, grade.label, grade.colour, ceiling), factors
        return Level(grade.grade, total, grade.label, grade.colour), factors

    def ceiling_for(self, records: Sequence[ScoredRecord]) -> Ceiling | None:
        """The lowest grade any counted record allows (a black-list entry, a serious or a
        general penalty), or None."""
        lowest: Ceiling | None = None
        for record in sorted(records, key=lambda r: r.id):
            key = self._ceiling_key(record)
            if key is None:
                continue
            grade = self.grade_named(self.ceilings[key])
            if lowest is None or grade.min_score < self.grade_named(lowest.grade).min_score:
                lowest = Ceiling(grade.grade, record.id, _CEILING_REASONS[key].format(grade.grade))
        return lowest

    def _ceiling_key(self, record: ScoredRecord) -> str | None:
        """ "black_list" for such an entry; for a penalty "penalty.<severity>"; if configured."""
        key = f"penalty.{record.severity}" if record.type == "penalty" else record.type
        return key if key in self.ceilings else None


@lru_cache(maxsize=1)
def default_rules() -> ScoringRules:
    return ScoringRules.load()


@dataclass(frozen=True)
class SubjectScore:
    shown: list[Record]  # newest first
    counted: list[Record]  # the shown ones that count (published kinds)
    level: Level
    factors: list[Factor]


_RECORDS_OF_SUBJECT = "SELECT * FROM record WHERE subject_id = $1 ORDER BY decided_on DESC, id DESC"


async def score_subject(
    subject_id: int, audience: Audience, on: date, rules: ScoringRules | None = None
) -> SubjectScore:
    """A subject's records, those shown to `audience` on `on`, and their score: the one path
    from records to a level (the credit views, the merchant plate and incentive eligibility)."""
    records = await fetch_models(Record, _RECORDS_OF_SUBJECT, [subject_id])
    shown = [record for record in records if is_shown(record, audience, on)]
    counted = [record for record in shown if counts(record)]
    level, factors = (rules or default_rules()).score(counted)
    return SubjectScore(shown, counted, level, factors)
