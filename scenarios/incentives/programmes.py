"""Venues and incentive policies from config/programmes.toml, checked once at load."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from infra.errors import NotFound
from infra.i18n import mongolian_text_problem
from infra.settings import read_config

ID_PATTERN = re.compile(r"[a-z0-9-]{1,24}")
VENUE_KINDS = {"scenic_area": "景区", "hotel": "酒店", "rental_provider": "租赁服务方"}
SCENARIOS = {"travel": "信易游", "rental": "信易租"}
CHECK_PURPOSES = {"travel": "信易游优惠核验", "rental": "信易租优惠核验"}  # audited staff checks
SUBJECT_KINDS = {"person", "enterprise", "individual_business"}
GRADES = ("A", "B", "C", "D")  # best first


class ProgrammeError(ValueError):
    """config/programmes.toml is wrong; the message says where."""


@dataclass(frozen=True)
class Venue:
    id: str
    name: str
    kind: str
    scenario: str
    region: str | None = None
    zone: str | None = None
    name_mn: str = ""  # traditional Mongolian (issue 15), a draft until name_mn_reviewed

    def brief(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_mn": self.name_mn or None,
            "kind": self.kind,
            "kind_label": VENUE_KINDS[self.kind],
            "scenario": self.scenario,
            "region": self.region,
            "zone": self.zone,
        }


@dataclass(frozen=True)
class Policy:
    id: str
    venue: str
    scenario: str
    title: str
    benefit: str
    subject_kinds: tuple[str, ...]
    min_grade: str | None
    honours: tuple[str, ...]
    no_serious_dishonesty_years: int
    per_visit: int
    per_day: int
    quota: int
    valid_from: date
    valid_until: date
    title_mn: str = ""  # traditional Mongolian (issue 15), drafts until *_reviewed
    benefit_mn: str = ""

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until

    def as_dict(self) -> dict[str, Any]:
        """What a staff device and the mini-program are shown (the offline bundle carries it)."""
        return {
            "policy_id": self.id,
            "venue_id": self.venue,
            "scenario": self.scenario,
            "title": self.title,
            "benefit": self.benefit,
            "title_mn": self.title_mn or None,
            "benefit_mn": self.benefit_mn or None,
            "eligibility": {
                "subject_kinds": list(self.subject_kinds),
                "min_grade": self.min_grade,
                "honours": list(self.honours),
                "no_serious_dishonesty_years": self.no_serious_dishonesty_years,
            },
            "limits": {"per_visit": self.per_visit, "per_day": self.per_day, "quota": self.quota},
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
        }


@dataclass(frozen=True)
class OfflineRules:
    bundle_valid_hours: int
    clock_leeway_seconds: int
    revoked_days: int


@dataclass(frozen=True)
class Programmes:
    venues: dict[str, Venue]
    policies: dict[str, Policy]
    offline: OfflineRules

    def venue(self, venue_id: str) -> Venue | None:
        return self.venues.get(venue_id)

    def policies_of(self, venue_ids: set[str] | list[str] | tuple[str, ...]) -> list[Policy]:
        wanted = set(venue_ids)
        return [p for p in self.policies.values() if p.venue in wanted]

    @classmethod
    def load(cls, path: Path | None = None) -> Programmes:
        raw = read_config("programmes.toml", path)
        venues: dict[str, Venue] = {}
        for item in raw.get("venues", []):
            venue = Venue(
                id=_id(item, "venue"),
                name=str(item["name"]),
                kind=_choice(item, "kind", VENUE_KINDS),
                scenario=_choice(item, "scenario", SCENARIOS),
                region=item.get("region"),
                zone=item.get("zone"),
                name_mn=_mongolian(item, "name_mn"),
            )
            if venue.id in venues:
                raise ProgrammeError(f"venue {venue.id} appears twice")
            venues[venue.id] = venue
        policies: dict[str, Policy] = {}
        for item in raw.get("policies", []):
            policy = _policy(item, venues)
            if policy.id in policies:
                raise ProgrammeError(f"policy {policy.id} appears twice")
            policies[policy.id] = policy
        offline = raw.get("offline", {})
        return cls(
            venues=venues,
            policies=policies,
            offline=OfflineRules(
                bundle_valid_hours=int(offline.get("bundle_valid_hours", 72)),
                clock_leeway_seconds=int(offline.get("clock_leeway_seconds", 30)),
                revoked_days=int(offline.get("revoked_days", 30)),
            ),
        )


def _id(item: dict[str, Any], what: str) -> str:
    value = str(item.get("id", ""))
    if not ID_PATTERN.fullmatch(value):
        raise ProgrammeError(f"{what} id {value!r}: use 1-24 characters of a-z, 0-9 and -")
    return value


def _mongolian(item: dict[str, Any], key: str) -> str:
    value = str(item.get(key, "") or "")
    problem = mongolian_text_problem(value) if value else None
    if problem:
        raise ProgrammeError(f"{item.get('id')}: {key} {problem}")
    return value


def mongolian_names(programmes: Programmes) -> list[tuple[str, str]]:
    """(Chinese, Mongolian) of venue names, policy titles and benefits, for the translator."""
    pairs = [(v.name, v.name_mn) for v in programmes.venues.values()]
    for policy in programmes.policies.values():
        pairs += [(policy.title, policy.title_mn), (policy.benefit, policy.benefit_mn)]
    return [(zh, mn) for zh, mn in pairs if mn]


def _choice(item: dict[str, Any], key: str, allowed: dict[str, str] | set[str]) -> str:
    value = str(item.get(key, ""))
    if value not in allowed:
        raise ProgrammeError(f"{item.get('id')}: {key} {value!r} is not one of {sorted(allowed)}")
    return value


def _policy(item: dict[str, Any], venues: dict[str, Venue]) -> Policy:
    policy_id = _id(item, "policy")
    venue = venues.get(str(item.get("venue")))
    if venue is None:
        raise ProgrammeError(f"policy {policy_id}: unknown venue {item.get('venue')!r}")
    kinds = tuple(item.get("subject_kinds", ["person"]))
    if not kinds or not set(kinds) <= SUBJECT_KINDS:
        raise ProgrammeError(f"policy {policy_id}: subject_kinds must be among {SUBJECT_KINDS}")
    min_grade = item.get("min_grade")
    if min_grade is not None and min_grade not in GRADES:
        raise ProgrammeError(f"policy {policy_id}: min_grade {min_grade!r} is not one of {GRADES}")
    limits = {k: int(item.get(k, 0)) for k in ("per_visit", "per_day", "quota")}
    if any(v < 0 for v in limits.values()):
        raise ProgrammeError(f"policy {policy_id}: limits are 0 (none) or more")
    valid_from, valid_until = item.get("valid_from"), item.get("valid_until")
    if not isinstance(valid_from, date) or not isinstance(valid_until, date):
        raise ProgrammeError(f"policy {policy_id}: valid_from and valid_until must be dates")
    if valid_until < valid_from:
        raise ProgrammeError(f"policy {policy_id}: valid_until is before valid_from")
    return Policy(
        id=policy_id,
        venue=venue.id,
        scenario=venue.scenario,
        title=str(item["title"]),
        benefit=str(item["benefit"]),
        title_mn=_mongolian(item, "title_mn"),
        benefit_mn=_mongolian(item, "benefit_mn"),
        subject_kinds=kinds,
        min_grade=min_grade,
        honours=tuple(item.get("honours", [])),
        no_serious_dishonesty_years=int(item.get("no_serious_dishonesty_years", 0)),
        valid_from=valid_from,
        valid_until=valid_until,
        **limits,
    )


@lru_cache(maxsize=1)
def default_programmes() -> Programmes:
    return Programmes.load()


def policy_or_404(policy_id: object) -> Policy:
    policy = default_programmes().policies.get(policy_id) if isinstance(policy_id, str) else None
    if policy is None:
        raise NotFound("优惠政策不存在", code="POLICY_NOT_FOUND")
    return policy


def venue_or_404(venue_id: str) -> Venue:
    venue = default_programmes().venue(venue_id)
    if venue is None:
        raise NotFound("场所不存在", code="VENUE_NOT_FOUND")
    return venue
