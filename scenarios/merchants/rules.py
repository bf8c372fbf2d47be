"""Zones and the merchant rules officials set (config/zones.toml, config/merchants.toml)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from credit.scoring import ScoringRules
from infra.i18n import mongolian_text_problem
from infra.settings import CONFIG_DIR, read_config


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    kind: str
    region: str
    name_mn: str = ""  # traditional Mongolian (issue 15); a draft until name_mn_reviewed
    name_mn_reviewed: bool = False


@dataclass(frozen=True)
class MerchantGrade:
    grade: str
    label: str
    colour: str
    min_score: int

    def as_dict(self, score: int) -> dict[str, Any]:
        return {"grade": self.grade, "label": self.label, "colour": self.colour, "score": score}


@dataclass(frozen=True)
class IndexFormula:
    score_weight: float
    good_weight: float
    commitment_weight: float
    complaint_penalty: float
    complaint_penalty_cap: float
    complaint_days: int
    history_days: int


@dataclass(frozen=True)
class MerchantRules:
    zones: dict[str, Zone]
    categories: tuple[str, ...]
    commitment_points: int
    complaint_points: int
    complaint_cap: int
    complaint_window_days: int
    grades: tuple[MerchantGrade, ...]
    commitment_version: str
    commitment_text: str
    index: IndexFormula
    font_path: str
    font_candidates: tuple[str, ...]
    code_length: int
    caption: str
    mongolian_font_path: str = ""
    mongolian_font_candidates: tuple[str, ...] = ()

    @classmethod
    def load(cls, config_dir: Path | None = None) -> MerchantRules:
        folder = config_dir or CONFIG_DIR
        zones = read_config("zones.toml", folder / "zones.toml")["zones"]
        raw = read_config("merchants.toml", folder / "merchants.toml")
        evaluation = raw["evaluation"]
        # The credit level's letters, thresholds and colours (config/scoring.toml); only the
        # words printed on the plate are the merchants' own.
        labels: dict[str, str] = evaluation["grade_labels"]
        credit_grades = ScoringRules.load(folder / "scoring.toml").grades
        missing = [g.grade for g in credit_grades if g.grade not in labels]
        if missing or set(labels) - {g.grade for g in credit_grades}:
            raise ValueError(
                "config/merchants.toml: evaluation.grade_labels 须与 config/scoring.toml 的等级"
                f"一一对应（{'、'.join(g.grade for g in credit_grades)}）"
            )
        grades = [
            MerchantGrade(g.grade, labels[g.grade], g.colour, g.min_score) for g in credit_grades
        ]
        for zone in zones:
            problem = mongolian_text_problem(zone["name_mn"]) if zone.get("name_mn") else None
            if problem:
                raise ValueError(f"config/zones.toml: {zone['id']} name_mn {problem}")
        return cls(
            zones={zone["id"]: Zone(**zone) for zone in zones},
            categories=tuple(raw["categories"]),
            commitment_points=int(evaluation["commitment_points"]),
            complaint_points=int(evaluation["complaint_points"]),
            complaint_cap=int(evaluation["complaint_cap"]),
            complaint_window_days=int(evaluation["complaint_window_days"]),
            grades=tuple(grades),
            commitment_version=raw["commitment"]["version"],
            commitment_text=raw["commitment"]["text"].strip(),
            index=IndexFormula(**raw["street_index"]),
            font_path=raw["plate"].get("font_path", ""),
            font_candidates=tuple(raw["plate"].get("font_candidates", [])),
            code_length=int(raw["plate"]["code_length"]),
            caption=raw["plate"]["caption"],
            mongolian_font_path=raw["plate"].get("mongolian_font_path", ""),
            mongolian_font_candidates=tuple(raw["plate"].get("mongolian_font_candidates", [])),
        )

    def grade_for(self, score: int) -> MerchantGrade:
        for grade in self.grades:
            if score >= grade.min_score:
                return grade
        return self.grades[-1]

    def grade_named(self, name: str) -> MerchantGrade:
        return next(g for g in self.grades if g.grade == name)

    @property
    def commitment_hash(self) -> str:
        return hashlib.sha256(self.commitment_text.encode()).hexdigest()

    def font(self, configured: str = "") -> Path | None:
        """The CJK font to print with: the setting, else config, else the first candidate found.
        A font that is configured but missing is an error, not a reason to pick another."""
        return _pick_font(configured or self.font_path, self.font_candidates)

    def mongolian_font(self, configured: str = "") -> Path | None:
        """The Mongolian font of plates and H5 pages, chosen like the CJK one."""
        return _pick_font(configured or self.mongolian_font_path, self.mongolian_font_candidates)

    def mongolian_names(self) -> list[tuple[str, str]]:
        """(Chinese, Mongolian) of every zone that has both, for the API's translator."""
        return [(z.name, z.name_mn) for z in self.zones.values() if z.name_mn]


def _pick_font(configured: str, candidates: tuple[str, ...]) -> Path | None:
    if configured:
        chosen = Path(configured)
        return chosen if chosen.is_file() else None
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@lru_cache(maxsize=1)
def default_rules() -> MerchantRules:
    return MerchantRules.load()
