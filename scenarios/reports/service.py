"""Credit reports (issue 13): issue one for the caller's own person or an enterprise they act for,
serve its PDF to its owner, let anyone holding the number verify it, and revoke it.

Issuing: the facts (credit/report_content.py, audience "self"), a fingerprint of them, and, when
the same user asked for the same subject and purpose with the same facts within
`reuse_hours`, that report again; else a new unguessable number, the PDF rendered off the loop
(render.py), its SHA-256, and the signed summary (canonical JSON naming the PDF's hash and the
content's, qr/report_signing.py). Every issue and every verification is an audited read of the
subject (infra/audit.py), which the subject sees in GET /api/v1/me/credit/queries."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from credit.acting import acting_subject
from credit.calendar_dates import SHANGHAI, shanghai_iso, today
from credit.models import RecordClass, Subject, SubjectKind
from credit.report_content import (
    CLASS_LABELS,
    SELF_REGISTERED_LABEL,
    report_content,
    years_text,
)
from infra.audit import AuditEvent, AuditTemplate
from infra.audit import append as append_audit
from infra.cache import as_text
from infra.errors import Conflict, Invalid, NotFound, RateLimited
from infra.json_encoding import encode_json
from infra.redis_scripts import script_for
from infra.runtime import Runtime
from infra.security import ratelimit
from infra.security.sessions import Session
from infra.settings import Settings
from infra.uploads import UploadTooLarge
from qr.report_document import Item, ReportDocument, Section
from qr.report_signing import ReportSignature, canonical_json, signer_for
from scenarios.merchants.models import Merchant
from scenarios.merchants.rules import default_rules as merchant_rules
from scenarios.reports import h5
from scenarios.reports.models import CreditReport
from scenarios.reports.render import render_pdf
from scenarios.reports.rules import ReportRules, default_rules

# 24 characters of a 32-letter alphabet (no 0/O, 1/I): 120 random bits, after an "R".
NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
NUMBER_LENGTH = 24
TEMPLATE_VERSION = "1"
ISSUER = "信用阿拉善（阿拉善盟公共信用信息平台）"
ADMIN_ROLE = "admin"
RATE_BUCKET = "credit_report"
VERIFY_BUCKET = "report_verify"
NOT_FOUND_MESSAGE = "未找到该报告编号：报告不存在或编号有误，请勿采信"
STATUS_LABELS = {
    "valid": "有效：本报告由信用阿拉善出具，在有效期内",
    "revoked": "已撤销：本报告已被撤销，不能作为信用证明使用",
    "expired": "已过期：本报告已超过有效期，请向信用主体索取新报告",
}
KIND_LABELS = {
    SubjectKind.PERSON: "自然人",
    SubjectKind.ENTERPRISE: "法人及非法人组织",
    SubjectKind.INDIVIDUAL_BUSINESS: "个体工商户",
    SubjectKind.AGENCY: "行政事业单位",
}
Status = Literal["valid", "revoked", "expired"]
SPECIAL_FIELDS = ("from", "to", "penalty_line", "serious_line")
# Every column but the PDF itself (verification reads only its hash).
_FIELDS = (
    "id", "report_no", "subject_id", "owner_id", "purpose", "issued_at", "valid_until",
    "fingerprint", "canonical", "kid", "signature", "pdf_sha256", "revoked_at",
)  # fmt: skip


def new_report_no() -> str:
    return "R" + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(NUMBER_LENGTH))


def is_report_no(text: str) -> bool:
    return (
        len(text) == NUMBER_LENGTH + 1
        and text[0] == "R"
        and all(c in NUMBER_ALPHABET for c in text[1:])
    )


def report_urls(settings: Settings, report_no: str) -> tuple[str, str]:
    """(pdf_url, verify_url)."""
    base = settings.public_base_url
    return f"{base}/api/v1/credit-reports/{report_no}/pdf", f"{base}/r/{report_no}"


@dataclass(frozen=True)
class Issued:
    report: CreditReport
    reused: bool

    def as_dict(self, settings: Settings) -> dict[str, Any]:
        pdf_url, verify_url = report_urls(settings, self.report.report_no)
        return {
            "report_no": self.report.report_no,
            "pdf_url": pdf_url,
            "verify_url": verify_url,
            "issued_at": shanghai_iso(self.report.issued_at),
            "valid_until": shanghai_iso(self.report.valid_until),
            "purpose": self.report.purpose,
            "pdf_sha256": self.report.pdf_sha256,
            "reused": self.reused,
        }


def _check_purpose(purpose: str, rules: ReportRules) -> str:
    purpose = purpose.strip()
    if purpose not in rules.purposes:
        raise Invalid("请选择报告用途", fields={"purpose": "须为：" + "、".join(rules.purposes)})
    return purpose


async def issue(
    rt: Runtime, session: Session, subject_uscc: str | None, purpose: str, *, channel: str
) -> Issued:
    """A report for the caller's bound person (no USCC) or an enterprise they act for."""
    rules = default_rules()
    purpose = _check_purpose(purpose, rules)
    subject = await acting_subject(session, subject_uscc)
    on = today()
    content = await report_content(subject, rt.cipher, on, rules.special)
    content["commitments"] = await _commitments(subject)
    content_json = canonical_json(content)
    fingerprint = hashlib.sha256(
        canonical_json(
            {
                "v": TEMPLATE_VERSION,
                "owner": session.user_id,
                "subject": subject.id,
                "purpose": purpose,
                "validity_days": rules.validity_days,
                "base": rt.settings.public_base_url,
                "content": content_json,
            }
        ).encode()
    ).hexdigest()
    await _audit_issue(rt, session, subject, purpose, channel)
    reused = await _reusable(rt, fingerprint)
    if reused is not None:
        return Issued(reused, True)
    report = await _issue_new(rt, session, subject, purpose, content, content_json, fingerprint)
    if rules.reuse_hours:
        await rt.redis.set(
            rt.keys.report_reuse(fingerprint), report.report_no, ex=rules.reuse_hours * 3600
        )
    return Issued(report, False)


