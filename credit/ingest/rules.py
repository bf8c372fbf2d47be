"""Record rules from config/records.toml: penalty severity and publication windows (DESIGN.md §3).

Officials change these numbers, so the importer reads them from config instead of code. The
windows follow NDRC 令第36号 and are counted from the decision date.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from credit.calendar_dates import add_months as _add_months
from credit.models import Severity
from infra.settings import read_config

# Feeds repeat the same decision dates many times; date arithmetic is worth caching.
add_months = lru_cache(maxsize=16384)(_add_months)

# Severities as plain strings (Severity values): the importer compares them once per row.
MINOR, GENERAL, SERIOUS = Severity.MINOR.value, Severity.GENERAL.value, Severity.SERIOUS.value
SEVERITY_ORDER = {MINOR: 0, GENERAL: 1, SERIOUS: 2}


@dataclass(frozen=True)
class Window:
    min_months: int
    max_months: int
    published: bool = True  # False: shown to the subject only, counted nowhere (minor, by default)


@dataclass(frozen=True)
class FeedStatus:
    """What a feed row's 当前状态 and 备注 say about its record (config/records.toml
    [feed_status]); values are compared after normalise_value (width, spaces)."""

    penalty_withdrawn: frozenset[str]
    penalty_kept: frozenset[str]
    penalty_remark_prefixes: tuple[str, ...]
    licence_valid: frozenset[str]
    licence_lapsed: frozenset[str]
    licence_withdrawn: frozenset[str]
    licence_remark_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class RecordRules:
    windows: dict[str, Window]
    serious_fine_wan: Decimal
    default_severity: str
    # (keyword, severity), longest keyword first so the most specific one is tried first
    severity_keywords: tuple[tuple[str, str], ...]
    long_term_dates: frozenset[date]
    feed_status: FeedStatus

    def penalty_severity(self, category: str, fine_wan: Decimal | None) -> tuple[str, bool]:
        """(severity, recognised): the most severe keyword found in 处罚类别; a large fine makes
        any penalty serious. Unrecognised categories get the configured default."""
        found: str | None = None
        for keyword, severity in self.severity_keywords:
            if keyword in category and (
                found is None or SEVERITY_ORDER[severity] > SEVERITY_ORDER[found]
            ):
                found = severity
        recognised = found is not None
        severity = found if found is not None else self.default_severity
        if fine_wan is not None and fine_wan >= self.serious_fine_wan:
            severity = SERIOUS
        return severity, recognised

    def window(self, severity: str, decided_on: date, feed_until: date | None) -> tuple[date, date]:
        """(publish_min_until, publish_max_until). The feed's 公示截止期 is used when given, capped
        at decided_on + max; one earlier than the minimum is kept (publication ends when the
        source says, DESIGN.md §3). publish_min_until stays the rule's minimum: the record is not
        shown past publish_max_until, so repair never comes up."""
        window = self.windows[severity]
        min_until = add_months(decided_on, window.min_months)
        cap = add_months(decided_on, window.max_months)
        if feed_until is None:
            return min_until, cap
        return min_until, min(feed_until, cap)

    def min_until(self, severity: str, decided_on: date) -> date:
        return add_months(decided_on, self.windows[severity].min_months)

    def max_until(self, severity: str, decided_on: date) -> date:
        return add_months(decided_on, self.windows[severity].max_months)


def _severity(value: str, where: str) -> str:
    try:
        return Severity(value).value
    except ValueError as exc:
        raise ValueError(f"config/records.toml: {where} 的严重程度无效：{value!r}") from exc


def parse_rules(data: dict[str, Any]) -> RecordRules:
    windows = {}
    for severity in Severity:
        section = data["publication"][severity.value]
        published = section.get("published", True)
        if not isinstance(published, bool):
            raise ValueError(
                f"config/records.toml: publication.{severity.value}.published 须为 true 或 false"
            )
        window = Window(int(section["min_months"]), int(section["max_months"]), published)
        windows[severity.value] = window
        if window.min_months > window.max_months:
            raise ValueError(f"config/records.toml: publication.{severity.value} 最短期长于最长期")
    penalty = data["penalty"]
    keywords = sorted(
        (
            (keyword, _severity(value, f"penalty.severity_keywords.{keyword}"))
            for keyword, value in penalty["severity_keywords"].items()
        ),
        key=lambda item: -len(item[0]),
    )
    return RecordRules(
        windows=windows,
        serious_fine_wan=Decimal(str(penalty["serious_fine_wan"])),
        default_severity=_severity(penalty["default_severity"], "penalty.default_severity"),
        severity_keywords=tuple(keywords),
        long_term_dates=frozenset(
            date.fromisoformat(value) for value in data["licence"]["long_term_dates"]
        ),
        feed_status=parse_feed_status(data["feed_status"]),
    )


@lru_cache(maxsize=1024)
def normalise_value(value: str) -> str:
    """A feed's enumerated value as compared with config: full-width folded, spaces removed."""
    return "".join(unicodedata.normalize("NFKC", value).split())


def parse_feed_status(section: dict[str, Any]) -> FeedStatus:
    def values(feed: str, name: str) -> frozenset[str]:
        return frozenset(normalise_value(str(v)) for v in section[feed][name])

    def prefixes(feed: str) -> tuple[str, ...]:
        return tuple(normalise_value(str(v)) for v in section[feed]["remark_prefixes"] if v)

    status = FeedStatus(
        penalty_withdrawn=values("penalties", "withdrawn"),
        penalty_kept=values("penalties", "kept"),
        penalty_remark_prefixes=prefixes("penalties"),
        licence_valid=values("licences", "valid"),
        licence_lapsed=values("licences", "lapsed"),
        licence_withdrawn=values("licences", "withdrawn"),
        licence_remark_prefixes=prefixes("licences"),
    )
    for feed, groups in (
        ("penalties", (status.penalty_withdrawn, status.penalty_kept)),
        ("licences", (status.licence_valid, status.licence_lapsed, status.licence_withdrawn)),
    ):
        seen: set[str] = set()
        for group in groups:
            if seen & group:
                raise ValueError(
                    f"config/records.toml: feed_status.{feed} 中的当前状态值重复："
                    f"{'、'.join(sorted(seen & group))}"
                )
            seen |= group
    return status


@lru_cache(maxsize=4)
def load_rules(path: Path | None = None) -> RecordRules:
    """The rules in config/records.toml (read once per process)."""
    return parse_rules(read_config("records.toml", path))
