"""Demo users and data for the embedded default (API.md "Embedded demo logins").

Idempotent: run at every embedded start. Never runs in production (settings refuse demo=true
there). Every name and number here is fictional; the ID numbers carry valid check digits.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta

from credit.calendar_dates import add_months, today
from credit.identity import identity_consent
from credit.models import (
    ID_NUMBER_FIELD,
    Consent,
    IdentityBinding,
    Record,
    RecordClass,
    RecordType,
    Severity,
    Subject,
    SubjectKind,
)
from credit.person_names import seal_legal_representative, seal_person_name
from infra.cache import invalidate_subjects
from infra.models import User
from infra.runtime import Runtime
from scenarios.incentives.demo import seed_incentives
from scenarios.merchants.demo import seed_merchants

log = logging.getLogger(__name__)

DEMO_OPENID_PREFIX = "demo-openid-"  # what the fake WeChat returns for code demo-<name>

# name -> (roles, person bound to the user: (name, id number) or None)
DEMO_CITIZEN_ID_NUMBER = "15292119900315001X"
DEMO_USERS: dict[str, tuple[list[str], tuple[str, str] | None]] = {
    "citizen": (["citizen"], ("巴特尔", DEMO_CITIZEN_ID_NUMBER)),
    "merchant": (["citizen", "merchant"], ("其其格", "152922198506200025")),
    "staff": (["citizen", "venue_staff"], ("王建国", "152921197801010039")),
    "reviewer": (["reviewer"], None),
    "admin": (["admin"], None),
}
DEMO_ENTERPRISE = ("阿拉善左旗驼铃餐饮有限公司", "91152921MA0Q8DEM0M")
# A government body with one 政务失信 record: /public/agencies/11152921MB00000014.
DEMO_AGENCY = ("阿拉善左旗示范镇人民政府（演示）", "11152921MB00000014")


async def seed_demo(rt: Runtime) -> None:
    touched: set[int] = set()
    for name, (roles, person) in DEMO_USERS.items():
        user, _ = await User.get_or_create(
            openid=f"{DEMO_OPENID_PREFIX}{name}", defaults={"roles": roles, "is_demo": True}
        )
        if person is not None:
            subject = await _person(rt, *person)
            await _bind(rt, user, subject)
            touched.add(subject.id)
    citizen = await Subject.get(natural_key=_person_key(rt, DEMO_CITIZEN_ID_NUMBER))
    await _citizen_records(citizen)
    representative, representative_enc = seal_legal_representative(rt.cipher, "其其格")
    enterprise, _ = await Subject.get_or_create(
        natural_key=f"uscc:{DEMO_ENTERPRISE[1]}",
        defaults={
            "kind": SubjectKind.ENTERPRISE,
            "name": DEMO_ENTERPRISE[0],
            "uscc": DEMO_ENTERPRISE[1],
            "legal_representative": representative,
            "legal_representative_enc": representative_enc,
            "region": "152921",
        },
    )
    await _record(
        enterprise, "demo|licence|enterprise", RecordType.LICENCE, RecordClass.BASIC,
        "行政许可：食品经营许可证", date(2025, 3, 1), None, None, None,
    )  # fmt: skip
    touched.add(enterprise.id)
    agency, _ = await Subject.get_or_create(
        natural_key=f"uscc:{DEMO_AGENCY[1]}",
        defaults={
            "kind": SubjectKind.AGENCY, "name": DEMO_AGENCY[0], "uscc": DEMO_AGENCY[1],
            "region": "152921",
        },
    )  # fmt: skip
    agency_day = today() - timedelta(days=60)
    await _record(
        agency, "demo|integrity|agency", RecordType.GOV_DISHONESTY, RecordClass.GENERAL_DISHONESTY,
        "政务失信：拖欠账款", agency_day, Severity.GENERAL,
        (add_months(agency_day, 3), add_months(agency_day, 12)),
        {"失信行为类型": "拖欠账款", "失信事实": "拖欠道路工程款（演示数据）"},
    )  # fmt: skip
    touched.add(agency.id)
    touched |= await seed_merchants(f"{DEMO_OPENID_PREFIX}merchant", rt.cipher)
    await seed_incentives(rt)
    await invalidate_subjects(rt.redis, rt.keys, touched)
    log.info("demo users and data are in place (codes demo-citizen, demo-merchant, ...)")


def _person_key(rt: Runtime, id_number: str) -> str:
    return f"id:{rt.cipher.blind_index(id_number, ID_NUMBER_FIELD)}"


async def _person(rt: Runtime, name: str, id_number: str) -> Subject:
    index = rt.cipher.blind_index(id_number, ID_NUMBER_FIELD)
    masked_name, name_enc = seal_person_name(rt.cipher, name)
    subject, _ = await Subject.get_or_create(
        natural_key=f"id:{index}",
        defaults={
            "kind": SubjectKind.PERSON,
            "name": masked_name,
            "name_enc": name_enc,
            "id_number_enc": rt.cipher.encrypt(id_number, ID_NUMBER_FIELD),
            "id_number_index": index,
            "region": id_number[:6],
        },
    )
    return subject


async def _bind(rt: Runtime, user: User, subject: Subject) -> None:
    if await IdentityBinding.exists(user_id=user.id):
        return
    text = identity_consent()
    consent = await Consent.create(
        user_id=user.id, purpose=text.purpose, text_version=text.version, text_hash=text.text_hash
    )
    await IdentityBinding.create(
        user_id=user.id, subject_id=subject.id, consent_id=consent.id, method="demo"
    )


async def _citizen_records(citizen: Subject) -> None:
    now = today()
    penalty_day = now - timedelta(days=150)  # past the 3-month minimum, inside the 1-year maximum
    await _record(
        citizen, "demo|licence|citizen", RecordType.LICENCE, RecordClass.BASIC,
        "行政许可：导游证", date(2024, 5, 20), None, None, None,
    )  # fmt: skip
    await _record(
        citizen, "demo|honour|citizen", RecordType.HONOUR, RecordClass.POSITIVE,
        "荣誉称号：劳动模范", date(2025, 4, 28), None, None, {"title": "劳动模范"},
    )  # fmt: skip
    await _record(
        citizen, "demo|penalty|citizen", RecordType.PENALTY, RecordClass.GENERAL_DISHONESTY,
        "行政处罚：违规停车占用景区应急通道", penalty_day, Severity.GENERAL,
        (add_months(penalty_day, 3), add_months(penalty_day, 12)),
        {"处罚内容": "罚款人民币200元", "罚款金额（万元）": "0.02"},
    )  # fmt: skip


async def _record(
    subject: Subject,
    natural_key: str,
    type_: RecordType,
    record_class: RecordClass,
    title: str,
    decided_on: date,
    severity: Severity | None,
    window: tuple[date, date] | None,
    details: dict[str, str] | None,
) -> None:
    await Record.get_or_create(
        natural_key=natural_key,
        defaults={
            "subject_id": subject.id,
            "type": type_,
            "record_class": record_class,
            "title": title,
            "decided_on": decided_on,
            "severity": severity,
            "publish_min_until": window[0] if window else None,
            "publish_max_until": window[1] if window else None,
            "authority": "阿拉善盟示范单位（演示）",
            "authority_uscc": "11152900MB0000000X",
            "document_no": natural_key,
            "content_hash": hashlib.sha256(natural_key.encode()).hexdigest(),
            "details": details or {},
        },
    )
