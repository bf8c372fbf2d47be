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
from credit.models import Severity, SubjectKind
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
class PenaltyClass:
    """How a penalty row counts: `severity` None means not a dishonesty record at all."""

    severity: str | None
    recognised: bool  # a 处罚类别 keyword (or a not-dishonesty rule) matched
    reason: str  # which rule decided, for the import's warnings and the tests


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
    summary_categories: frozenset[str]
    summary_fine_person_wan: Decimal
    summary_fine_organisation_wan: Decimal
    summary_person_kinds: frozenset[str]
    not_dishonesty_categories: tuple[str, ...]
    correction_keywords: tuple[str, ...]
    feed_status: FeedStatus

    def classify_penalty(
        self, category: str, content: str, fine_wan: Decimal | None, subject_kind: str
    ) -> PenaltyClass:
        """The rules of config/records.toml [penalty], in their order there."""
        if any(word in category for word in self.not_dishonesty_categories):
            return PenaltyClass(None, True, "不予处罚")
        matched = [(k, s) for k, s in self.severity_keywords if k in category]
        if not matched and fine_wan is None:
            penalty_in_content = any(k in content for k, _ in self.severity_keywords)
            if not penalty_in_content and any(
                word in category or word in content for word in self.correction_keywords
            ):
                return PenaltyClass(None, True, "仅责令改正")
        if not matched:
            severity, reason = self.default_severity, "未识别的处罚类别"
        else:
            severity = max((s for _, s in matched), key=SEVERITY_ORDER.__getitem__)
            reason = "处罚类别"
            if SEVERITY_ORDER[severity] > SEVERITY_ORDER[MINOR] and self._summary(
                matched, fine_wan, subject_kind
            ):
                severity, reason = MINOR, "简易程序"
        if fine_wan is not None and fine_wan >= self.serious_fine_wan:
            severity, reason = SERIOUS, "罚款数额"
        return PenaltyClass(severity, bool(matched), reason)

    def _summary(
        self, matched: list[tuple[str, str]], fine_wan: Decimal | None, subject_kind: str
    ) -> bool:
        """行政处罚法 第五十一条: only 警告 and/or a fine within the summary amount."""
        if any(keyword not in self.summary_categories for keyword, _ in matched):
            return False
        if not any(keyword == "罚款" for keyword, _ in matched):
            return True  # 警告 alone
        if fine_wan is None:
            return False  # a fine of unknown amount cannot be shown to be within it
        limit = (
            self.summary_fine_person_wan
            if subject_kind in self.summary_person_kinds
            else self.summary_fine_organisation_wan
        )
        return fine_wan <= limit

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
    not_dishonesty = penalty["not_dishonesty"]
    kinds = {kind.value for kind in SubjectKind}
    if not set(penalty["summary_person_kinds"]) <= kinds:
        raise ValueError(
            f"config/records.toml: penalty.summary_person_kinds 只能取 {', '.join(sorted(kinds))}"
        )
    unknown_summary = set(penalty["summary_categories"]) - set(penalty["severity_keywords"])
    if unknown_summary:
        raise ValueError(
            "config/records.toml: penalty.summary_categories 须为 severity_keywords 中的关键词："
            + "、".join(sorted(unknown_summary))
        )
    return RecordRules(
        windows=windows,
        serious_fine_wan=Decimal(str(penalty["serious_fine_wan"])),
        default_severity=_severity(penalty["default_severity"], "penalty.default_severity"),
        severity_keywords=tuple(keywords),
        summary_categories=frozenset(penalty["summary_categories"]),
        summary_fine_person_wan=Decimal(str(penalty["summary_fine_person_yuan"])) / 10000,
        summary_fine_organisation_wan=(
            Decimal(str(penalty["summary_fine_organisation_yuan"])) / 10000
        ),
        summary_person_kinds=frozenset(penalty["summary_person_kinds"]),
        not_dishonesty_categories=tuple(not_dishonesty["categories"]),
        correction_keywords=tuple(not_dishonesty["correction"]),
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
