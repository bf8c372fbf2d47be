"""The credit level's rules (credit/scoring.py, config/scoring.toml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from credit.scoring import ScoringRules
from infra.settings import CONFIG_DIR


def test_the_shipped_rules_load():
    rules = ScoringRules.load()
    assert [g.grade for g in rules.grades] == ["A", "B", "C", "D"]


def test_publication_windows_have_one_place(tmp_path: Path):
    """Publication windows live in config/records.toml only: a second copy in scoring.toml is
    refused at load, naming where they belong (issue 10, one place per rule)."""
    stale = tmp_path / "scoring.toml"
    stale.write_text(
        (CONFIG_DIR / "scoring.toml").read_text(encoding="utf-8")
        + "\n[publication.minor]\nmin_months = 0\nmax_months = 3\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"publication.*config/records\.toml"):
        ScoringRules.load(stale)


# ---- the scale means something (issue 10 item 11) ------------------------------------------


@dataclass(frozen=True)
class R:
    id: int
    type: str
    severity: str | None = None


POSITIVE = [R(1, "honour"), R(2, "red_list"), R(3, "licence"), R(4, "honour"), R(5, "red_list")]


def test_one_serious_penalty_is_d_whatever_else_the_subject_has():
    rules = ScoringRules.load()
    level, factors = rules.score([*POSITIVE, R(9, "penalty", "serious")])
    assert level.score == 750 + sum(f.points for f in factors) > 850  # the points alone: A
    assert level.grade == "D"
    assert level.ceiling is not None and level.ceiling.record_id == 9
    assert level.as_dict()["ceiling"]["reason"] == "公示期内有严重失信行政处罚，信用等级最高为 D"
    assert rules.score([R(9, "penalty", "serious")])[0].grade == "D"  # by the points too


def test_one_general_penalty_is_c_whatever_else_the_subject_has():
    rules = ScoringRules.load()
    alone, _ = rules.score([R(9, "penalty", "general")])
    assert (alone.grade, alone.score) == ("C", 690)
    with_honours, _ = rules.score([*POSITIVE, R(9, "penalty", "general")])
    assert with_honours.grade == "C" and with_honours.score > 850
    # a serious one beside it holds it lower still
    assert rules.score([R(8, "penalty", "general"), R(9, "penalty", "serious")])[0].grade == "D"
    # minor, had it been published, sets no ceiling
    assert rules.score([R(9, "penalty", "minor")])[0].ceiling is None


def test_self_registered_information_alone_stays_at_b():
    rules = ScoringRules.load()
    level, factors = rules.score([R(n, "registration") for n in range(1, 30)])
    assert level.grade == "B" and level.ceiling is None
    assert level.score == 750 + sum(f.points for f in factors)


def test_a_registration_cap_that_would_lift_to_a_is_refused(tmp_path: Path):
    text = (CONFIG_DIR / "scoring.toml").read_text(encoding="utf-8")
    generous = tmp_path / "scoring.toml"
    generous.write_text(
        text.replace(
            "registration = { points = 10, cap = 50,", "registration = { points = 10, cap = 100,"
        ),
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"points\.registration\.cap"):
        ScoringRules.load(generous)


def test_the_plate_uses_the_credit_levels_letters_thresholds_and_colours():
    from scenarios.merchants.rules import MerchantRules

    credit = ScoringRules.load().grades
    plate = MerchantRules.load().grades
    assert [(g.grade, g.min_score, g.colour) for g in plate] == [
        (g.grade, g.min_score, g.colour) for g in credit
    ]
