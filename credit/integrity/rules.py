"""The rules of config/integrity.toml, checked when first read."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from credit.models import Severity
from infra.settings import read_config


@dataclass(frozen=True)
class FeedRules:
    """How a 政务失信 feed row is read ([feed])."""

    subject_categories: tuple[str, ...]
    default_severity: str
    serious_keywords: tuple[str, ...]

    def severity(self, offence: str) -> str:
        if any(keyword in offence for keyword in self.serious_keywords):
            return Severity.SERIOUS.value
        return self.default_severity


@dataclass(frozen=True)
class IntegrityRules:
    accept_working_days: int
    conclude_working_days: int
    categories: dict[str, str]  # code -> label
    promise_max: int
    max_attachments: int
    moderation_scene: int
    feed: FeedRules

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> IntegrityRules:
        deadlines = raw["deadlines"]
        accept, conclude = (
            int(deadlines["accept_working_days"]),
            int(deadlines["conclude_working_days"]),
        )
        if accept < 1 or conclude < 1:
            raise ValueError("config/integrity.toml: [deadlines] 的工作日数须为正整数")
        categories = {str(code): str(label) for code, label in raw["categories"].items()}
        if not categories:
            raise ValueError("config/integrity.toml: [categories] 不能为空")
        feed = raw["feed"]
        severity = str(feed["default_severity"])
        if severity not in {s.value for s in Severity} - {Severity.MINOR.value}:
            raise ValueError(
                "config/integrity.toml: [feed] default_severity 须为 general 或 serious"
            )
        return cls(
            accept_working_days=accept,
            conclude_working_days=conclude,
            categories=categories,
            promise_max=int(raw["text"]["promise_max"]),
            max_attachments=int(raw["text"]["max_attachments"]),
            moderation_scene=int(raw["moderation"]["scene"]),
            feed=FeedRules(
                subject_categories=tuple(str(c) for c in feed["subject_categories"]),
                default_severity=severity,
                serious_keywords=tuple(str(k) for k in feed["serious_keywords"]),
            ),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> IntegrityRules:
        return cls.parse(read_config("integrity.toml", path))


@lru_cache(maxsize=1)
def default_rules() -> IntegrityRules:
    return IntegrityRules.load()


def feed_rules() -> FeedRules:
    return default_rules().feed
