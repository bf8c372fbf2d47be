"""config/reports.toml, checked at load: purposes, validity, reuse, the 专项 section, rendering."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from credit.report_content import SpecialRules
from infra.settings import read_config


@dataclass(frozen=True)
class ReportRules:
    purposes: tuple[str, ...]
    validity_days: int
    reuse_hours: int
    caption: str
    special: SpecialRules
    queue_seconds: float
    mark_unpublished: str

    @classmethod
    def load(cls, path: Path | None = None) -> ReportRules:
        raw = read_config("reports.toml", path)
        purposes = tuple(str(p).strip() for p in raw["purposes"])
        if not purposes or any(not p or len(p) > 20 for p in purposes):
            raise ValueError("config/reports.toml: purposes 须为 1-20 字的用途列表")
        if len(set(purposes)) != len(purposes):
            raise ValueError("config/reports.toml: purposes 有重复")
        validity = int(raw["validity_days"])
        reuse = int(raw.get("reuse_hours", 0))
        years = int(raw["special"]["years"])
        if not 1 <= validity <= 366:
            raise ValueError("config/reports.toml: validity_days 须在 1-366 之间")
        if not 0 <= reuse <= 24 * validity:
            raise ValueError("config/reports.toml: reuse_hours 须在 0 与有效期之间")
        if not 1 <= years <= 10:
            raise ValueError("config/reports.toml: special.years 须在 1-10 之间")
        render = raw.get("render", {})
        return cls(
            purposes=purposes,
            validity_days=validity,
            reuse_hours=reuse,
            caption=str(raw["caption"]),
            special=SpecialRules(years=years, footnote=str(raw["special"]["footnote"])),
            queue_seconds=float(render.get("queue_seconds", 10)),
            mark_unpublished=str(render.get("mark_unpublished", "未公示")),
        )


@lru_cache(maxsize=1)
def default_rules() -> ReportRules:
    return ReportRules.load()
