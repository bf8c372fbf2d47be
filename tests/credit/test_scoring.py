"""The credit level's rules (credit/scoring.py, config/scoring.toml)."""

from __future__ import annotations

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
