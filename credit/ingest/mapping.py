"""Feed rows -> (subject, record): one mapper per kind of league platform file.

The mappers are pure (no database): they check a row, say which subject it is about and what
record it makes, and compute the record's content hash so a re-import can tell "same" from
"changed" without touching the database row. Plaintext ID numbers only live in memory
(`SubjectData.id_number`, excluded from repr; for a large file also the pipe from the parsing
worker process); keys, hashes and details carry the blind index instead, and the database only
the ciphertext.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from json.encoder import encode_basestring
from typing import Any

from credit.ingest.fields import (
    ID_CARD_TYPES,
    ORG_CODE,
    TAX_REGISTRATION_NO,
    RowError,
    amount_text,
    check_id_number,
    check_other_document,
    check_registration_no,
    check_uscc,
    is_no_uscc,
    limited,
    optional_code,
    parse_amount,
    parse_date,
    parse_optional_date,
    region_of,
    required,
)
from credit.ingest.rules import SERIOUS, RecordRules, normalise_value
from credit.integrity.rules import feed_rules
from credit.models import SEVERITY_LABELS, RecordClass, RecordType, Severity, SubjectKind

LEGAL_REP_ID_FIELD = "subject.legal_representative_id"

# The model's enum values as plain strings: they are compared and hashed once per row.
ENTERPRISE = SubjectKind.ENTERPRISE.value
PERSON = SubjectKind.PERSON.value
AGENCY = SubjectKind.AGENCY.value
INDIVIDUAL_BUSINESS = SubjectKind.INDIVIDUAL_BUSINESS.value
PENALTY, LICENCE, HONOUR = (
    RecordType.PENALTY.value,
    RecordType.LICENCE.value,
    RecordType.HONOUR.value,
)
RED_LIST, BLACK_LIST = RecordType.RED_LIST.value, RecordType.BLACK_LIST.value
GOV_DISHONESTY = RecordType.GOV_DISHONESTY.value
BASIC, POSITIVE = RecordClass.BASIC.value, RecordClass.POSITIVE.value
GENERAL_DISHONESTY = RecordClass.GENERAL_DISHONESTY.value
SERIOUS_DISHONESTY = RecordClass.SERIOUS_DISHONESTY.value

SUBJECT_KINDS = {
    "法人及非法人组织": ENTERPRISE,
    "自然人": PERSON,
    "个体工商户": INDIVIDUAL_BUSINESS,
}
LICENCE_CATEGORIES = frozenset({"普通", "特许", "认可", "核准", "登记", "其他"})
LIST_TYPES = {"红名单": RED_LIST, "黑名单": BLACK_LIST}
# Titles of the penalty rows that are not dishonesty records (PenaltyClass.reason -> title).
_PENALTY_TITLES = {"不予处罚": "不予行政处罚", "仅责令改正": "责令改正"}

# The versions of the 双公示 standard a feed may follow (FeedFormat.layouts).
CURRENT, STANDARD_2016 = "current", "2016"
# The details key of a licence's 当前状态 when it is not 有效 (credit.publication.counts).
LICENCE_STATE = "当前状态"


@dataclass(slots=True)
class SubjectData:
    """What one row says about its subject. Empty values never overwrite stored ones."""

    natural_key: str
    kind: str  # a SubjectKind value
    name: str
    uscc: str | None = None
    uscc_check_ok: bool = True
    registration_no: str | None = None
    id_number: str | None = field(default=None, repr=False)  # plaintext, memory only
    id_number_index: str | None = None
    legal_representative: str | None = None
    legal_representative_id: str | None = field(default=None, repr=False)  # plaintext, memory only
    region: str | None = None
    legal_representative_id_type: str | None = None
    org_code: str | None = None
    tax_registration_no: str | None = None
    institution_cert_no: str | None = None
    social_org_cert_no: str | None = None

    def merge(self, later: SubjectData) -> None:
        """A later row about the same subject wins, but blanks keep what is known."""
        self.kind = later.kind
        self.name = later.name
        for name in (
            "uscc",
            "registration_no",
            "id_number",
            "id_number_index",
            "legal_representative",
            "region",
            "org_code",
            "tax_registration_no",
            "institution_cert_no",
            "social_org_cert_no",
        ):
            value = getattr(later, name)
            if value:
                setattr(self, name, value)
        if later.legal_representative_id:  # the number and its type go together
            self.legal_representative_id = later.legal_representative_id
            self.legal_representative_id_type = later.legal_representative_id_type
        if later.uscc:
            self.uscc_check_ok = later.uscc_check_ok


@dataclass(slots=True)
class RecordData:
    natural_key: str
    type: str  # RecordType, RecordClass and Severity values
    record_class: str
    title: str
    severity: str | None
    # dates as ISO text: what SQLite stores and what the PostgreSQL batch carries
    decided_on: str
    publish_min_until: str | None
    publish_max_until: str | None
    authority: str
    authority_uscc: str | None
    source_unit: str | None
    source_unit_uscc: str | None
    document_no: str
    details_json: str
    body_digest: str  # sha256 of everything above but the natural key and the subject
    content_hash: str  # over the subject's key and body_digest; "" until the key is known
    # The row withdraws the record (当前状态 or 备注, config/records.toml [feed_status]): it is
    # stored revoked. The 当前状态 / 备注 that say so are in the details, hence in the hash.
    withdrawn: bool = False


@dataclass(slots=True)
class MappedRow:
    line: int
    subject: SubjectData
    record: RecordData
    warnings: list[str]

    def complete(self, blind_index: Callable[[str], str]) -> None:
        """Fill in what a parsing worker cannot compute without the blind-index key: a
        person's key, and with it the record's natural key and content hash."""
        subject, record = self.subject, self.record
        if not subject.natural_key:
            assert subject.id_number is not None
            subject.id_number_index = blind_index(subject.id_number)
            subject.natural_key = f"id:{subject.id_number_index}"
        if not record.content_hash:
            record.natural_key = record.natural_key.replace(SUBJECT_KEY, subject.natural_key)
            record.content_hash = content_hash(subject.natural_key, record.body_digest)

    def to_wire(self) -> tuple[Any, ...]:
        """Plain tuples: pickled to and from a parsing worker several times faster."""
        return (
            self.line,
            _subject_fields(self.subject),
            _record_fields(self.record),
            self.warnings,
        )

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> MappedRow:
        return cls(wire[0], SubjectData(*wire[1]), RecordData(*wire[2]), wire[3])


_subject_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(SubjectData)))
_record_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(RecordData)))

# Stands for the subject's natural key in a record's natural key until a worker's row is
# completed (honours are keyed by their holder).
SUBJECT_KEY = "\x00subject\x00"


def content_hash(subject_key: str, body_digest: str) -> str:
    return hashlib.sha256(f"{subject_key}\x1f{body_digest}".encode()).hexdigest()


# One CSV row by stripped header name; absent optional columns read as "".
Row = dict[str, str]


def details_json(details: dict[str, str]) -> str:
    """Compact JSON of the non-empty details. Written by hand over the C string encoder: the
    general encoder's per-call set-up was a tenth of the import's parse time."""
    quote = encode_basestring
    return (
        "{"
        + ",".join([quote(key) + ":" + quote(value) for key, value in details.items() if value])
        + "}"
    )


@dataclass
class MapContext:
    rules: RecordRules
    today: date
    # Keyed HMAC of a person's ID number. None in a parsing worker, which has no key: the
    # importer then completes those rows (MappedRow.complete).
    blind_index: Callable[[str], str] | None = None
    # The version of the standard the file's header follows (set by the reader).
    standard: str = CURRENT


# ---- subjects -----------------------------------------------------------------------------------


def _person_number(ctx: MapContext, id_type: str, value: str, column: str) -> str:
    """The normalised document number; other documents than the ID card carry their type."""
    if id_type in ID_CARD_TYPES:
        return check_id_number(value, column, ctx.today)
    return f"{id_type}:{check_other_document(value, column)}"


def resolve_subject(
    ctx: MapContext,
    warnings: list[str],
    *,
    name: str,
    name_column: str,
    category: str,
    category_column: str,
    uscc: str,
    uscc_column: str,
    registration_no: str = "",
    registration_column: str = "工商注册号",
    id_type: str = "",
    id_number: str = "",
    id_column: str = "证件号码",
    legal_representative: str = "",
    legal_representative_id_type: str = "",
    legal_representative_id: str = "",
    other_codes: Row | None = None,
) -> SubjectData:
    """The subject a row is about, keyed "uscc:…", "reg:…" (individual business without a USCC)
    or "id:<blind index>" (person), so no natural key ever holds an ID number.

    `id_type` / `id_number` are a natural person's own document; the legal representative's
    (法定代表人证件类型 / 法定代表人证件号码) are kept on the organisation, encrypted, and never
    make or match a person subject. `other_codes`: the row, for 行政相对人代码_3…_6."""
    limited(required(name, name_column), name_column, 200)
    kind = SUBJECT_KINDS.get(category)
    if kind is None:
        raise RowError(
            f"{category_column}无效：{category or '（空）'}"
            "（应为法人及非法人组织、自然人或个体工商户）"
        )
    if kind == PERSON:
        if not id_number:
            raise RowError(f"自然人的{id_column}为空")
        number = _person_number(ctx, id_type, id_number, id_column)
        index = ctx.blind_index(number) if ctx.blind_index else None
        return SubjectData(
            natural_key=f"id:{index}" if index else "",  # "" until completed
            kind=kind,
            name=name,
            id_number=number,
            id_number_index=index,
            region=region_of(number[:6]),
        )

    subject = SubjectData(natural_key="", kind=kind, name=name)
    code = uscc.replace(" ", "")
    if not code or is_no_uscc(code):
        if kind != INDIVIDUAL_BUSINESS:
            raise RowError(f"{uscc_column}为空或为 17 个 0 加 X，仅个体工商户可无统一社会信用代码")
        if not registration_no:
            raise RowError(
                f"个体工商户无统一社会信用代码（17 个 0 加 X）时须填写{registration_column}"
            )
        reg = limited(
            check_registration_no(registration_no, registration_column), registration_column, 30
        )
        subject.natural_key = f"reg:{reg}"
        subject.registration_no = reg
        subject.region = region_of(reg[:6])
    else:
        subject.uscc, subject.uscc_check_ok = check_uscc(code, uscc_column)
        if not subject.uscc_check_ok:
            warnings.append(f"{uscc_column} {subject.uscc} 校验位不符，按平台数据保留")
        subject.natural_key = f"uscc:{subject.uscc}"
        subject.region = subject.uscc[2:8]  # checked to be six digits
        if registration_no:
            try:
                subject.registration_no = limited(
                    check_registration_no(registration_no, registration_column),
                    registration_column,
                    30,
                )
            except RowError as exc:
                warnings.append(f"{exc}，未保存")
    if legal_representative:
        subject.legal_representative = limited(legal_representative, "法定代表人", 100)
    if id_number:
        warnings.append(
            f"{id_column}是自然人本人的证件号码，{category}的行不保存"
            "（法定代表人的证件应填在法定代表人证件类型、法定代表人证件号码列）"
        )
    if legal_representative_id:
        try:
            subject.legal_representative_id = _person_number(
                ctx, legal_representative_id_type, legal_representative_id, "法定代表人证件号码"
            )
            subject.legal_representative_id_type = (
                limited(legal_representative_id_type, "法定代表人证件类型", 40) or None
            )
        except RowError as exc:
            warnings.append(f"{exc}，未保存")
    if other_codes is not None and any(other_codes[column] for column in OTHER_CODE_COLUMNS):
        _other_codes(subject, other_codes, warnings)
    return subject


# 行政相对人代码_3…_6 of the current standard (a 2016 file's 组织机构代码 and 税务登记号 are read
# into the same keys).
ORG_CODE_COLUMN = "行政相对人代码_3(组织机构代码)"
TAX_NO_COLUMN = "行政相对人代码_4(税务登记号)"
INSTITUTION_COLUMN = "行政相对人代码_5(事业单位证书号)"
SOCIAL_ORG_COLUMN = "行政相对人代码_6(社会组织登记证号)"
OTHER_CODE_COLUMNS = (ORG_CODE_COLUMN, TAX_NO_COLUMN, INSTITUTION_COLUMN, SOCIAL_ORG_COLUMN)
LEGAL_REP_ID_COLUMNS = ("法定代表人证件类型", "法定代表人证件号码")


def _other_codes(subject: SubjectData, row: Row, warnings: list[str]) -> None:
    """Not personal data: kept on the organisation as the feed gives them."""
    subject.org_code = optional_code(
        row[ORG_CODE_COLUMN], "组织机构代码", warnings, pattern=ORG_CODE, max_length=20
    )
    subject.tax_registration_no = optional_code(
        row[TAX_NO_COLUMN], "税务登记号", warnings, pattern=TAX_REGISTRATION_NO, max_length=30
    )
    subject.institution_cert_no = optional_code(row[INSTITUTION_COLUMN], "事业单位证书号", warnings)
    subject.social_org_cert_no = optional_code(row[SOCIAL_ORG_COLUMN], "社会组织登记证号", warnings)


# ---- records ------------------------------------------------------------------------------------


def _authority_uscc(value: str, column: str, warnings: list[str]) -> str:
    code, ok = check_uscc(required(value, column), column)
    if not ok:
        warnings.append(f"{column} {code} 校验位不符，按平台数据保留")
    return code


def _optional_uscc(value: str, column: str, warnings: list[str]) -> str | None:
    return _authority_uscc(value, column, warnings) if value else None


def _not_future(day: date, column: str, ctx: MapContext) -> date:
    if day > ctx.today:
        raise RowError(f"{column}晚于今天：{day.isoformat()}")
    return day


def _finish(
    subject: SubjectData,
    *,
    natural_key: str,
    type: str,
    record_class: str,
    title: str,
    severity: str | None,
    decided_on: date,
    publish_min_until: date | None,
    publish_max_until: date | None,
    authority: str,
    authority_uscc: str | None,
    source_unit: str | None,
    source_unit_uscc: str | None,
    document_no: str,
    details: dict[str, str],
) -> RecordData:
    """The record plus its content hash over everything the import writes (and the subject's
    natural key), so a re-import of the same row is recognised and skipped."""
    limited(natural_key, "自然键", 255)
    decided = decided_on.isoformat()
    min_until = publish_min_until.isoformat() if publish_min_until else None
    max_until = publish_max_until.isoformat() if publish_max_until else None
    # key order is fixed by each mapper, so the JSON (and the hash) is deterministic
    encoded = details_json(details)
    title = title[:200]
    payload = "\x1f".join(
        (
            type,
            record_class,
            title,
            severity or "",
            decided,
            min_until or "",
            max_until or "",
            authority,
            authority_uscc or "",
            source_unit or "",
            source_unit_uscc or "",
            document_no,
            encoded,
        )
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()
    return RecordData(
        natural_key=natural_key,
        type=type,
        record_class=record_class,
        title=title,
        severity=severity,
        decided_on=decided,
        publish_min_until=min_until,
        publish_max_until=max_until,
        authority=authority,
        authority_uscc=authority_uscc,
        source_unit=source_unit,
        source_unit_uscc=source_unit_uscc,
        document_no=document_no,
        details_json=encoded,
        body_digest=digest,
        content_hash=content_hash(subject.natural_key, digest) if subject.natural_key else "",
    )


def _withdrawn_by_remark(remark: str, prefixes: tuple[str, ...]) -> bool:
    return bool(remark) and normalise_value(remark).startswith(prefixes)


def _unknown_state(row: Row, known: frozenset[str]) -> RowError:
    listed = "、".join(sorted(value for value in known if value))
    return RowError(f"当前状态无效：{row['当前状态']}（应为{listed}或为空）")


def _penalty_withdrawn(row: Row, ctx: MapContext) -> bool:
    """Whether the row withdraws its penalty: 当前状态 撤销 (2016 standard) or a 备注 saying so."""
    if not row["当前状态"] and not row["备注"]:
        return False  # most rows
    status = ctx.rules.feed_status
    state = normalise_value(row["当前状态"])
    if state in status.penalty_withdrawn:
        return True
    if state not in status.penalty_kept:
        raise _unknown_state(row, status.penalty_kept | status.penalty_withdrawn)
    return _withdrawn_by_remark(row["备注"], status.penalty_remark_prefixes)


def _licence_state(row: Row, ctx: MapContext) -> tuple[str, bool]:
    """(the licence's state if it is no longer valid, else ""; whether the row withdraws it)."""
    if not row["当前状态"] and not row["备注"]:
        return "", False  # most rows
    status = ctx.rules.feed_status
    state = normalise_value(row["当前状态"])
    if state in status.licence_withdrawn:
        return state, True
    if state in status.licence_valid:
        state = ""
    elif state not in status.licence_lapsed:
        raise _unknown_state(
            row, status.licence_valid | status.licence_lapsed | status.licence_withdrawn
        )
    return state, _withdrawn_by_remark(row["备注"], status.licence_remark_prefixes)


def map_penalty(row: Row, line: int, ctx: MapContext) -> MappedRow:
    """双公示 行政处罚 -> a penalty whose severity and publication window come from config."""
    warnings: list[str] = []
    subject = resolve_subject(
        ctx,
        warnings,
        name=row["行政相对人名称"],
        name_column="行政相对人名称",
        category=row["行政相对人类别"],
        category_column="行政相对人类别",
        uscc=row["行政相对人代码_1(统一社会信用代码)"],
        uscc_column="统一社会信用代码",
        registration_no=row["行政相对人代码_2(工商注册号)"],
        id_type=row["证件类型"],
        id_number=row["证件号码"],
        legal_representative=row["法定代表人"],
        legal_representative_id_type=row["法定代表人证件类型"],
        legal_representative_id=row["法定代表人证件号码"],
        other_codes=row,
    )
    document_no = limited(
        required(row["行政处罚决定书文号"], "行政处罚决定书文号"), "行政处罚决定书文号", 120
    )
    legacy = ctx.standard == STANDARD_2016  # 处罚名称 instead of 违法行为类型, no authority USCC
    offence_column = "处罚名称" if legacy else "违法行为类型"
    offence = required(row[offence_column], offence_column)
    withdrawn = _penalty_withdrawn(row, ctx)
    category = required(row["处罚类别"], "处罚类别")
    for column in ("违法事实", "处罚依据", "处罚内容"):
        required(row[column], column)
    decided_on = _not_future(parse_date(row["处罚决定日期"], "处罚决定日期"), "处罚决定日期", ctx)
    fine = parse_amount(row["罚款金额（万元）"], "罚款金额（万元）")
    confiscated = parse_amount(
        row["没收违法所得、没收非法财物的金额（万元）"], "没收违法所得、没收非法财物的金额（万元）"
    )
    valid_until = parse_optional_date(row["处罚有效期"], "处罚有效期")
    feed_until = parse_optional_date(row["公示截止期"], "公示截止期")
    if feed_until is not None and feed_until < decided_on:
        raise RowError("公示截止期早于处罚决定日期")
    authority = limited(required(row["处罚机关"], "处罚机关"), "处罚机关", 200)
    authority_uscc = (_optional_uscc if legacy else _authority_uscc)(
        row["处罚机关统一社会信用代码"], "处罚机关统一社会信用代码", warnings
    )
    source_unit = limited(row["数据来源单位"], "数据来源单位", 200) or None
    source_unit_uscc = _optional_uscc(
        row["数据来源单位统一社会信用代码"], "数据来源单位统一社会信用代码", warnings
    )

    classified = ctx.rules.classify_penalty(category, row["处罚内容"], fine, subject.kind)
    severity = classified.severity
    if severity is not None and not classified.recognised:
        warnings.append(
            f"未识别的处罚类别“{category}”，按{SEVERITY_LABELS[Severity(severity)]}失信处理"
        )
    if "罚款" in category and fine is None:
        warnings.append("处罚类别含罚款但罚款金额为空")
    if severity is None:
        # Not a dishonesty record (不予处罚, 责令改正 alone): kept for its subject, no window of
        # publication to run (it is never published); it ends when the source says, if it says.
        publish_min, publish_max = None, feed_until
        record_class = BASIC
    else:
        publish_min, publish_max = ctx.rules.window(severity, decided_on, feed_until)
        record_class = SERIOUS_DISHONESTY if severity == SERIOUS else GENERAL_DISHONESTY
    details = {
        "违法行为类型": "" if legacy else offence,
        "处罚名称": row["处罚名称"],
        "违法事实": row["违法事实"],
        "处罚依据": row["处罚依据"],
        "处罚类别": category,
        "处罚内容": row["处罚内容"],
        "罚款金额（万元）": amount_text(fine) if fine is not None else "",
        "没收违法所得、没收非法财物的金额（万元）": (
            amount_text(confiscated) if confiscated is not None else ""
        ),
        "暂扣或吊销证照名称及编号": row["暂扣或吊销证照名称及编号"],
        "处罚有效期": valid_until.isoformat() if valid_until else "",
        "公示截止期": feed_until.isoformat() if feed_until else "",
        "备注": row["备注"],
        "当前状态": row["当前状态"],
        "地方编码": row["地方编码"],
    }
    record = _finish(
        subject,
        # a 2016 file names its authority only: keyed by the name then
        natural_key=f"penalty|{document_no}|{authority_uscc or authority}",
        type=PENALTY,
        record_class=record_class,
        title=f"{_PENALTY_TITLES.get(classified.reason, '行政处罚')}：{offence}",
        severity=severity,
        decided_on=decided_on,
        publish_min_until=publish_min,
        publish_max_until=publish_max,
        authority=authority,
        authority_uscc=authority_uscc,
        source_unit=source_unit,
        source_unit_uscc=source_unit_uscc,
        document_no=document_no,
        details=details,
    )
    record.withdrawn = withdrawn
    return MappedRow(line, subject, record, warnings)


def map_licence(row: Row, line: int, ctx: MapContext) -> MappedRow:
    """双公示 行政许可 -> basic information, shown until 有效期至 (none for 长期). A licence whose
    当前状态 says it is no longer valid (注销, 撤销, 吊销) stays shown but counts for nothing."""
    warnings: list[str] = []
    subject = resolve_subject(
        ctx,
        warnings,
        name=row["行政相对人名称"],
        name_column="行政相对人名称",
        category=row["行政相对人类别"],
        category_column="行政相对人类别",
        uscc=row["行政相对人代码_1(统一社会信用代码)"],
        uscc_column="统一社会信用代码",
        registration_no=row["行政相对人代码_2(工商注册号)"],
        id_type=row["证件类型"],
        id_number=row["证件号码"],
        legal_representative=row["法定代表人"],
        legal_representative_id_type=row["法定代表人证件类型"],
        legal_representative_id=row["法定代表人证件号码"],
        other_codes=row,
    )
    legacy = ctx.standard == STANDARD_2016  # 项目名称 instead of the document name, no USCCs
    document_name = (
        row["行政许可决定文书名称"]
        if legacy
        else required(row["行政许可决定文书名称"], "行政许可决定文书名称")
    )
    project = required(row["项目名称"], "项目名称") if legacy else row["项目名称"]
    state, withdrawn = _licence_state(row, ctx)
    document_no = limited(
        required(row["行政许可决定文书号"], "行政许可决定文书号"), "行政许可决定文书号", 120
    )
    category = row["许可类别"]
    if category not in LICENCE_CATEGORIES:
        raise RowError(
            f"许可类别无效：{category or '（空）'}（应为普通、特许、认可、核准、登记或其他）"
        )
    required(row["许可内容"], "许可内容")
    decided_on = _not_future(parse_date(row["许可决定日期"], "许可决定日期"), "许可决定日期", ctx)
    valid_from = parse_optional_date(row["有效期自"], "有效期自")
    valid_to = parse_optional_date(row["有效期至"], "有效期至")
    long_term = valid_to is not None and valid_to in ctx.rules.long_term_dates
    if valid_to is not None and not long_term and valid_to < (valid_from or decided_on):
        raise RowError("有效期至早于有效期自")
    authority = limited(required(row["许可机关"], "许可机关"), "许可机关", 200)
    authority_uscc = (_optional_uscc if legacy else _authority_uscc)(
        row["许可机关统一社会信用代码"], "许可机关统一社会信用代码", warnings
    )
    source_unit = limited(row["数据来源单位"], "数据来源单位", 200) or None
    source_unit_uscc = _optional_uscc(
        row["数据来源单位统一社会信用代码"], "数据来源单位统一社会信用代码", warnings
    )
    certificate = row["许可证书名称"]
    title = f"行政许可：{certificate or project or document_name}"
    if state and not withdrawn:
        title += f"（当前状态：{state}）"
    details = {
        "行政许可决定文书名称": document_name,
        "项目名称": project,
        "许可类别": category,
        "许可证书名称": certificate,
        "许可编号": row["许可编号"],
        "许可内容": row["许可内容"],
        "有效期自": valid_from.isoformat() if valid_from else "",
        "有效期至": "长期" if long_term else (valid_to.isoformat() if valid_to else ""),
        "备注": row["备注"],
        LICENCE_STATE: state,
        "地方编码": row["地方编码"],
    }
    record = _finish(
        subject,
        natural_key=f"licence|{document_no}|{authority_uscc or authority}",
        type=LICENCE,
        record_class=BASIC,
        title=title,
        severity=None,
        decided_on=decided_on,
        publish_min_until=None,
        publish_max_until=None if long_term else valid_to,
        authority=authority,
        authority_uscc=authority_uscc,
        source_unit=source_unit,
        source_unit_uscc=source_unit_uscc,
        document_no=document_no,
        details=details,
    )
    record.withdrawn = withdrawn
    return MappedRow(line, subject, record, warnings)


def map_list_entry(row: Row, line: int, ctx: MapContext) -> MappedRow:
    """红名单 (positive) / 黑名单 (serious dishonesty), shown until 移出日期 if any."""
    warnings: list[str] = []
    subject = resolve_subject(
        ctx,
        warnings,
        name=row["主体名称"],
        name_column="主体名称",
        category=row["主体类别"],
        category_column="主体类别",
        uscc=row["统一社会信用代码"],
        uscc_column="统一社会信用代码",
        id_number=row["证件号码"],
    )
    list_name = row["名单类型"]
    record_type = LIST_TYPES.get(list_name)
    if record_type is None:
        raise RowError(f"名单类型无效：{list_name or '（空）'}（应为红名单或黑名单）")
    reason = required(row["列入原因"], "列入原因")
    authority = limited(required(row["认定部门"], "认定部门"), "认定部门", 200)
    document_no = limited(required(row["认定文号"], "认定文号"), "认定文号", 120)
    listed_on = _not_future(parse_date(row["列入日期"], "列入日期"), "列入日期", ctx)
    removed_on = parse_optional_date(row["移出日期"], "移出日期")
    if removed_on is not None and removed_on < listed_on:
        raise RowError("移出日期早于列入日期")
    black = record_type == BLACK_LIST
    record = _finish(
        subject,
        natural_key=f"list|{document_no}|{list_name}",
        type=record_type,
        record_class=SERIOUS_DISHONESTY if black else POSITIVE,
        title=f"{list_name}：{reason}",
        severity=SERIOUS if black else None,
        decided_on=listed_on,
        publish_min_until=ctx.rules.min_until(SERIOUS, listed_on) if black else None,
        publish_max_until=_list_until(black, listed_on, removed_on, ctx),
        authority=authority,
        authority_uscc=None,
        source_unit=None,
        source_unit_uscc=None,
        document_no=document_no,
        details={
            "名单类型": list_name,
            "列入原因": reason,
            "移出日期": removed_on.isoformat() if removed_on else "",
        },
    )
    return MappedRow(line, subject, record, warnings)


def _list_until(
    black: bool, listed_on: date, removed_on: date | None, ctx: MapContext
) -> date | None:
    """Shown until the feed's 移出日期; a black-list entry without one at most as long as a serious
    record (config/records.toml [publication.serious], DESIGN.md §3: at most 3 years)."""
    if removed_on is not None or not black:
        return removed_on
    return ctx.rules.max_until(SERIOUS, listed_on)


def map_honour(row: Row, line: int, ctx: MapContext) -> MappedRow:
    """Honour titles (劳动模范, 先进工作者, 三八红旗手, 诚信典型): positive information."""
    warnings: list[str] = []
    subject = resolve_subject(
        ctx,
        warnings,
        name=row["姓名或名称"],
        name_column="姓名或名称",
        category=row["主体类别"],
        category_column="主体类别",
        uscc=row["统一社会信用代码"],
        uscc_column="统一社会信用代码",
        id_number=row["证件号码"],
    )
    honour = limited(required(row["荣誉称号"], "荣誉称号"), "荣誉称号", 200)
    authority = limited(required(row["授予机关"], "授予机关"), "授予机关", 200)
    document_no = limited(required(row["授予文号"], "授予文号"), "授予文号", 120)
    granted_on = _not_future(parse_date(row["授予日期"], "授予日期"), "授予日期", ctx)
    valid_to = parse_optional_date(row["有效期至"], "有效期至")
    if valid_to is not None and valid_to < granted_on:
        raise RowError("有效期至早于授予日期")
    record = _finish(
        subject,
        # (授予文号, holder): the holder by its subject key, i.e. a blind index for a person
        natural_key=f"honour|{document_no}|{subject.natural_key or SUBJECT_KEY}",
        type=HONOUR,
        record_class=POSITIVE,
        title=honour,
        severity=None,
        decided_on=granted_on,
        publish_min_until=None,
        publish_max_until=valid_to,
        authority=authority,
        authority_uscc=None,
        source_unit=None,
        source_unit_uscc=None,
        document_no=document_no,
        details={"荣誉称号": honour, "有效期至": valid_to.isoformat() if valid_to else ""},
    )
    return MappedRow(line, subject, record, warnings)


def map_integrity(row: Row, line: int, ctx: MapContext) -> MappedRow:
    """政务失信 (issue 13 item 5): a government body or public institution that broke a promise,
    in the shape of the penalty feed. Its subject is an `agency`; severity and window from
    config (config/integrity.toml [feed], config/records.toml [publication])."""
    feed = feed_rules()
    warnings: list[str] = []
    name = limited(required(row["失信主体名称"], "失信主体名称"), "失信主体名称", 200)
    category = normalise_value(row["失信主体类别"])
    if category not in feed.subject_categories:
        raise RowError(
            f"失信主体类别无效：{row['失信主体类别'] or '（空）'}"
            f"（应为{'、'.join(feed.subject_categories)}）"
        )
    uscc, check_ok = check_uscc(
        required(row["统一社会信用代码"], "统一社会信用代码"), "统一社会信用代码"
    )
    if not check_ok:
        warnings.append(f"统一社会信用代码 {uscc} 校验位不符，按平台数据保留")
    subject = SubjectData(
        natural_key=f"uscc:{uscc}", kind=AGENCY, name=name, uscc=uscc, uscc_check_ok=check_ok,
        region=uscc[2:8],
    )  # fmt: skip
    offence = limited(required(row["失信行为类型"], "失信行为类型"), "失信行为类型", 100)
    facts = required(row["失信事实"], "失信事实")
    document_no = limited(required(row["认定文书号"], "认定文书号"), "认定文书号", 120)
    decided_on = _not_future(parse_date(row["认定日期"], "认定日期"), "认定日期", ctx)
    amount = parse_amount(row["涉及金额（万元）"], "涉及金额（万元）")
    feed_until = parse_optional_date(row["公示截止期"], "公示截止期")
    if feed_until is not None and feed_until < decided_on:
        raise RowError("公示截止期早于认定日期")
    authority = limited(required(row["认定机关"], "认定机关"), "认定机关", 200)
    authority_uscc = _authority_uscc(
        row["认定机关统一社会信用代码"], "认定机关统一社会信用代码", warnings
    )
    source_unit = limited(row["数据来源单位"], "数据来源单位", 200) or None
    source_unit_uscc = _optional_uscc(
        row["数据来源单位统一社会信用代码"], "数据来源单位统一社会信用代码", warnings
    )
    severity = feed.severity(offence)
    publish_min, publish_max = ctx.rules.window(severity, decided_on, feed_until)
    record = _finish(
        subject,
        natural_key=f"integrity|{document_no}|{authority_uscc}",
        type=GOV_DISHONESTY,
        record_class=SERIOUS_DISHONESTY if severity == SERIOUS else GENERAL_DISHONESTY,
        title=f"政务失信：{offence}",
        severity=severity,
        decided_on=decided_on,
        publish_min_until=publish_min,
        publish_max_until=publish_max,
        authority=authority,
        authority_uscc=authority_uscc,
        source_unit=source_unit,
        source_unit_uscc=source_unit_uscc,
        document_no=document_no,
        details={
            "失信主体类别": category,
            "失信行为类型": offence,
            "失信事实": facts,
            "认定依据": row["认定依据"],
            "涉及金额（万元）": amount_text(amount) if amount is not None else "",
            "整改情况": row["整改情况"],
            "公示截止期": feed_until.isoformat() if feed_until else "",
            "备注": row["备注"],
        },
    )
    record.withdrawn = _withdrawn_by_remark(
        row["备注"], ctx.rules.feed_status.penalty_remark_prefixes
    )
    return MappedRow(line, subject, record, warnings)


# ---- file layouts -------------------------------------------------------------------------------


def _category_2016(row: Row) -> None:
    """The 2016 standard has no 行政相对人类别: a USCC makes an organisation (92…: 个体工商户,
    GB 32100 登记管理部门 9 + 类别 2); without one, a 工商登记码 an individual business (as the
    current standard allows) and a 居民身份证号 alone a natural person."""
    code = row["行政相对人代码_1(统一社会信用代码)"].replace(" ", "").upper()
    if code and not is_no_uscc(code):
        category = "个体工商户" if code.startswith("92") else "法人及非法人组织"
    elif row["行政相对人代码_2(工商注册号)"]:
        category = "个体工商户"
    elif row["证件号码"]:
        category = "自然人"
    else:
        raise RowError(
            "无法确定行政相对人类别：2016 版标准的行须有统一社会信用代码、工商登记码或居民身份证号"
        )
    row["行政相对人类别"] = category


def _penalty_2016(row: Row) -> None:
    _category_2016(row)
    row["处罚类别"] = "、".join(c for c in (row["处罚类别1"], row["处罚类别2"]) if c)


@dataclass(frozen=True)
class Layout:
    """One version of the standard's header: the columns it must and may have, by their header
    text; `rename` gives a column's key in the row the mapper reads when it is not the header
    itself, and `adapt` fills the keys a row of this version derives (once per row)."""

    standard: str
    label: str
    required_headers: tuple[str, ...]
    optional_headers: tuple[str, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    adapt: Callable[[Row], None] | None = None

    @property
    def headers(self) -> tuple[str, ...]:
        return self.required_headers + self.optional_headers

    def key(self, header: str) -> str:
        return self.rename.get(header, header)


@dataclass(frozen=True)
class FeedFormat:
    """A kind of platform file: its label, the layouts (versions of the standard) it may come
    in, the first that fits being used, and its mapper, which reads rows by the keys of the
    current standard (a key no column fills reads as "")."""

    kind: str
    label: str
    layouts: tuple[Layout, ...]
    mapper: Callable[[Row, int, MapContext], MappedRow]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(
            layout.key(header) for layout in self.layouts for header in layout.headers
        ) | frozenset(EXTRA_KEYS.get(self.kind, ()))


# Keys an adapter fills (Layout.adapt) or a mapper reads that no header of some layout names.
EXTRA_KEYS = {"penalties": ("行政相对人类别", "处罚类别"), "licences": ("行政相对人类别",)}

# Current standard: columns beyond the ones this service has always required (optional, so
# files without them load as before).
CURRENT_EXTRA = (*OTHER_CODE_COLUMNS, *LEGAL_REP_ID_COLUMNS, "当前状态")
# 2016 standard: 行政相对人代码_2 is 组织机构代码 and _3 工商登记码 (the current one swaps them),
# _5 is the person's 居民身份证号, and there is no 行政相对人类别 (see _category_2016).
RENAME_2016 = {
    "行政相对人代码_2(组织机构代码)": ORG_CODE_COLUMN,
    "行政相对人代码_3(工商登记码)": "行政相对人代码_2(工商注册号)",
    "行政相对人代码_5(居民身份证号)": "证件号码",
    "法定代表人姓名": "法定代表人",
}
SUBJECT_2016 = (
    "行政相对人名称",
    "行政相对人代码_1(统一社会信用代码)",
    "行政相对人代码_2(组织机构代码)",
    "行政相对人代码_3(工商登记码)",
    TAX_NO_COLUMN,
    "行政相对人代码_5(居民身份证号)",
    "法定代表人姓名",
)
# 数据更新时间戳 is accepted but not kept: it changes with every export, and would make every
# re-import an update.
TAIL_2016 = ("地方编码", "数据更新时间戳", "备注")

FORMATS: dict[str, FeedFormat] = {
    "penalties": FeedFormat(
        kind="penalties",
        label="双公示 行政处罚",
        layouts=(
            Layout(
                standard=CURRENT,
                label="现行标准",
                required_headers=(
                    "行政相对人名称",
                    "行政相对人类别",
                    "行政相对人代码_1(统一社会信用代码)",
                    "行政相对人代码_2(工商注册号)",
                    "法定代表人",
                    "证件类型",
                    "证件号码",
                    "行政处罚决定书文号",
                    "违法行为类型",
                    "违法事实",
                    "处罚依据",
                    "处罚类别",
                    "处罚内容",
                    "罚款金额（万元）",
                    "没收违法所得、没收非法财物的金额（万元）",
                    "暂扣或吊销证照名称及编号",
                    "处罚决定日期",
                    "处罚有效期",
                    "公示截止期",
                    "处罚机关",
                    "处罚机关统一社会信用代码",
                    "数据来源单位",
                    "数据来源单位统一社会信用代码",
                ),
                optional_headers=("备注", *CURRENT_EXTRA),
            ),
            Layout(
                standard=STANDARD_2016,
                label="2016 版标准",
                required_headers=(
                    "行政处罚决定书文号",
                    "处罚名称",
                    "处罚类别1",
                    "处罚事由",
                    "处罚依据",
                    *SUBJECT_2016,
                    "处罚结果",
                    "处罚决定日期",
                    "处罚机关",
                    "当前状态",
                ),
                optional_headers=("处罚类别2", *TAIL_2016),
                rename=RENAME_2016 | {"处罚事由": "违法事实", "处罚结果": "处罚内容"},
                adapt=_penalty_2016,
            ),
        ),
        mapper=map_penalty,
    ),
    "licences": FeedFormat(
        kind="licences",
        label="双公示 行政许可",
        layouts=(
            Layout(
                standard=CURRENT,
                label="现行标准",
                required_headers=(
                    "行政相对人名称",
                    "行政相对人类别",
                    "行政相对人代码_1(统一社会信用代码)",
                    "法定代表人",
                    "证件类型",
                    "证件号码",
                    "行政许可决定文书名称",
                    "行政许可决定文书号",
                    "许可类别",
                    "许可证书名称",
                    "许可编号",
                    "许可内容",
                    "许可决定日期",
                    "有效期自",
                    "有效期至",
                    "许可机关",
                    "许可机关统一社会信用代码",
                    "数据来源单位",
                    "数据来源单位统一社会信用代码",
                ),
                optional_headers=("行政相对人代码_2(工商注册号)", "备注", *CURRENT_EXTRA),
            ),
            Layout(
                standard=STANDARD_2016,
                label="2016 版标准",
                required_headers=(
                    "行政许可决定书文号",
                    "项目名称",
                    "审批类别",
                    "许可内容",
                    *SUBJECT_2016,
                    "许可决定日期",
                    "许可截止期",
                    "许可机关",
                    "当前状态",
                ),
                optional_headers=TAIL_2016,
                rename=RENAME_2016
                | {
                    "行政许可决定书文号": "行政许可决定文书号",
                    "审批类别": "许可类别",
                    "许可截止期": "有效期至",
                },
                adapt=_category_2016,
            ),
        ),
        mapper=map_licence,
    ),
    "lists": FeedFormat(
        kind="lists",
        label="红名单 / 黑名单",
        layouts=(
            Layout(
                standard=CURRENT,
                label="平台格式",
                required_headers=(
                    "主体名称",
                    "主体类别",
                    "统一社会信用代码",
                    "证件号码",
                    "名单类型",
                    "列入原因",
                    "认定部门",
                    "认定文号",
                    "列入日期",
                ),
                optional_headers=("移出日期",),
            ),
        ),
        mapper=map_list_entry,
    ),
    "honours": FeedFormat(
        kind="honours",
        label="荣誉称号",
        layouts=(
            Layout(
                standard=CURRENT,
                label="平台格式",
                required_headers=(
                    "姓名或名称",
                    "主体类别",
                    "统一社会信用代码",
                    "证件号码",
                    "荣誉称号",
                    "授予机关",
                    "授予文号",
                    "授予日期",
                ),
                optional_headers=("有效期至",),
            ),
        ),
        mapper=map_honour,
    ),
    "integrity": FeedFormat(
        kind="integrity",
        label="政务失信",
        layouts=(
            Layout(
                standard=CURRENT,
                label="平台格式",
                required_headers=(
                    "失信主体名称",
                    "失信主体类别",
                    "统一社会信用代码",
                    "失信行为类型",
                    "失信事实",
                    "认定依据",
                    "认定文书号",
                    "涉及金额（万元）",
                    "认定日期",
                    "公示截止期",
                    "认定机关",
                    "认定机关统一社会信用代码",
                    "数据来源单位",
                    "数据来源单位统一社会信用代码",
                ),
                optional_headers=("整改情况", "备注"),
            ),
        ),
        mapper=map_integrity,
    ),
}
KINDS = tuple(FORMATS)
