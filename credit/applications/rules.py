"""The rules officials set for applications (config/applications.toml), and repair eligibility
(DESIGN.md §3): it decides both the "repairable" flag of the credit view and whether a repair
application is taken, so the two never disagree."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from credit.applications.models import ApplicationKind
from credit.models import MARKET_ENTITY_KINDS, Record, RecordClass, RecordStatus, RecordType
from infra.settings import read_config

NEGATIVE_TYPES = (RecordType.PENALTY, RecordType.BLACK_LIST)
DISHONESTY_CLASSES = (RecordClass.GENERAL_DISHONESTY, RecordClass.SERIOUS_DISHONESTY)
log = logging.getLogger(__name__)
Channel = Literal["here", "gsxt"]


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    record_class: RecordClass


@dataclass(frozen=True)
class ProofRules:
    """What a repair must prove (config/applications.toml [repair.proofs])."""

    labels: dict[str, str]  # proof code -> what the applicant is asked for
    by_type: dict[str, tuple[str, ...]]  # record type -> proofs always needed
    by_amount: dict[str, str]  # details column holding an amount -> proof then needed

    def required(self, record: Record) -> list[str]:
        codes = list(self.by_type.get(str(record.type), ()))
        details = record.details or {}
        for column, code in self.by_amount.items():
            if str(details.get(column, "")).strip() and code not in codes:
                codes.append(code)
        return codes

    def as_list(self, codes: list[str]) -> list[dict[str, str]]:
        return [{"code": code, "label": self.labels[code]} for code in codes]

    @classmethod
    def parse(cls, repair: dict[str, Any]) -> ProofRules:
        labels = dict(repair.get("proofs", {}))
        by_type = {kind: tuple(codes) for kind, codes in repair.get("required_proofs", {}).items()}
        by_amount = dict(repair.get("amount_proofs", {}))
        used = {code for codes in by_type.values() for code in codes} | set(by_amount.values())
        unknown = sorted(used - set(labels))
        if unknown:
            raise ValueError(
                f"config/applications.toml: [repair.proofs] 中没有 {', '.join(unknown)}"
            )
        return cls(labels, by_type, by_amount)


@dataclass(frozen=True)
class ApplicationRules:
    due_working_days: dict[ApplicationKind, int]
    categories: dict[str, Category]
    gsxt_authority_keywords: tuple[str, ...]
    gsxt_authority_usccs: frozenset[str]
    gsxt_url: str
    non_repairable_types: dict[str, str]
    non_repairable_flag: tuple[str, str]
    proofs: ProofRules
    commitment_version: str
    commitment_text: str
    moderation_scene: int
    supplement_working_days: int = 10

    @classmethod
    def load(cls, path: Path | None = None) -> ApplicationRules:
        raw = read_config("applications.toml", path)
        repair = raw["repair"]
        flag = repair.get("non_repairable_flag", {})
        return cls(
            due_working_days={
                ApplicationKind(kind): int(days) for kind, days in raw["due_working_days"].items()
            },
            categories={
                code: Category(code, spec["label"], RecordClass(spec["record_class"]))
                for code, spec in raw["registration_categories"].items()
            },
            gsxt_authority_keywords=tuple(repair.get("gsxt_authority_keywords", [])),
            gsxt_authority_usccs=frozenset(repair.get("gsxt_authority_usccs", [])),
            gsxt_url=repair.get("gsxt_url", ""),
            non_repairable_types=dict(repair.get("non_repairable_types", {})),
            non_repairable_flag=(flag.get("key", ""), flag.get("value", "")),
            proofs=ProofRules.parse(repair),
            commitment_version=raw["commitment"]["version"],
            commitment_text=raw["commitment"]["text"].strip(),
            moderation_scene=int(raw["moderation"]["scene"]),
            supplement_working_days=_positive(raw["supplement"]["working_days"], "supplement"),
        )

    @property
    def commitment_hash(self) -> str:
        return hashlib.sha256(self.commitment_text.encode()).hexdigest()


def _positive(value: object, table: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"config/applications.toml: [{table}] working_days 须为正整数")
    return value


@lru_cache(maxsize=1)
def default_rules() -> ApplicationRules:
    return ApplicationRules.load()


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str
    earliest_date: date | None
    channel: Channel
    required_proofs: tuple[dict[str, str], ...] = ()  # what a repair here must attach

    def as_dict(self) -> dict[str, object]:
        return {
            "eligible": self.eligible,
            "reason": self.reason,
            "earliest_date": self.earliest_date.isoformat() if self.earliest_date else None,
            "channel": self.channel,
            "required_proofs": list(self.required_proofs),
        }


_NOT_PUBLISHED = {
    RecordStatus.REPAIRED: "该记录已完成信用修复",
    RecordStatus.EXPIRED: "该记录已过公示期，不再公示，无需修复",
    RecordStatus.REVOKED: "该记录已撤销，无需修复",
    RecordStatus.UNDER_OBJECTION: "该记录正在异议处理中，处理完毕后方可申请修复",
}


def repair_channel(record: Record, subject_kind: str, rules: ApplicationRules) -> Channel:
    """A market entity's market-regulation penalty is repaired in the national enterprise credit
    publicity system (gsxt); a natural person's never is. The authority is known by its USCC
    (config), by words in its name only as a fallback, which is logged."""
    if subject_kind not in MARKET_ENTITY_KINDS or record.type != RecordType.PENALTY:
        return "here"
    if record.authority_uscc and record.authority_uscc in rules.gsxt_authority_usccs:
        return "gsxt"
    if any(keyword in record.authority for keyword in rules.gsxt_authority_keywords):
        log.info(
            "record %s: market-regulation authority recognised by name only (%s); add its USCC "
            "to config/applications.toml [repair] gsxt_authority_usccs",
            record.id, record.authority,
        )  # fmt: skip
        return "gsxt"
    return "here"


def repair_opens_on(record: Record) -> date:
    """The day after the minimum publication period ends (DESIGN.md §3). `publish_min_until` is
    that period's last day: 民法典 art. 201–202, a period in months ends on the corresponding day
    of its last month, the day it starts from not counted."""
    if record.publish_min_until is None:
        return record.decided_on
    return record.publish_min_until + timedelta(days=1)


def repair_eligibility(
    record: Record,
    subject_kind: str,
    on: date,
    rules: ApplicationRules | None = None,
    *,
    has_open: bool = False,
) -> Eligibility:
    """`subject_kind`: the kind of the record's subject (the channel depends on it)."""
    rules = rules or default_rules()
    channel = repair_channel(record, subject_kind, rules)
    if record.type not in NEGATIVE_TYPES or record.record_class not in DISHONESTY_CLASSES:
        # e.g. a penalty row that is not dishonesty (不予处罚, 责令改正 alone)
        return Eligibility(False, "该记录不是失信信息，无需修复", None, channel)
    barred = rules.non_repairable_types.get(str(record.type))
    if barred:
        return Eligibility(False, barred, None, channel)
    flag_key, flag_value = rules.non_repairable_flag
    if flag_key and str((record.details or {}).get(flag_key, "")).strip() == flag_value:
        return Eligibility(False, "该记录依规定不可修复", None, channel)
    if record.status != RecordStatus.PUBLISHED:
        return Eligibility(
            False, _NOT_PUBLISHED.get(record.status, "该记录当前不可修复"), None, channel
        )
    if record.publish_max_until is not None and record.publish_max_until < on:
        return Eligibility(False, _NOT_PUBLISHED[RecordStatus.EXPIRED], None, channel)
    earliest = repair_opens_on(record)
    if earliest > on:
        return Eligibility(
            False, f"最短公示期未满，{earliest.isoformat()} 起可申请信用修复", earliest, channel
        )
    if has_open:
        return Eligibility(False, "该记录已有正在办理的申请", earliest, channel)
    if channel == "gsxt":
        return Eligibility(
            True,
            "市场监管部门作出的行政处罚，请通过国家企业信用信息公示系统申请信用修复",
            earliest,
            channel,
        )
    proofs = tuple(rules.proofs.as_list(rules.proofs.required(record)))
    return Eligibility(True, "可以申请信用修复", earliest, channel, proofs)
