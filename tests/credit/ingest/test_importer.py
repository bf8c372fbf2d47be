"""Import of the league platform files (credit/ingest): validation, mapping, idempotence,
encodings, PII protection and cache invalidation.

The whole session shares one database, so every test imports its own copy of a sample with its
document numbers tagged, or rows with freshly generated codes, and asserts on those only.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from stdnum.cn import ric, uscc
from tortoise import connections

from credit.ingest import ImportRefused, import_file
from credit.ingest.mapping import LEGAL_REP_ID_FIELD
from credit.models import (
    ID_NUMBER_FIELD,
    Record,
    RecordClass,
    RecordType,
    Severity,
    Subject,
    SubjectKind,
)
from credit.person_names import legal_representative_name, masked
from infra.security.crypto import mask_id_number
from tests.helpers import read_database_file

DOC_COLUMN = {
    "penalties": "行政处罚决定书文号",
    "licences": "行政许可决定文书号",
    "lists": "认定文号",
    "honours": "授予文号",
}
SAMPLE = {
    "penalties": "penalties_sample.csv",
    "licences": "licences_sample.csv",
    "lists": "lists_sample.csv",
    "honours": "honours_sample.csv",
}
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
TODAY = date(2026, 11, 25)


def tag() -> str:
    return uuid.uuid4().hex[:8]


def new_uscc(prefix: str = "91152921") -> str:
    body = prefix + "".join(random.choice(USCC_ALPHABET) for _ in range(17 - len(prefix)))
    return body + uscc.calc_check_digit(body)


def new_id_number(birth: str = "19800101") -> str:
    first17 = f"152921{birth}{random.randint(0, 999):03d}"
    return first17 + ric.calc_check_digit(first17 + "0")


def read_sample(data_dir: Path, kind: str) -> tuple[list[str], list[dict[str, str]]]:
    with (data_dir / SAMPLE[kind]).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_csv(
    path: Path,
    header: list[str],
    rows: list[dict[str, str]],
    *,
    encoding: str = "utf-8",
    newline: str = "\n",
) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator=newline)
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def tagged_sample(
    data_dir: Path,
    tmp_path: Path,
    kind: str,
    label: str,
    *,
    edit: Callable[[list[dict[str, str]]], None] | None = None,
    encoding: str = "utf-8",
    newline: str = "\n",
    name: str | None = None,
) -> Path:
    """The sample with every document number suffixed by `label`: fresh natural keys."""
    header, rows = read_sample(data_dir, kind)
    for row in rows:
        if row[DOC_COLUMN[kind]]:
            row[DOC_COLUMN[kind]] += f"-{label}"
    if edit:
        edit(rows)
    return write_csv(
        tmp_path / (name or f"{kind}-{label}.csv"), header, rows, encoding=encoding, newline=newline
    )


def penalty_row(data_dir: Path, **changes: str) -> tuple[list[str], dict[str, str]]:
    """A valid penalty row (the sample's first) for a fresh enterprise and document number."""
    header, rows = read_sample(data_dir, "penalties")
    row = dict(rows[0])
    row["行政相对人名称"] = f"测试企业{tag()}有限公司"
    row["行政相对人代码_1(统一社会信用代码)"] = new_uscc()
    row["行政处罚决定书文号"] = f"阿测罚字〔2025〕{tag()}号"
    row.update(changes)
    return header, row


async def run(runtime, kind: str, path: Path, tmp_path: Path, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("rejects_path", tmp_path / f"{path.stem}.rejects.csv")
    return await import_file(
        kind,
        path,
        cipher=runtime.cipher,
        redis=runtime.redis,
        keys=runtime.keys,
        progress=False,
        today=TODAY,
        **kwargs,
    )


def assert_copied_but_masked(copied: list[str], row: list[str], header: list[str]) -> None:
    """An enterprise's rejected row as the rejects file keeps it: every column as read but the
    legal representative's name, which is masked."""
    legal_rep = header.index("法定代表人")
    assert copied[legal_rep] == masked(row[legal_rep]) != row[legal_rep]
    assert copied[:legal_rep] + copied[legal_rep + 1 :] == row[:legal_rep] + row[legal_rep + 1 :]


def read_rejects(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


async def records_for(path_label: str) -> dict[str, Record]:
    records = await Record.filter(document_no__endswith=f"-{path_label}")
    return {r.document_no.rsplit("-", 1)[0]: r for r in records}


# ---- penalties ----------------------------------------------------------------------------------


async def test_the_rejects_file_holds_no_persons_name_nor_id_number(runtime, data_dir, tmp_path):
    """A rejected row is copied to the rejects file for the operator; its personal data is
    masked there, as everywhere the service shows it (the line number leads to the original)."""
    person_id, representative_id = new_id_number("19710426"), new_id_number("19650101")
    header, person = penalty_row(data_dir)
    person |= {
        "行政相对人名称": "云文博", "行政相对人类别": "自然人",
        "行政相对人代码_1(统一社会信用代码)": "", "法定代表人": "", "证件类型": "身份证",
        "证件号码": person_id, "处罚决定日期": "2026/13/45",  # rejected: not a date
    }  # fmt: skip
    _, enterprise = penalty_row(data_dir, 法定代表人="孙巴特尔", 处罚决定日期="昨天")
    enterprise |= {"法定代表人证件类型": "身份证", "法定代表人证件号码": representative_id}
    header = [*header, "法定代表人证件类型", "法定代表人证件号码"]
    misaligned = tmp_path / "penalties-pii.csv"
    write_csv(misaligned, header, [person, enterprise])
    with misaligned.open("a", encoding="utf-8") as handle:  # a row of the wrong width
        handle.write(f"乌云其木格,自然人,{new_id_number()}\n")
    summary = await run(runtime, "penalties", misaligned, tmp_path)
    assert summary.rejected == 3
    text = summary.rejects_path.read_text(encoding="utf-8-sig")
    for secret in ("云文博", person_id, "孙巴特尔", representative_id, "乌云其木格"):
        assert secret not in text, secret
    rejects = read_rejects(summary.rejects_path)
    assert rejects[1][2 + header.index("行政相对人名称")] == "云**"
    assert rejects[1][2 + header.index("证件号码")] == mask_id_number(person_id)
    assert rejects[2][2 + header.index("行政相对人名称")] == enterprise["行政相对人名称"]  # public
    assert rejects[2][2 + header.index("法定代表人")] == masked("孙巴特尔") == "孙巴**"
    assert "处罚决定日期不是有效日期" in rejects[1][1] and "列数与表头不符" in rejects[3][1]


async def test_penalty_sample_loads_40_and_rejects_4(runtime, data_dir, tmp_path):
    label = tag()
    path = tagged_sample(data_dir, tmp_path, "penalties", label)
    summary = await run(runtime, "penalties", path, tmp_path)

    assert (summary.rows_read, summary.inserted, summary.updated, summary.unchanged) == (
        44,
        40,
        0,
        0,
    )
    assert summary.rejected == 4
    assert summary.warnings == 0
    assert "新增 40" in summary.as_text() and "拒收 4" in summary.as_text()

    rejects = read_rejects(summary.rejects_path)
    with path.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert rejects[0] == ["行号", "拒收原因", *header]
    assert [r[0] for r in rejects[1:]] == ["42", "43", "44", "45"]
    reasons = [r[1] for r in rejects[1:]]
    assert "统一社会信用代码格式错误" in reasons[0]
    assert "行政相对人类别无效" in reasons[1] and "外星人" in reasons[1]
    assert "处罚决定日期不是有效日期" in reasons[2]
    assert reasons[3] == "行政处罚决定书文号为空"
    # the original columns follow, as read, but for the legal representative's name (masked)
    assert_copied_but_masked(rejects[1][2:], rows[40], header)
    assert_copied_but_masked(rejects[4][2:], rows[43], header)

    records = await records_for(label)
    assert len(records) == 40

    stop = records["阿旗应罚字〔2024〕1000号"]  # 责令停产停业
    assert stop.type == RecordType.PENALTY
    assert stop.severity == Severity.SERIOUS
    assert stop.record_class == RecordClass.SERIOUS_DISHONESTY
    assert stop.decided_on == date(2024, 8, 28)
    assert stop.publish_min_until == date(2025, 8, 28)
    assert stop.publish_max_until == date(2025, 8, 28)  # feed's 公示截止期, inside [12, 36] months
    assert stop.title == "行政处罚：超标排放"
    assert stop.authority == "额济纳旗应急管理局"
    assert stop.authority_uscc == "11152922793834709B"
    assert stop.source_unit == "额济纳旗应急管理局"
    assert stop.natural_key == f"penalty|阿旗应罚字〔2024〕1000号-{label}|11152922793834709B"

    # 罚款 500 元 for an organisation: within 行政处罚法 art. 51's 3,000 元, so minor (issue 10
    # item 3; it was general), shown for at most minor's 3 months
    small_fine = records["阿盟生罚字〔2023〕1001号"]
    assert small_fine.severity == Severity.MINOR
    assert small_fine.record_class == RecordClass.GENERAL_DISHONESTY
    assert small_fine.publish_min_until == date(2023, 9, 27)
    assert small_fine.publish_max_until == date(2023, 12, 27)
    fine = records["阿盟文罚字〔2024〕1003号"]  # 罚款 3 万元: general
    assert fine.severity == Severity.GENERAL
    assert (fine.publish_min_until, fine.publish_max_until) == (
        date(2025, 3, 31),
        date(2025, 12, 31),
    )
    assert small_fine.details["罚款金额（万元）"] == "0.05"
    assert small_fine.details["违法事实"] == "经查，当事人存在上述违法行为。"
    assert small_fine.details["处罚依据"].startswith("《中华人民共和国行政处罚法》")

    big_fine = records["阿左旗罚字〔2024〕1010号"]  # 罚款 12.5 万元 >= 10: serious
    assert big_fine.severity == Severity.SERIOUS
    assert Decimal(big_fine.details["罚款金额（万元）"]) == Decimal("12.5")

    warning = records["阿盟生罚字〔2026〕1006号"]  # 警告: at most 3 months
    assert warning.severity == Severity.MINOR
    assert warning.publish_min_until == date(2026, 11, 7)
    assert warning.publish_max_until == date(2027, 2, 7)

    person = records["阿盟文罚字〔2026〕1012号"]
    subject = await Subject.get(id=person.subject_id)
    assert subject.kind == SubjectKind.PERSON
    assert subject.natural_key == "id:" + runtime.cipher.blind_index(
        "152921200211247516", ID_NUMBER_FIELD
    )
    assert "152921200211247516" not in str(person.details)

    # the two penalties of 罗其其格 are one subject
    assert (
        records["阿盟市罚字〔2026〕1025号"].subject_id
        == records["阿左旗罚字〔2026〕1031号"].subject_id
    )
    shop = await Subject.get(id=records["阿盟文罚字〔2024〕1007号"].subject_id)
    assert shop.kind == SubjectKind.INDIVIDUAL_BUSINESS
    assert shop.natural_key == "uscc:92152923116639404T"
    assert shop.region == "152923"


async def test_reimport_changes_nothing(runtime, data_dir, tmp_path):
    label = tag()
    path = tagged_sample(data_dir, tmp_path, "penalties", label)
    await run(runtime, "penalties", path, tmp_path)
    before = {
        k: (r.id, r.updated_at, r.content_hash) for k, r in (await records_for(label)).items()
    }
    subject_ids = {r.subject_id for r in (await records_for(label)).values()}
    subjects_before = {s.id: s.updated_at for s in await Subject.filter(id__in=subject_ids)}
    total_before = await Record.all().count()

    again = await run(runtime, "penalties", path, tmp_path)

    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 40, 4)
    assert (again.subjects_created, again.subjects_updated) == (0, 0)
    after = {k: (r.id, r.updated_at, r.content_hash) for k, r in (await records_for(label)).items()}
    assert after == before
    assert {s.id: s.updated_at for s in await Subject.filter(id__in=subject_ids)} == (
        subjects_before
    )
    assert await Record.all().count() == total_before


async def test_changed_row_updates_in_place(runtime, data_dir, tmp_path):
    label = tag()
    path = tagged_sample(data_dir, tmp_path, "penalties", label)
    await run(runtime, "penalties", path, tmp_path)
    before = await records_for(label)

    def change(rows: list[dict[str, str]]) -> None:
        rows[1]["违法事实"] = "经复核，当事人未按规定办理环评手续。"
        rows[1]["罚款金额（万元）"] = "20"  # now serious

    changed = tagged_sample(data_dir, tmp_path, "penalties", label, edit=change, name="v2.csv")
    summary = await run(runtime, "penalties", changed, tmp_path)

    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 1, 39)
    after = await records_for(label)
    key = "阿盟生罚字〔2023〕1001号"
    assert after[key].id == before[key].id
    assert after[key].created_at == before[key].created_at
    assert after[key].updated_at > before[key].updated_at
    assert after[key].details["违法事实"] == "经复核，当事人未按规定办理环评手续。"
    assert after[key].severity == Severity.SERIOUS
    assert after[key].publish_min_until == date(2024, 9, 27)
    other = "阿旗应罚字〔2024〕1000号"
    assert after[other].updated_at == before[other].updated_at


@pytest.mark.parametrize(
    ("encoding", "newline", "label"),
    [("gb18030", "\r\n", "GB18030"), ("utf-8-sig", "\n", "UTF-8（带 BOM）")],
)
async def test_gb18030_crlf_and_bom_give_the_same_result(
    runtime, data_dir, tmp_path, encoding, newline, label
):
    doc_label = tag()
    plain = tagged_sample(data_dir, tmp_path, "penalties", doc_label)
    first = await run(runtime, "penalties", plain, tmp_path, rejects_path=tmp_path / "r1.csv")
    assert first.encoding == "UTF-8"
    before = {k: (r.content_hash, r.updated_at) for k, r in (await records_for(doc_label)).items()}

    other = tagged_sample(
        data_dir,
        tmp_path,
        "penalties",
        doc_label,
        encoding=encoding,
        newline=newline,
        name="other.csv",
    )
    raw = other.read_bytes()
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert raw.count(b"\r\n") == 45
    else:
        assert raw.startswith(b"\xef\xbb\xbf")
    second = await run(runtime, "penalties", other, tmp_path, rejects_path=tmp_path / "r2.csv")

    assert second.encoding == label
    assert (second.rows_read, second.inserted, second.updated, second.unchanged) == (44, 0, 0, 40)
    assert second.rejected == 4
    assert read_rejects(tmp_path / "r2.csv") == read_rejects(tmp_path / "r1.csv")
    after = {k: (r.content_hash, r.updated_at) for k, r in (await records_for(doc_label)).items()}
    assert after == before


@pytest.mark.parametrize("kind", ["penalties", "honours"])
async def test_worker_process_gives_the_same_records(
    runtime, data_dir, tmp_path, monkeypatch, kind
):
    """Large files are parsed in a worker process that has no key; persons' blind indexes are
    added afterwards, so keys and hashes must match the in-process result exactly."""
    from credit.ingest import importer

    label = tag()
    path = tagged_sample(data_dir, tmp_path, kind, label)
    first = await run(runtime, kind, path, tmp_path)
    before = {
        r.natural_key: (r.id, r.content_hash, r.updated_at)
        for r in (await records_for(label)).values()
    }

    started: list[object] = []
    original = importer._ProcessSource.__init__

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(importer, "PARALLEL_MIN_LINES", 0)
    monkeypatch.setattr(importer._ProcessSource, "__init__", spy)
    again = await run(runtime, kind, path, tmp_path, rejects_path=tmp_path / "again.csv")

    assert started, "the worker process was not used"
    assert (again.inserted, again.updated) == (0, 0)
    assert again.unchanged == first.inserted > 0
    assert again.rejected == first.rejected
    after = {
        r.natural_key: (r.id, r.content_hash, r.updated_at)
        for r in (await records_for(label)).values()
    }
    assert after == before
    if first.rejected:
        assert read_rejects(tmp_path / "again.csv") == read_rejects(first.rejects_path)


@pytest.mark.parametrize("in_worker", [False, True])
async def test_a_row_the_database_refuses_is_rejected_alone(
    runtime, data_dir, tmp_path, monkeypatch, in_worker
):
    """The batch is halved until the refused row is found; the other 39 still land, and the
    rejects file keeps the row's original columns even when a worker parsed it."""
    from tortoise.exceptions import IntegrityError

    from credit.ingest import importer

    label = tag()
    path = tagged_sample(data_dir, tmp_path, "penalties", label)
    refused_doc = f"阿盟文罚字〔2024〕1007号-{label}"
    original = importer.write_batch

    async def refusing(conn, dialect, rows, cipher, known=None):  # type: ignore[no-untyped-def]
        if any(m.record.document_no == refused_doc for m in rows):
            raise IntegrityError("模拟的约束冲突")
        return await original(conn, dialect, rows, cipher, known)

    monkeypatch.setattr(importer, "write_batch", refusing)
    if in_worker:
        monkeypatch.setattr(importer, "PARALLEL_MIN_LINES", 0)
    summary = await run(runtime, "penalties", path, tmp_path)

    assert (summary.inserted, summary.rejected) == (39, 5)
    assert refused_doc.rsplit("-", 1)[0] not in await records_for(label)
    rejects = {r[0]: r for r in read_rejects(summary.rejects_path)[1:]}
    assert rejects["9"][1].startswith("数据库拒绝写入") and "模拟的约束冲突" in rejects["9"][1]
    with path.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert_copied_but_masked(rejects["9"][2:], rows[7], header)


# ---- validation cases ---------------------------------------------------------------------------


async def test_failing_uscc_check_character_is_a_warning(runtime, data_dir, tmp_path):
    good = new_uscc()
    bad = good[:-1] + next(c for c in USCC_ALPHABET if c != good[-1])
    header, row = penalty_row(data_dir, **{"行政相对人代码_1(统一社会信用代码)": bad.lower()})
    summary = await run(
        runtime, "penalties", write_csv(tmp_path / "p.csv", header, [row]), tmp_path
    )

    assert (summary.inserted, summary.rejected, summary.warnings) == (1, 0, 1)
    assert "校验位不符" in summary.warning_samples[0]
    assert summary.warning_samples[0].startswith("第 2 行")
    subject = await Subject.get(natural_key=f"uscc:{bad}")
    assert subject.uscc == bad
    assert subject.uscc_check_ok is False


async def test_individual_business_without_uscc_uses_registration_number(
    runtime, data_dir, tmp_path
):
    reg = f"152921{random.randint(0, 10**9 - 1):09d}"
    header, shop = penalty_row(
        data_dir,
        **{
            "行政相对人名称": f"阿拉善左旗测试{tag()}小吃店",
            "行政相对人类别": "个体工商户",
            "行政相对人代码_1(统一社会信用代码)": "00000000000000000X",
            "行政相对人代码_2(工商注册号)": reg,
        },
    )
    _, missing = penalty_row(
        data_dir,
        **{
            "行政相对人类别": "个体工商户",
            "行政相对人代码_1(统一社会信用代码)": "00000000000000000X",
        },
    )
    _, company = penalty_row(
        data_dir,
        **{
            "行政相对人代码_1(统一社会信用代码)": "00000000000000000X",
            "行政相对人代码_2(工商注册号)": reg,
        },
    )
    path = write_csv(tmp_path / "p.csv", header, [shop, missing, company])
    summary = await run(runtime, "penalties", path, tmp_path)

    assert (summary.inserted, summary.rejected) == (1, 2)
    subject = await Subject.get(natural_key=f"reg:{reg}")
    assert subject.kind == SubjectKind.INDIVIDUAL_BUSINESS
    assert subject.registration_no == reg
    assert subject.uscc is None
    record = await Record.get(document_no=shop["行政处罚决定书文号"])
    assert record.subject_id == subject.id
    reasons = {r[0]: r[1] for r in read_rejects(summary.rejects_path)[1:]}
    assert "工商注册号" in reasons["3"]
    assert "仅个体工商户" in reasons["4"]


async def test_id_number_checks(runtime, data_dir, tmp_path):
    person = new_id_number()
    header, rows = read_sample(data_dir, "licences")
    template = rows[0]  # a natural person

    def licence(number: str, **changes: str) -> dict[str, str]:
        row = dict(template, 证件号码=number, 行政许可决定文书号=f"阿测许字〔2025〕{tag()}号")
        row.update(changes)
        return row

    wrong_check = person[:-1] + ("0" if person[-1] != "0" else "1")
    first17 = "15292119990230123"  # 30 February
    bad_birth = first17 + ric.calc_check_digit(first17 + "0")
    retired = "15290119700101123"  # 152901: not in today's county list, still a valid ID
    retired += ric.calc_check_digit(retired + "0")
    rows_out = [
        licence(person),
        licence(person.lower()),
        licence(wrong_check),
        licence(bad_birth),
        licence(retired),
        licence(person, 许可类别="随便"),
        licence(person, 许可决定日期="2027/01/01"),
    ]
    summary = await run(
        runtime, "licences", write_csv(tmp_path / "l.csv", header, rows_out), tmp_path
    )

    assert (summary.inserted, summary.rejected) == (3, 4)
    index = runtime.cipher.blind_index(person.upper(), ID_NUMBER_FIELD)
    subject = await Subject.get(natural_key=f"id:{index}")
    assert await Record.filter(subject_id=subject.id).count() == 2  # x and X: one person
    assert runtime.cipher.decrypt(subject.id_number_enc, ID_NUMBER_FIELD) == person.upper()
    assert await Subject.filter(
        id_number_index=runtime.cipher.blind_index(retired, ID_NUMBER_FIELD)
    ).exists()
    reasons = [r[1] for r in read_rejects(summary.rejects_path)[1:]]
    assert "证件号码无效" in reasons[0] and "证件号码无效" in reasons[1]
    assert "许可类别无效" in reasons[2]
    assert "晚于今天" in reasons[3]
    for reason in reasons:
        assert person not in reason and wrong_check not in reason


async def test_missing_header_refuses_the_file(runtime, data_dir, tmp_path):
    header, rows = read_sample(data_dir, "penalties")
    label = tag()
    for row in rows:
        row["行政处罚决定书文号"] += f"-{label}"
        del row["处罚机关"], row["处罚类别"]
    kept = [h for h in header if h not in ("处罚机关", "处罚类别")]
    count = await Record.all().count()

    with pytest.raises(ImportRefused) as refused:
        await run(runtime, "penalties", write_csv(tmp_path / "p.csv", kept, rows), tmp_path)

    message = str(refused.value)
    assert "缺少必需的列" in message and "处罚机关" in message and "处罚类别" in message
    assert await Record.all().count() == count
    assert not (tmp_path / "p.rejects.csv").exists()


@pytest.mark.parametrize("batch_size", [2000, 1])  # in one batch, in two
async def test_duplicate_natural_key_in_one_file(runtime, data_dir, tmp_path, batch_size):
    header, row = penalty_row(data_dir)
    later = dict(row, 违法事实="更正后的违法事实。")
    _, other = penalty_row(data_dir)
    path = write_csv(tmp_path / "p.csv", header, [row, other, later, later])
    summary = await run(runtime, "penalties", path, tmp_path, batch_size=batch_size)

    assert (summary.inserted, summary.updated, summary.unchanged) == (2, 1, 1)
    assert summary.warnings == 2
    assert all("与第 2 行是同一条记录" in text for text in summary.warning_samples)
    assert [text.split("行", 1)[0] for text in summary.warning_samples] == ["第 4 ", "第 5 "]
    record = await Record.get(document_no=row["行政处罚决定书文号"])
    assert record.details["违法事实"] == "更正后的违法事实。"


# ---- other kinds --------------------------------------------------------------------------------


async def test_licences_lists_and_honours_load(runtime, data_dir, tmp_path):
    label = tag()
    for kind, expected in (("licences", 40), ("lists", 15), ("honours", 12)):
        path = tagged_sample(data_dir, tmp_path, kind, label)
        summary = await run(runtime, kind, path, tmp_path)
        assert (summary.rows_read, summary.inserted, summary.rejected) == (expected, expected, 0)
    records = await records_for(label)
    assert len(records) == 40 + 15 + 12

    long_term = records["阿许字〔2022〕2006号"]
    assert long_term.type == RecordType.LICENCE and long_term.record_class == RecordClass.BASIC
    assert long_term.publish_max_until is None
    assert long_term.details["有效期至"] == "长期"
    assert long_term.title == "行政许可：排污许可证"
    licence = records["阿许字〔2026〕2000号"]
    assert licence.publish_max_until == date(2031, 4, 16)
    assert licence.title == "行政许可：旅行社业务经营许可证"
    assert licence.details["许可类别"] == "普通"
    assert licence.authority_uscc == "1115292287789328XC"

    black = records["阿信认〔2025〕300号"]
    assert black.type == RecordType.BLACK_LIST
    assert black.record_class == RecordClass.SERIOUS_DISHONESTY
    assert black.severity == Severity.SERIOUS
    assert black.publish_min_until == date(2026, 8, 24)
    # No 移出日期: shown at most 36 months after entry (issue 10 item 4; it was None, for ever).
    assert black.publish_max_until == date(2028, 8, 24)
    assert black.title == "黑名单：严重违法失信"
    red = records["阿信认〔2025〕301号"]
    assert red.type == RecordType.RED_LIST and red.record_class == RecordClass.POSITIVE
    assert red.title == "红名单：纳税信用A级"
    assert red.natural_key == f"list|阿信认〔2025〕301号-{label}|红名单"

    honour = records["阿署发〔2025〕49号"]
    assert honour.type == RecordType.HONOUR and honour.record_class == RecordClass.POSITIVE
    assert honour.title == "三八红旗手"
    assert honour.details["荣誉称号"] == "三八红旗手"
    assert "15292319840301236X" not in honour.natural_key
    holder = await Subject.get(id=honour.subject_id)
    assert holder.kind == SubjectKind.PERSON
    assert honour.natural_key == f"honour|阿署发〔2025〕49号-{label}|{holder.natural_key}"


async def test_list_removal_date_ends_publication(runtime, data_dir, tmp_path):
    label = tag()

    def remove(rows: list[dict[str, str]]) -> None:
        rows[0]["移出日期"] = "2026-03-01"

    path = tagged_sample(data_dir, tmp_path, "lists", label, edit=remove)
    await run(runtime, "lists", path, tmp_path)
    black = (await records_for(label))["阿信认〔2025〕300号"]
    assert black.publish_max_until == date(2026, 3, 1)
    assert black.details["移出日期"] == "2026-03-01"


# ---- privacy ------------------------------------------------------------------------------------


def sample_id_numbers(data_dir: Path) -> set[str]:
    numbers = set()
    for kind in SAMPLE:
        _, rows = read_sample(data_dir, kind)
        numbers |= {row["证件号码"].upper() for row in rows if row.get("证件号码")}
    return numbers


def sample_person_names(data_dir: Path) -> set[str]:
    """Natural persons' names of the samples (their own rows' 行政相对人名称, and every 法定代表人)
    that no organisation's public name contains."""
    names, organisations = set(), set()
    for kind in SAMPLE:
        _, rows = read_sample(data_dir, kind)
        for row in rows:
            names.add(row.get("法定代表人") or row.get("法定代表人姓名") or "")
            name = row.get("行政相对人名称") or row.get("主体名称") or row.get("姓名或名称") or ""
            if row.get("行政相对人类别", row.get("主体类别", "")) == "自然人":
                names.add(name)
            elif name:
                organisations.add(name)
    return {n for n in names if n and not any(n in org for org in organisations)}


async def test_id_numbers_never_stored_in_plaintext(runtime, data_dir, tmp_path):
    label = tag()
    for kind in SAMPLE:
        await run(runtime, kind, tagged_sample(data_dir, tmp_path, kind, label), tmp_path)
    representative_id = new_id_number("19751231")
    # The representative's document is in its own columns (issue 10 item 9: it was read from
    # 证件类型 / 证件号码, which are a natural person's own).
    header, row = penalty_row(
        data_dir,
        法定代表人="测试代表",
        法定代表人证件类型="身份证",
        法定代表人证件号码=representative_id,
    )
    header = [*header, "法定代表人证件类型", "法定代表人证件号码"]
    await run(runtime, "penalties", write_csv(tmp_path / "rep.csv", header, [row]), tmp_path)

    numbers = sample_id_numbers(data_dir) | {representative_id}
    assert len(numbers) > 15
    names = sample_person_names(data_dir) | {"测试代表"}
    assert len(names) > 10, names
    company = await Subject.get(uscc=row["行政相对人代码_1(统一社会信用代码)"])
    # issue 12 item 7: the name is encrypted too; the column holds the mask
    assert company.legal_representative == "测试**"
    assert legal_representative_name(company, runtime.cipher) == "测试代表"
    assert (
        runtime.cipher.decrypt(company.legal_representative_id_enc, LEGAL_REP_ID_FIELD)
        == representative_id
    )
    persons = await Subject.filter(kind=SubjectKind.PERSON, id_number_enc__isnull=False)
    decrypted = {runtime.cipher.decrypt(p.id_number_enc, ID_NUMBER_FIELD) for p in persons}
    assert sample_id_numbers(data_dir) <= decrypted

    conn = connections.get("default")
    dump = ""
    for table in ("subject", "record"):
        dump += repr(await conn.execute_query_dict(f"SELECT * FROM {table}"))
    assert dump  # the tables were read
    for number in numbers:
        assert number not in dump
        assert number.lower() not in dump
    for name in names:
        assert name not in dump, name

    url = runtime.settings.database_url
    if url.startswith("sqlite://"):
        db_file = Path(url.removeprefix("sqlite://"))
        blobs = [read_database_file(db_file)]
        wal = db_file.with_name(db_file.name + "-wal")
        if wal.exists():
            blobs.append(read_database_file(wal))
        assert len(blobs[0]) > 0
        for needle in [*numbers, *names]:
            for blob in blobs:
                assert needle.encode() not in blob, needle


# ---- cache --------------------------------------------------------------------------------------


async def test_cache_invalidated_only_for_changed_subjects(runtime, data_dir, tmp_path):
    header, first = penalty_row(data_dir)
    _, second = penalty_row(data_dir)
    path = write_csv(tmp_path / "p.csv", header, [first, second])
    await run(runtime, "penalties", path, tmp_path)
    one = await Subject.get(uscc=first["行政相对人代码_1(统一社会信用代码)"])
    two = await Subject.get(uscc=second["行政相对人代码_1(统一社会信用代码)"])
    redis, keys = runtime.redis, runtime.keys
    for subject in (one, two):
        await redis.set(keys.credit_view(subject.id), b"cached")
        await redis.set(keys.public_view(subject.id), b"cached")

    await run(runtime, "penalties", path, tmp_path)  # no-op re-import
    assert await redis.get(keys.credit_view(one.id)) == b"cached"
    assert await redis.get(keys.public_view(two.id)) == b"cached"

    first["处罚内容"] = "罚款人民币0.100000万元"
    await run(
        runtime, "penalties", write_csv(tmp_path / "p.csv", header, [first, second]), tmp_path
    )
    assert await redis.get(keys.credit_view(one.id)) is None
    assert await redis.get(keys.public_view(one.id)) is None
    assert await redis.get(keys.credit_view(two.id)) == b"cached"

    # a subject whose own data changes (a new name) is invalidated too
    second["行政相对人名称"] += "（更名）"
    summary = await run(
        runtime, "penalties", write_csv(tmp_path / "p.csv", header, [first, second]), tmp_path
    )
    assert (summary.unchanged, summary.subjects_updated) == (2, 1)
    assert await redis.get(keys.credit_view(two.id)) is None
    assert (await Subject.get(id=two.id)).name == second["行政相对人名称"]
