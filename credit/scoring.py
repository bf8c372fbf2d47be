"""The transparent, rule-based credit level (DESIGN.md §4), rules from config/scoring.toml.

Every point comes with the record that moved it and why, so a citizen can see the reason."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from infra.settings import CONFIG_DIR


class ScoredRecord(Protocol):
    id: int
    type: str
    severity: str | None


@dataclass(frozen=True)
class Grade:
    grade: str
    label: str
    colour: str
    min_score: int


@dataclass(frozen=True)
class Factor:
    record_id: int
    points: int
    reason: str


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
        with (path or CONFIG_DIR / "scoring.toml").open("rb") as handle:
            raw = tomllib.load(handle)
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
        rule = self.points.get(record.type)
        if rule is None:
            return None
        if "points" not in rule:  # per severity, e.g. penalties
            return rule.get(record.severity or "general")
        return rule

    def score(self, records: list[ScoredRecord]) -> tuple[Level, list[Factor]]:
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
