"""The monthly 调度 figures (scenarios/figures/monthly.py) equal the hand-counted numbers of
tests/scenarios/figures/support.py."""

from __future__ import annotations

import pytest

from infra.params import query_month
from scenarios.figures.monthly import monthly_figures
from tests.scenarios.figures import support


@pytest.fixture
async def seeded(runtime):  # type: ignore[no-untyped-def]
    await support.seed_once(runtime)
    return runtime


def rows(figures, key):  # type: ignore[no-untyped-def]
    return {row[0]: tuple(row[1:]) for row in figures.tables[key].rows}


async def test_applications_by_type_and_outcome(seeded):
    figures = await monthly_figures(seeded, query_month(support.MONTH), support.REGION)
    table = rows(figures, "applications")
    # received, decided, approved, denied, rejected, withdrawn, overdue decided, overdue open, avg
    assert table["自愿注册"] == (2, 2, 1, 0, 1, 0, 0, 1, 1.0)
    assert table["信用修复"] == (2, 2, 1, 1, 0, 0, 1, 1, 2.5)
    assert table["信用异议"] == (4, 2, 1, 1, 0, 1, 1, 0, 9.0)
    assert table["企业经办授权"] == (0, 0, 0, 0, 0, 0, 0, 0, None)
    repairs = rows(figures, "repairs_by_authority")
    assert repairs == {support.AUTHORITY_A: (2, 1, 0, 0), support.AUTHORITY_B: (0, 0, 1, 0)}
    objections = rows(figures, "objections_by_outcome")
    assert objections == {
        "异议成立，记录已更正": (1,),
        "异议成立，记录已撤销": (0,),
        "异议不成立，维持原记录": (1,),
        "不予受理": (0,),
    }


async def test_zones_and_venues(seeded):
    figures = await monthly_figures(seeded, query_month(support.MONTH), None)
    assert rows(figures, "complaints") == {
        "定远营诚信示范街区": (2, 1, 0, 1, 0),
        "额济纳胡杨林诚信示范景区": (1, 0, 0, 0, 1),
        "腾格里经开区诚信示范园区": (0, 0, 0, 0, 0),
    }
    assert rows(figures, "plate_scans") == {
        "定远营诚信示范街区": (3, 2),
        "额济纳胡杨林诚信示范景区": (1, 0),
        "腾格里经开区诚信示范园区": (0, 0),
    }
    redemptions = [tuple(r) for r in figures.tables["redemptions"].rows]
    assert sorted(redemptions) == sorted(
        [
            ("信易游", "阿拉善沙漠世界地质公园·月亮湖景区（演示）", *_policy("dp-ticket-a"), 2, 1),
            (
                "信易游",
                "阿拉善沙漠世界地质公园·月亮湖景区（演示）",
                *_policy("dp-honour-free"),
                1,
                0,
            ),
            ("信易游", "巴彦浩特驼乡宾馆（演示）", *_policy("ht-deposit"), 1, 0),
        ]
    )
    assert figures.tables["street_index"].rows == [
        ("定远营诚信示范街区", "2024-04-01", 80.5),
        ("定远营诚信示范街区", "2024-04-02", 81.0),
        ("腾格里经开区诚信示范园区", "2024-04-01", 70.0),
    ]


async def test_a_region_narrows_every_table(seeded):
    ejina = await monthly_figures(seeded, query_month(support.MONTH), "152923")
    assert rows(ejina, "complaints") == {"额济纳胡杨林诚信示范景区": (1, 0, 0, 0, 1)}
    assert rows(ejina, "plate_scans") == {"额济纳胡杨林诚信示范景区": (1, 0)}
    assert ejina.tables["redemptions"].rows == []
    assert ejina.tables["street_index"].rows == []
    assert rows(ejina, "applications")["信用异议"][0] == 0


def _policy(policy_id: str) -> tuple[str]:
    from scenarios.incentives.programmes import default_programmes

    return (default_programmes().policies[policy_id].title,)
