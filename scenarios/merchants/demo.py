"""Demo shops of the embedded default (fictional names; USCCs carry valid check characters):
one street and one scenic area of Alxa, so a newcomer can scan a plate at once."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from credit.acting import link_operator
from credit.calendar_dates import add_months, today
from credit.models import (
    IdentityBinding,
    OperatorBasis,
    Record,
    RecordClass,
    RecordType,
    Severity,
    Subject,
    SubjectKind,
)
from credit.person_names import person_name, seal_legal_representative
from infra.models import User
from infra.security.crypto import FieldCipher
from scenarios.merchants.models import Merchant, MerchantStatus
from scenarios.merchants.rules import default_rules

# (code, shop name, subject name, USCC, kind, zone, category, address, status, commitment signed)
DEMO_SHOPS = [
    ("DemoTuoling01", "驼铃餐厅（定远营店）", "阿拉善左旗驼铃餐饮有限公司", "91152921MA0Q8DEM0M",
     SubjectKind.ENTERPRISE, "dingyuanying", "餐饮", "巴彦浩特镇定远营古城南街 18 号",
     MerchantStatus.ACTIVE, True),
    ("DemoHuyang02", "胡杨人家民宿", "额济纳旗胡杨人家民宿", "92152923MA0Q8HY01L",
     SubjectKind.INDIVIDUAL_BUSINESS, "ejina-huyang", "住宿", "达来呼布镇胡杨林景区东门 6 号",
     MerchantStatus.ACTIVE, False),
    ("DemoShamo03", "沙漠之舟户外用品", "阿拉善左旗沙漠之舟户外用品店", "92152921MA0Q8XM03H",
     SubjectKind.INDIVIDUAL_BUSINESS, "dingyuanying", "零售", "巴彦浩特镇定远营古城北街 3 号",
     MerchantStatus.ACTIVE, False),
    (None, "驼峰文旅体验馆", "阿拉善左旗驼峰文旅有限公司", "91152921MA0Q8DK02J",
     SubjectKind.ENTERPRISE, "dingyuanying", "文化娱乐", "巴彦浩特镇定远营古城西街 9 号",
     MerchantStatus.PENDING, False),
]  # fmt: skip


async def seed_merchants(operator_openid: str, cipher: FieldCipher) -> set[int]:
    """Idempotent; returns the subjects it touched (their cached views must be dropped).

    The operator (bound to a person) is every demo entity's legal representative (经营者), so
    acting for them rests on the same proof as anywhere (credit/acting.py)."""
    rules = default_rules()
    operator = await User.get(openid=operator_openid)
    # Demo Mongolian names (issue 15): drafts by Claude (an AI model), to be reviewed.
    names_mn = {
        "DemoTuoling01": "ᠲᠡᠮᠡᠭᠡᠨ ᠬᠣᠩᠬᠣ ᠬᠣᠭᠣᠯᠠ ᠶᠢᠨ ᠭᠠᠵᠠᠷ",
        "DemoHuyang02": "ᠲᠣᠭᠣᠷᠠᠭ᠎ᠠ ᠶᠢᠨ ᠠᠶᠢᠯ ᠤᠨ ᠪᠠᠭᠤᠴᠠ",
    }
    person = await Subject.get(id=(await IdentityBinding.get(user_id=operator.id)).subject_id)
    touched: set[int] = set()
    for code, shop, subject_name, uscc, kind, zone, category, address, status, signed in DEMO_SHOPS:
        subject, _ = await Subject.get_or_create(
            natural_key=f"uscc:{uscc}",
            defaults={"kind": kind, "name": subject_name, "uscc": uscc, "region": uscc[2:8]},
        )
        touched.add(subject.id)
        if subject.legal_representative_id_index != person.id_number_index:
            masked, sealed = seal_legal_representative(cipher, person_name(person, cipher))
            await Subject.filter(id=subject.id).update(
                legal_representative=masked,
                legal_representative_enc=sealed,
                legal_representative_id_index=person.id_number_index,
            )
        await link_operator(operator.id, subject.id, OperatorBasis.LEGAL_REPRESENTATIVE)
        if await Merchant.exists(subject_id=subject.id, name=shop):
            continue
        await Merchant.create(
            subject_id=subject.id,
            operator_id=operator.id,
            name=shop,
            name_mn=names_mn.get(code or "", ""),
            name_mn_by="merchant" if code in names_mn else "",
            zone_id=zone,
            address=address,
            category=category,
            status=status,
            code=code,
            code_issued_on=today() if code else None,
            commitment_version=rules.commitment_version if signed else None,
            commitment_hash=rules.commitment_hash if signed else None,
            commitment_accepted_at=datetime.now(UTC) if signed else None,
        )
    shamo = await Subject.get(uscc="92152921MA0Q8XM03H")
    decided = today() - timedelta(days=40)
    await Record.get_or_create(
        natural_key="demo|penalty|shamo",
        defaults={
            "subject_id": shamo.id,
            "type": RecordType.PENALTY,
            "record_class": RecordClass.GENERAL_DISHONESTY,
            "title": "行政处罚：销售商品未明码标价",
            "severity": Severity.GENERAL,
            "decided_on": decided,
            "publish_min_until": add_months(decided, 3),
            "publish_max_until": add_months(decided, 12),
            "authority": "阿拉善左旗发展和改革委员会（演示）",
            "document_no": "demo|penalty|shamo",
            "content_hash": hashlib.sha256(b"demo|penalty|shamo").hexdigest(),
            "details": {"处罚内容": "警告"},
        },
    )
    return touched