async def _reusable(rt: Runtime, fingerprint: str) -> CreditReport | None:
    number = await rt.redis.get(rt.keys.report_reuse(fingerprint))
    if number is None:
        return None
    report = await CreditReport.filter(report_no=as_text(number)).only(*_FIELDS).first()
    if report is None or report.revoked_at is not None or report.valid_until <= _now():
        return None
    return report


async def _issue_new(
    rt: Runtime,
    session: Session,
    subject: Subject,
    purpose: str,
    content: dict[str, Any],
    content_json: str,
    fingerprint: str,
) -> CreditReport:
    rules = default_rules()
    report_no = new_report_no()
    issued_at = _now().replace(microsecond=0)
    valid_until = issued_at + timedelta(days=rules.validity_days)
    _, verify_url = report_urls(rt.settings, report_no)
    document = printed_document(
        report_no, purpose, issued_at, valid_until, content, verify_url, rules
    )
    font = merchant_rules().font(rt.settings.plate_font_path)
    pdf = await render_pdf(document, font, rules.queue_seconds)
    pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    summary = {
        "v": 1,
        "issuer": ISSUER,
        "report_no": report_no,
        "issued_at": shanghai_iso(issued_at),
        "valid_until": shanghai_iso(valid_until),
        "purpose": purpose,
        "subject": content["subject"],
        "level": {k: content["level"][k] for k in ("grade", "label", "score")},
        "special": {k: content["special"][k] for k in SPECIAL_FIELDS},
        "pdf_sha256": pdf_sha256,
        "content_sha256": hashlib.sha256(content_json.encode()).hexdigest(),
        "verify_url": verify_url,
    }
    canonical = canonical_json(summary)
    signature = signer_for(rt.settings).sign(canonical)
    return await CreditReport.create(
        report_no=report_no,
        subject_id=subject.id,
        owner_id=session.user_id,
        purpose=purpose,
        issued_at=issued_at,
        valid_until=valid_until,
        content=content_json,
        fingerprint=fingerprint,
        canonical=canonical,
        kid=signature.kid,
        signature=signature.value,
        pdf_sha256=pdf_sha256,
        pdf=pdf,
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def _commitments(subject: Subject) -> list[dict[str, Any]]:
    """The integrity commitments its shops signed (一店一码); a repair's commitment is with the
    repair (`repairs`)."""
    merchants = await Merchant.filter(
        subject_id=subject.id, commitment_accepted_at__isnull=False
    ).order_by("id")
    return [
        {
            "title": f"诚信经营承诺（{m.name}）",
            "version": m.commitment_version,
            "signed_at": shanghai_iso(m.commitment_accepted_at),
            "hash": m.commitment_hash,
        }
        for m in merchants
    ]


async def _audit_issue(
    rt: Runtime, session: Session, subject: Subject, purpose: str, channel: str
) -> None:
    own = subject.kind == SubjectKind.PERSON
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="credit.read", actor_kind="self" if own else "operator",
            actor_role="citizen", purpose=f"出具信用报告：{purpose}", channel=channel,
            actor_user_id=session.user_id, subject_id=subject.id,
        ),
    )  # fmt: skip


