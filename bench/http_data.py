"""Generated data for `python -m bench http`, loaded with COPY (asyncpg), not the ORM.

Subjects 1..P are persons (valid ID numbers, encrypted with the service's own FieldCipher so the
views decrypt them), then enterprises, then individual businesses. Records are spread over all
of them (organisations get more), users 1..U are bound to persons 1..U through a consent.
Everything is fictional and deterministic for a given seed (except the ciphertexts' nonces).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import asyncpg
from stdnum.cn import ric, uscc

from bench.harness.project import (
    ID_NUMBER_FIELD,
    FieldCipher,
    add_months,
    identity_consent,
    seal_legal_representative,
    seal_person_name,
    today,
)

PERSON_SHARE = 0.70
ENTERPRISE_SHARE = 0.20  # the rest are individual businesses
REGIONS = ("152921", "152922", "152923", "152971")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CHUNK = 100_000  # records generated and copied at a time (bounds memory)
HISTORY_DAYS = 5 * 365  # decisions spread over the last five years

FAMILY_NAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋"
    "唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国文斌海燕春雪峰志宏"
MONGOLIAN_NAMES = (
    "巴特尔", "其其格", "乌云", "那仁", "苏和", "额尔敦", "萨仁", "图雅", "朝鲁", "阿拉坦",
    "宝音", "斯琴", "哈斯", "乌兰", "吉日嘎拉", "孟和",
)  # fmt: skip
PLACES = ("巴彦浩特", "腾格里", "额济纳", "乌兰布和", "策克", "吉兰泰", "温都尔勒图", "宗别立")
TRADES = (
    "餐饮", "商贸", "旅游", "运输", "牧业", "建筑工程", "沙产业", "文化传媒", "能源", "民宿",
)  # fmt: skip
FORMS = ("有限公司", "有限责任公司", "股份有限公司", "合作社")

AUTHORITY_NAMES = (
    "阿拉善盟市场监督管理局", "阿拉善左旗市场监督管理局", "阿拉善右旗市场监督管理局",
    "额济纳旗市场监督管理局", "阿拉善盟交通运输局", "阿拉善盟文化旅游体育局",
    "国家税务总局阿拉善盟税务局", "阿拉善盟生态环境局", "阿拉善盟应急管理局", "阿拉善盟总工会",
)  # fmt: skip
LICENCE_TITLES = (
    "食品经营许可证", "道路运输经营许可证", "导游证", "建筑工程施工许可证", "取水许可证",
    "排污许可证", "烟草专卖零售许可证", "公共场所卫生许可证",
)  # fmt: skip
PENALTY_TITLES = (
    "未按规定公示经营信息", "违规停车占用景区应急通道", "超范围经营", "未取得许可擅自经营",
    "违反草原禁牧规定", "销售超过保质期的食品", "价格违法行为", "消防设施不符合标准",
)  # fmt: skip
RED_LIST_TITLES = ("A级纳税人", "诚信示范经营单位", "海关高级认证企业", "守合同重信用企业")
BLACK_LIST_REASONS = ("拒不履行法院判决", "严重违法失信企业", "重大税收违法", "食品安全严重违法")
HONOUR_TITLES = ("劳动模范", "先进工作者", "三八红旗手", "诚信典型")

# (type, cumulative probability) per audience: persons mostly have penalties and honours,
# organisations mostly licences, a few on the black list (the public 黑名单 is not empty).
PERSON_TYPES = (("licence", 0.30), ("penalty", 0.75), ("honour", 0.90), ("red_list", 1.0))
ORG_TYPES = (
    ("licence", 0.55), ("penalty", 0.89), ("black_list", 0.90), ("red_list", 0.97),
    ("honour", 1.0),
)  # fmt: skip
# How many records a subject of each kind gets, relatively.
RECORD_WEIGHT = {"person": 1.0, "enterprise": 3.0, "individual_business": 2.0}

SUBJECT_COLUMNS = (
    "id", "kind", "name", "natural_key", "uscc", "uscc_check_ok", "registration_no",
    "id_number_enc", "id_number_index", "legal_representative", "legal_representative_id_enc",
    "region", "created_at", "updated_at", "name_enc", "legal_representative_enc",
)  # fmt: skip
RECORD_COLUMNS = (
    "id", "subject_id", "record_class", "type", "title", "severity", "decided_on",
    "publish_min_until", "publish_max_until", "status", "shared", "source", "authority",
    "authority_uscc", "source_unit", "source_unit_uscc", "document_no", "natural_key",
    "content_hash", "details", "created_at", "updated_at",
)  # fmt: skip
USER_COLUMNS = ("id", "openid", "unionid", "roles", "is_demo", "created_at", "last_login_at")
CONSENT_COLUMNS = ("id", "user_id", "purpose", "text_version", "text_hash", "accepted_at")
BINDING_COLUMNS = (
    "id", "user_id", "subject_id", "consent_id", "method", "verify_id_hash", "bound_at",
)  # fmt: skip
SERIAL_TABLES = ("subject", "record", "app_user", "consent", "identity_binding")

BENCH_OPENID_PREFIX = "demo-openid-bench"  # the fake WeChat answers code demo-bench<N> with it


def login_code(user_number: int) -> str:
    """The wx.login code the fake WeChat turns into bench user N's openid."""
    return f"demo-bench{user_number}"


