"""Venues and incentive policies from config/programmes.toml, checked once at load
(scenarios/incentives/programmes.py)."""

from __future__ import annotations

import pytest

from scenarios.incentives.programmes import ProgrammeError, Programmes, default_programmes
from tests.scenarios.incentives.support import SCENIC


def test_programmes_hold_the_demo_venues_and_policies():
    programmes = default_programmes()
    kinds = {v.kind for v in programmes.venues.values()}
    assert kinds == {"scenic_area", "hotel", "rental_provider"}
    ticket, free = programmes.policies["dp-ticket-a"], programmes.policies["dp-honour-free"]
    assert ticket.venue == free.venue == SCENIC and ticket.min_grade == "A"
    assert set(free.honours) == {"劳动模范", "先进工作者", "三八红旗手"} and free.min_grade is None
    assert programmes.policies["ht-deposit"].min_grade == "B"
    factory = programmes.policies["pk-factory"]
    assert factory.scenario == "rental" and factory.subject_kinds == (
        "enterprise",
        "individual_business",
    )
    assert all(p.per_day == 1 and p.per_visit == 1 for p in programmes.policies.values())
    assert all(p.valid_from <= p.valid_until for p in programmes.policies.values())


def test_a_wrong_programme_file_is_refused_with_the_place(tmp_path):
    path = tmp_path / "programmes.toml"
    path.write_text(
        '[[venues]]\nid = "v"\nname = "场所"\nkind = "scenic_area"\nscenario = "travel"\n'
        '[[policies]]\nid = "p"\nvenue = "nowhere"\ntitle = "t"\nbenefit = "b"\n'
        "valid_from = 2026-01-01\nvalid_until = 2026-12-31\n"
    )
    with pytest.raises(ProgrammeError, match="unknown venue"):
        Programmes.load(path)