# -- the printed document -------------------------------------------------------------------


def _time(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def printed_document(
    report_no: str,
    purpose: str,
    issued_at: datetime,
    valid_until: datetime,
    content: dict[str, Any],
    verify_url: str,
    rules: ReportRules,
) -> ReportDocument:
    subject = content["subject"]
    person = subject["kind"] == SubjectKind.PERSON
    level = content["level"]
    special = content["special"]
    subject_rows = [
        ("主体类别", KIND_LABELS.get(subject["kind"], subject["kind"])),
        ("姓名" if person else "名称", subject["name"]),
        ("身份证号" if person else "统一社会信用代码", subject["id_masked"] or "—"),
    ]
    level_lines = [f"信用分 {level['score']}（满分 1000），依据以下因素："]
    level_lines += [f"{f['points']:+d} 分：{f['reason']}" for f in content["factors"]] or [
        "无加减分记录"
    ]
    if level.get("ceiling"):
        level_lines.append(f"等级上限：{level['ceiling']['reason']}")
    sections = [
        Section(CLASS_LABELS[RecordClass(name)], tuple(_item(r, rules) for r in records))
        for name, records in content["records"].items()
    ]
    sections.append(
        Section(
            "信用修复记录",
            tuple(
                Item(
                    f"已修复：{r['record']['title'] if r['record'] else '—'}",
                    (
                        f"修复时间 {r['repaired_at']}",
                        f"信用承诺 {r['commitment']['version']}（签署于 "
                        f"{r['commitment']['accepted_at']}）",
                    ),
                )
                for r in content["repairs"]
            ),
        )
    )
    sections.append(
        Section(
            "信用承诺",
            tuple(
                Item(c["title"], (f"版本 {c['version']}，签署于 {c['signed_at']}",))
                for c in content["commitments"]
            ),
        )
    )
    return ReportDocument(
        report_no=report_no,
        heading="信用报告（" + ("自然人" if person else "市场主体") + "）",
        header_rows=(
            ("报告编号", report_no),
            ("出具时间", _time(issued_at)),
            ("有效期至", _time(valid_until)),
            ("报告用途", purpose),
            ("出具机构", ISSUER),
        ),
        subject_rows=tuple(subject_rows),
        grade=level["grade"],
        grade_label=level["label"],
        grade_colour=level["colour"],
        level_lines=tuple(level_lines),
        special_title=f"专项：近{years_text(special['years'])}年有无行政处罚 / 严重失信",
        special_lines=(
            special["penalty_line"],
            special["serious_line"],
            f"查询期间：{special['from']} 至 {special['to']}",
        ),
        special_footnote=special["footnote"],
        sections=tuple(sections),
        verify_url=verify_url,
        caption=rules.caption,
        closing=(
            "本报告依据信用阿拉善归集的公共信用信息出具，仅反映出具时的信息。",
            "标注“自愿注册信息”的内容由信用主体自行提供，经信用中心审核。",
            "本报告经 Ed25519 电子签名，签名、公钥与 PDF 的 SHA-256 可在核验网址查询。",
        ),
    )


def _item(record: dict[str, Any], rules: ReportRules) -> Item:
    lines = [
        f"认定机关 {record['authority']}，决定日期 {record['decided_on']}"
        + (f"，公示截止 {record['publish_until']}" if record["publish_until"] else ""),
    ]
    if record["severity_label"]:
        lines.append(f"失信程度：{record['severity_label']}")
    for step in record["history"]:
        text = f"{step['kind_label']}：{step['status_label']}（申请于 {step['filed_at'][:10]}"
        text += f"，决定于 {step['decided_at'][:10]}）" if step["decided_at"] else "）"
        if step["outcome"]:
            text += f"，{step['outcome']}"
        lines.append(text)
    marks = []
    if record["self_registered"]:
        marks.append(SELF_REGISTERED_LABEL)
    if not record["published"]:
        marks.append(rules.mark_unpublished)
    if record["objection"]:
        marks.append(record["objection"]["label"])
    return Item(record["title"], tuple(lines), "；".join(marks) or None)


# -- the owner's PDF, verification, revocation ----------------------------------------------


async def _report(report_no: str, *, with_pdf: bool = False) -> CreditReport:
    report = None
    if is_report_no(report_no):
        query = CreditReport.filter(report_no=report_no)
        report = await (query.first() if with_pdf else query.only(*_FIELDS).first())
    if report is None:
        raise NotFound(NOT_FOUND_MESSAGE, code="REPORT_NOT_FOUND")
    return report


async def owner_pdf(session: Session, report_no: str) -> tuple[str, bytes]:
    """(file name, PDF) for the user who asked for the report; 404 for anyone else (not even an
    admin reads it: the report is the subject's to hand on)."""
    report = await _report(report_no, with_pdf=True)
    if report.owner_id != session.user_id:
        raise NotFound(NOT_FOUND_MESSAGE, code="REPORT_NOT_FOUND")
    return f"credit-report-{report.report_no}.pdf", bytes(report.pdf)


@dataclass(frozen=True)
class Verifiable:
    """What verification reads of a report (never the PDF); its status now."""

    report_no: str
    subject_id: int
    owner_id: int
    valid_until: datetime
    revoked_at: datetime | None
    canonical: str
    kid: str
    signature: str
    pdf_sha256: str
    fingerprint: str

    @classmethod
    def of(cls, report: CreditReport) -> Verifiable:
        return cls(
            report.report_no, report.subject_id, report.owner_id, report.valid_until,
            report.revoked_at, report.canonical, report.kid, report.signature,
            report.pdf_sha256, report.fingerprint,
        )  # fmt: skip

    def status(self, now: datetime | None = None) -> Status:
        if self.revoked_at is not None:
            return "revoked"
        if self.valid_until <= (now or _now()):
            return "expired"
        return "valid"


VIEW_CACHE_SECONDS = 3600

# One round trip per warm verification: the address's rate limit, the report's cached fields
# (hash `Keys.report_view`: subject id, validity as epoch seconds, revoked flag, and the rendered
# API body and H5 page per status), its status now, and the audit entry of the read, spliced
# around the subject id that only the hash knows. Replies: {2, ttl} over the limit; {0} not
# cached; {1, status, body or false}.
_VERIFY_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl <= 0 then ttl = tonumber(ARGV[2]) end
  return {2, ttl}
end
local s = redis.call('HMGET', KEYS[2], 'subject', 'until', 'revoked')
if not s[1] then return {0} end
local status = 'valid'
if s[3] == '1' then status = 'revoked'
elseif tonumber(ARGV[3]) >= tonumber(s[2]) then status = 'expired' end
redis.call('XADD', KEYS[3], '*', 'e', ARGV[4] .. s[1] .. ARGV[5])
return {1, status, redis.call('HGET', KEYS[2], ARGV[6] .. status) or false}
"""
_SUBJECT_MARK, _REPORT_MARK = "-944944944", "RMARKREPORTNO"
_TEMPLATES: dict[tuple[str, str], AuditTemplate] = {}


def _audit_template(channel: str, check: str) -> AuditTemplate:
    template = _TEMPLATES.get((channel, check))
    if template is None:
        template = AuditTemplate(
            AuditEvent(
                action="credit.read", actor_kind="report_verifier", actor_role="public",
                purpose="信用报告核验", channel=channel, subject_id=int(_SUBJECT_MARK),
                detail={"report_no": _REPORT_MARK, "check": check},
            ),
            (_SUBJECT_MARK, _REPORT_MARK),
        )  # fmt: skip
        if len(_TEMPLATES) < 16:  # channels are a small fixed set
            _TEMPLATES[(channel, check)] = template
    return template


async def _verifiable(rt: Runtime, report_no: str) -> Verifiable:
    if not is_report_no(report_no):
        raise NotFound(NOT_FOUND_MESSAGE, code="REPORT_NOT_FOUND")
    return Verifiable.of(await _report(report_no))


async def _forget(rt: Runtime, report_no: str) -> None:
    await rt.redis.delete(rt.keys.report_view(report_no))


async def _count_verification(rt: Runtime, user_id: int | None, address: str) -> None:
    rules = rt.settings.rate_limits
    if user_id is not None:
        await ratelimit.enforce_per_client(
            rt.redis, rt.keys, VERIFY_BUCKET, user_id, address, rules
        )
        return
    bucket = VERIFY_BUCKET + ratelimit.ADDRESS_SUFFIX
    who = ratelimit.address_key(address)
    await ratelimit.enforce(rt.redis, rt.keys, bucket, who, rules[bucket])


async def _audit_verification(
    rt: Runtime, report: Verifiable, channel: str, user_id: int | None, detail: dict[str, object]
) -> None:
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="credit.read", actor_kind="report_verifier", actor_role="public",
            purpose="信用报告核验", channel=channel, actor_user_id=user_id,
            subject_id=report.subject_id, detail={"report_no": report.report_no, **detail},
        ),
    )  # fmt: skip


def verification_view(report: Verifiable) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(report.canonical)
    status = report.status()
    return {
        "report_no": report.report_no,
        "status": status,
        "status_label": STATUS_LABELS[status],
        "issued_at": summary["issued_at"],
        "valid_until": summary["valid_until"],
        "purpose": summary["purpose"],
        "subject": summary["subject"],
        "level": summary["level"],
        "special": summary["special"],
        "pdf_sha256": report.pdf_sha256,
        "revoked_at": shanghai_iso(report.revoked_at),
        "signed": {
            "canonical": report.canonical,
            **ReportSignature(report.kid, report.signature).as_dict(),
        },
    }


def _rendered(view: dict[str, Any], fmt: Literal["j", "h"]) -> bytes:
    if fmt == "h":
        return h5.render_verification(view).encode()
    return encode_json(view)


async def verified(
    rt: Runtime,
    report_no: str,
    fmt: Literal["j", "h"],
    *,
    channel: str,
    user_id: int | None,
    client: str,
) -> bytes:
    """The verification API's JSON (`j`) or the H5 page (`h`): an audited read of the subject,
    rate-limited per address (and per user when logged in). Warm: one Redis round trip."""
    if user_id is not None:  # the user's own count; the address is counted by the script
        rule = rt.settings.rate_limits[VERIFY_BUCKET]
        await ratelimit.enforce(rt.redis, rt.keys, VERIFY_BUCKET, f"u:{user_id}", rule)
    address_bucket = VERIFY_BUCKET + ratelimit.ADDRESS_SUFFIX
    rule = rt.settings.rate_limits[address_bucket]
    if not is_report_no(report_no):
        await ratelimit.enforce(
            rt.redis, rt.keys, address_bucket, ratelimit.address_key(client), rule
        )
        raise NotFound(NOT_FOUND_MESSAGE, code="REPORT_NOT_FOUND")
    head, tail = _audit_template("h5" if fmt == "h" else channel, "view").render_open(
        None, report_no
    )
    key = rt.keys.report_view(report_no)
    result = await script_for(rt.redis, _VERIFY_SCRIPT)(
        keys=[
            rt.keys.rate(address_bucket, ratelimit.address_key(client)),
            key,
            rt.keys.audit_stream,
        ],
        args=[rule.limit, rule.window, int(time.time()), head, tail, f"{fmt}:"],
    )
    state = int(result[0])
    if state == 2:
        raise RateLimited(int(result[1]))
    if state == 1 and result[2]:
        return bytes(result[2])
    report = await _verifiable(rt, report_no)
    if state == 0:
        await _audit_verification(rt, report, "h5" if fmt == "h" else channel, user_id, {
            "check": "view"
        })  # fmt: skip
    view = verification_view(report)
    body = _rendered(view, fmt)
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.hset(
            key,
            mapping={
                "subject": report.subject_id,
                "until": int(report.valid_until.timestamp()),
                "revoked": "1" if report.revoked_at else "",
                f"{fmt}:{view['status']}": body,
            },
        )
        pipe.expire(key, VIEW_CACHE_SECONDS)
        await pipe.execute()
    return body


async def verify_upload(
    rt: Runtime,
    report_no: str,
    content: bytes | None,
    *,
    channel: str,
    user_id: int | None,
    client: str,
) -> dict[str, Any]:
    """Whether the uploaded file is byte for byte the PDF issued under this number."""
    await _count_verification(rt, user_id, client)
    if not content:
        raise Invalid("请以 multipart 表单的 file 字段上传报告 PDF", fields={"file": "必填"})
    if len(content) > rt.settings.upload_max_bytes:
        limit_mb = rt.settings.upload_max_bytes // (1024 * 1024)
        raise UploadTooLarge(f"文件过大，不能超过 {limit_mb} MB")
    report = await _verifiable(rt, report_no)
    digest = await asyncio.to_thread(lambda: hashlib.sha256(content).hexdigest())
    match = secrets.compare_digest(digest, report.pdf_sha256)
    await _audit_verification(rt, report, channel, user_id, {"check": "upload", "match": match})
    view = verification_view(report)
    view["match"] = match
    view["uploaded_sha256"] = digest
    view["match_label"] = (
        "上传的文件与出具的报告逐字节一致"
        if match
        else "上传的文件与出具的报告不一致：文件被修改过，或不是该编号的报告"
    )
    return view


async def revoke(
    rt: Runtime, session: Session, report_no: str, reason: str | None
) -> dict[str, Any]:
    """The owner or an admin; 404 for anyone else, 409 when already revoked."""
    report = await _report(report_no)
    if report.owner_id != session.user_id and not session.has_role(ADMIN_ROLE):
        raise NotFound(NOT_FOUND_MESSAGE, code="REPORT_NOT_FOUND")
    now = _now()
    changed = await CreditReport.filter(id=report.id, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=session.user_id, revoke_reason=reason
    )
    if not changed:
        raise Conflict("该报告已撤销", code="REPORT_REVOKED")
    await rt.redis.delete(rt.keys.report_reuse(report.fingerprint))
    await _forget(rt, report.report_no)
    await append_audit(
        rt.redis,
        rt.keys,
        AuditEvent(
            action="credit_report.revoke",
            actor_kind="self" if report.owner_id == session.user_id else "admin",
            actor_role="admin" if report.owner_id != session.user_id else "citizen",
            purpose="撤销信用报告", channel="api", actor_user_id=session.user_id,
            subject_id=report.subject_id, detail={"report_no": report.report_no},
        ),
    )  # fmt: skip
    return verification_view(await _verifiable(rt, report_no))


def public_keys(rt: Runtime) -> dict[str, Any]:
    return {
        "keys": signer_for(rt.settings).public_keys(),
        "canonical": "UTF-8 JSON，键按字典序排列，无空格，非 ASCII 字符原样（见 README）",
        "signed_field": "signed.canonical",
        "pdf_hash_field": "pdf_sha256",
    }