@dataclass(frozen=True)
class DataPlan:
    subjects: int
    records: int
    users: int
    seed: int = 20260401

    @property
    def persons(self) -> int:
        return max(1, int(self.subjects * PERSON_SHARE))

    @property
    def enterprises(self) -> int:
        return int(self.subjects * ENTERPRISE_SHARE)

    def kind_of(self, subject_id: int) -> str:
        if subject_id <= self.persons:
            return "person"
        if subject_id <= self.persons + self.enterprises:
            return "enterprise"
        return "individual_business"

    def check(self) -> None:
        if self.subjects < 1 or self.records < 0 or self.users < 1:
            raise ValueError("subjects and users must be positive, records not negative")
        if self.users > self.persons:
            raise ValueError(
                f"--users {self.users} is more than the {self.persons} person subjects "
                f"({PERSON_SHARE:.0%} of --subjects)"
            )


@dataclass(frozen=True)
class Windows:
    """Publication windows in months by severity, from config/records.toml [publication]."""

    months: dict[str, tuple[int, int]]

    @classmethod
    def from_records(cls, records: dict[str, Any]) -> Windows:
        publication = records.get("publication", {})
        months = {
            severity: (int(rule.get("min_months", 0)), int(rule["max_months"]))
            for severity, rule in publication.items()
        }
        for severity, default in (("minor", (0, 3)), ("general", (3, 12)), ("serious", (12, 36))):
            months.setdefault(severity, default)
        return cls(months)


def _org_code(number: int) -> str:
    """Nine characters of the USCC alphabet, unique per number."""
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(USCC_ALPHABET))
        chars.append(USCC_ALPHABET[digit])
    return "".join(reversed(chars))


def make_uscc(prefix: str, region: str, number: int) -> str:
    """A USCC with a valid GB 32100 check character; unique per (prefix, region, number)."""
    body = f"{prefix}{region}{_org_code(number)}"
    return body + uscc.calc_check_digit(body)


