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
class Level:
    grade: str
    score: int
    label: str
    colour: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "score": self.score,
            "label": self.label,
            "colour": self.colour,
        }


_SCORING_KEYS = frozenset({"base_score", "min_score", "max_score", "grades", "points", "rules"})


@dataclass(frozen=True)
class ScoringRules:
    base_score: int
    min_score: int
    max_score: int
    grades: tuple[Grade, ...]
    points: dict[str, Any]
    black_list_grade: str | None

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
        return cls(
            base_score=raw["base_score"],
            min_score=raw.get("min_score", 0),
            max_score=raw.get("max_score", 1000),
            grades=grades,
            points=raw["points"],
            black_list_grade=raw.get("rules", {}).get("black_list_forces_grade"),
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
        if "points" not in rule:  # per severity, e.g. penalties
            by_severity: dict[str, Any] | None = rule.get(record.severity or "general")
            return by_severity
        return rule

    def score(self, records: Sequence[ScoredRecord]) -> tuple[Level, list[Factor]]:
        """Score the records that are shown now; the caller decides which those are."""
        factors: list[Factor] = []
        used: dict[str, int] = defaultdict(int)
        on_black_list = False
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
            on_black_list = on_black_list or record.type == "black_list"
        total = self.base_score + sum(f.points for f in factors)
        total = max(self.min_score, min(self.max_score, total))
        grade = self.grade_for(total)
        if on_black_list and self.black_list_grade:
            grade = self.grade_named(self.black_list_grade)
        return Level(grade.grade, total, grade.label, grade.colour), factors


@lru_cache(maxsize=1)
def default_rules() -> ScoringRules:
    return ScoringRules.load()


@dataclass(frozen=True)
class SubjectScore:
    shown: list[Record]  # newest first
    level: Level
    factors: list[Factor]


async def score_subject(
    subject_id: int, audience: Audience, on: date, rules: ScoringRules | None = None
) -> SubjectScore:
    """A subject's records, those shown to `audience` on `on`, and their score: the one path
    from records to a level (the credit views, the merchant plate and incentive eligibility)."""
    records = await Record.filter(subject_id=subject_id).order_by("-decided_on", "-id")
    shown = [record for record in records if is_shown(record, audience, on)]
    counted = [record for record in shown if counts(record)]
    level, factors = (rules or default_rules()).score(counted)
    return SubjectScore(shown, level, factors)