def _person_name(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return rng.choice(MONGOLIAN_NAMES)
    given = rng.choice(GIVEN_CHARS) + (rng.choice(GIVEN_CHARS) if rng.random() < 0.7 else "")
    return rng.choice(FAMILY_NAMES) + given


def _id_numbers(count: int, rng: random.Random) -> Iterator[str]:
    """Distinct valid 18-digit ID numbers (GB 11643 check digit, real birth dates)."""
    seen: set[str] = set()
    first_birthday = date(1950, 1, 1)
    span = (date(2006, 12, 31) - first_birthday).days
    while len(seen) < count:
        born = first_birthday + timedelta(days=rng.randrange(span))
        body = f"{rng.choice(REGIONS[:3])}{born:%Y%m%d}{rng.randrange(1000):03d}"
        if body in seen:
            continue
        seen.add(body)
        yield body + ric.calc_check_digit(body)


def subject_rows(plan: DataPlan, cipher: FieldCipher, now: datetime) -> list[tuple[Any, ...]]:
    rng = random.Random(plan.seed)
    rows: list[tuple[Any, ...]] = []
    ids = _id_numbers(plan.persons, rng)
    for subject_id in range(1, plan.persons + 1):
        id_number = next(ids)
        index = cipher.blind_index(id_number, ID_NUMBER_FIELD)
        masked, name_enc = seal_person_name(cipher, _person_name(rng))
        rows.append((
            subject_id, "person", masked, f"id:{index}", None, True, None,
            cipher.encrypt(id_number, ID_NUMBER_FIELD), index, None, None, id_number[:6], now, now,
            name_enc, None,
        ))  # fmt: skip
    for subject_id in range(plan.persons + 1, plan.subjects + 1):
        kind = plan.kind_of(subject_id)
        region = rng.choice(REGIONS)
        place, trade = rng.choice(PLACES), rng.choice(TRADES)
        registration_no = None
        if kind == "enterprise":
            name = f"阿拉善{place}{trade}{rng.choice(FORMS)}"
            code: str | None = make_uscc("91", region, subject_id)
            legal: tuple[str | None, str | None] = seal_legal_representative(
                cipher, _person_name(rng)
            )
        else:
            name = f"阿拉善{place}{_person_name(rng)}{trade}店"
            code = make_uscc("92", region, subject_id) if rng.random() < 0.8 else None
            legal = (None, None)
            if code is None:
                registration_no = f"{region}600{subject_id:09d}"
        natural_key = f"uscc:{code}" if code else f"reg:{registration_no}"
        rows.append((
            subject_id, kind, name, natural_key, code, True, registration_no,
            None, None, legal[0], None, region, now, now, None, legal[1],
        ))  # fmt: skip
    return rows


def _authorities() -> list[tuple[str, str]]:
    return [(name, make_uscc("11", "152900", 7_000 + n)) for n, name in enumerate(AUTHORITY_NAMES)]


# A record's fields between its kind and its document number (see _RecordDraws.record).
Drawn = tuple[str, str, str | None, date | None, date | None, str, bool, str]


class _RecordDraws:
    """One record at a time from `rng`, always in the same order of draws, so that a seed gives
    the same records."""

    def __init__(self, rng: random.Random, windows: Windows, on: date, now: datetime) -> None:
        self.rnd, self.windows, self.on, self.now = rng.random, windows, on, now
        self.authorities = _authorities()
        self.days = [on - timedelta(days=d) for d in range(HISTORY_DAYS + 1)]
        self.penalty_details = [
            json.dumps(
                {"处罚内容": f"罚款人民币{amount}元", "罚款金额（万元）": f"{amount / 10000:.2f}"},
                ensure_ascii=False,
            )
            for amount in (200, 500, 1000, 2000, 5000, 10000, 30000, 50000)
        ]
        self.honour_details = [json.dumps({"title": t}, ensure_ascii=False) for t in HONOUR_TITLES]
        self.licence_details = json.dumps({"许可类别": "普通"}, ensure_ascii=False)

    def record(self, record_id: int, subject_id: int, is_person: bool) -> tuple[Any, ...]:
        rnd, now = self.rnd, self.now
        table = PERSON_TYPES if is_person else ORG_TYPES
        draw = rnd()
        kind = next(name for name, upto in table if draw < upto)
        authority, authority_uscc = self.authorities[int(rnd() * len(self.authorities))]
        decided = self.days[int(rnd() * HISTORY_DAYS)]
        drawn = self.by_kind[kind](self, decided)
        record_class, title, severity, min_until, max_until, status, shared, details = drawn
        if status == "published" and rnd() < 0.02 and kind != "penalty":
            status = "revoked"
        document_no = f"阿{kind[:3].upper()}〔{decided.year}〕{record_id}号"
        return (
            record_id, subject_id, record_class, kind, title, severity, decided, min_until,
            max_until, status, shared, "platform", authority, authority_uscc, authority,
            authority_uscc, document_no, f"{kind}|BENCH-{record_id}|{authority_uscc}",
            f"{record_id:064x}", details, now, now,
        )  # fmt: skip

    def _penalty(self, decided: date) -> Drawn:
        rnd = self.rnd
        draw = rnd()
        severity = "minor" if draw < 0.4 else "general" if draw < 0.85 else "serious"
        record_class = "serious_dishonesty" if severity == "serious" else "general_dishonesty"
        low, high = self.windows.months[severity]
        min_until, max_until = add_months(decided, low), add_months(decided, high)
        title = "行政处罚：" + PENALTY_TITLES[int(rnd() * len(PENALTY_TITLES))]
        details = self.penalty_details[int(rnd() * len(self.penalty_details))]
        draw = rnd()
        status, shared = "published", True
        if max_until < self.on:
            status = "expired"
        elif draw < 0.07:
            status, shared = "repaired", False
        elif draw < 0.10:
            status = "under_objection"
        elif draw < 0.12:
            status = "revoked"
        return record_class, title, severity, min_until, max_until, status, shared, details

    def _licence(self, decided: date) -> Drawn:
        title = "行政许可：" + LICENCE_TITLES[int(self.rnd() * len(LICENCE_TITLES))]
        max_until, status = None, "published"
        if self.rnd() < 0.4:  # a dated licence; the rest are 长期 (shown until revoked)
            max_until = add_months(decided, 12 * (1 + int(self.rnd() * 5)))
            if max_until < self.on:
                status = "expired"
        return "basic", title, None, None, max_until, status, True, self.licence_details

    def _red_list(self, decided: date) -> Drawn:
        title = "守信激励对象：" + RED_LIST_TITLES[int(self.rnd() * len(RED_LIST_TITLES))]
        max_until = add_months(decided, 36)
        status = "expired" if max_until < self.on else "published"
        return "positive", title, None, None, max_until, status, True, "{}"

    def _black_list(self, decided: date) -> Drawn:
        """As the 双公示 import maps a 黑名单 row: serious dishonesty, serious's window."""
        reason = BLACK_LIST_REASONS[int(self.rnd() * len(BLACK_LIST_REASONS))]
        low, high = self.windows.months["serious"]
        min_until, max_until = add_months(decided, low), add_months(decided, high)
        status = "expired" if max_until < self.on else "published"
        details = json.dumps({"名单类型": "黑名单", "列入原因": reason}, ensure_ascii=False)
        return (
            "serious_dishonesty", f"黑名单：{reason}", "serious", min_until, max_until, status,
            True, details,
        )  # fmt: skip

    def _honour(self, decided: date) -> Drawn:
        which = int(self.rnd() * len(HONOUR_TITLES))
        title = "荣誉称号：" + HONOUR_TITLES[which]
        return "positive", title, None, None, None, "published", True, self.honour_details[which]

    by_kind: ClassVar[dict[str, Callable[[_RecordDraws, date], Drawn]]] = {
        "penalty": _penalty, "licence": _licence, "red_list": _red_list, "honour": _honour,
        "black_list": _black_list,
    }  # fmt: skip


def record_chunks(
    plan: DataPlan, windows: Windows, now: datetime, on: date
) -> Iterator[list[tuple[Any, ...]]]:
    """Records 1..R in chunks; each subject's share follows RECORD_WEIGHT."""
    rng = random.Random(plan.seed + 1)
    weights = [RECORD_WEIGHT[plan.kind_of(s)] for s in range(1, plan.subjects + 1)]
    owners = rng.choices(range(1, plan.subjects + 1), weights=weights, k=plan.records)
    draws = _RecordDraws(rng, windows, on, now)
    persons = plan.persons
    chunk: list[tuple[Any, ...]] = []
    for record_id, subject_id in enumerate(owners, start=1):
        chunk.append(draws.record(record_id, subject_id, subject_id <= persons))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def user_rows(
    plan: DataPlan, consent_version: str, now: datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(users, consents, bindings): user N has openid demo-openid-benchN and is person N."""
    consent = identity_consent()
    users, consents, bindings = [], [], []
    for n in range(1, plan.users + 1):
        users.append((n, f"{BENCH_OPENID_PREFIX}{n}", None, '["citizen"]', False, now, None))
        consents.append((n, n, consent.purpose, consent_version, consent.text_hash, now))
        bindings.append((n, n, n, n, "bench", None, now))
    return users, consents, bindings


async def load(
    conn: asyncpg.Connection,
    plan: DataPlan,
    cipher: FieldCipher,
    windows: Windows,
    consent_version: str,
    say: Any = print,
) -> dict[str, float]:
    """Generate and COPY everything; returns the seconds each step took."""
    plan.check()
    timings: dict[str, float] = {}
    now = datetime.now(UTC)
    on = today()
    await conn.execute("SET synchronous_commit = off")

    started = time.perf_counter()
    subjects = subject_rows(plan, cipher, now)
    await conn.copy_records_to_table("subject", records=subjects, columns=SUBJECT_COLUMNS)
    timings["subjects"] = time.perf_counter() - started
    say(f"  {len(subjects):,} subjects in {timings['subjects']:.1f} s")
    del subjects

    started = time.perf_counter()
    copied = 0
    for chunk in record_chunks(plan, windows, now, on):
        await conn.copy_records_to_table("record", records=chunk, columns=RECORD_COLUMNS)
        copied += len(chunk)
        if copied % (CHUNK * 5) == 0:
            say(f"  … {copied:,} records")
    timings["records"] = time.perf_counter() - started
    say(f"  {copied:,} records in {timings['records']:.1f} s")

    started = time.perf_counter()
    users, consents, bindings = user_rows(plan, consent_version, now)
    await conn.copy_records_to_table("app_user", records=users, columns=USER_COLUMNS)
    await conn.copy_records_to_table("consent", records=consents, columns=CONSENT_COLUMNS)
    await conn.copy_records_to_table("identity_binding", records=bindings, columns=BINDING_COLUMNS)
    for table in SERIAL_TABLES:
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
        )
    timings["users"] = time.perf_counter() - started
    say(f"  {len(users):,} users with consent and identity binding in {timings['users']:.1f} s")

    started = time.perf_counter()
    await conn.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - started
    return timings
