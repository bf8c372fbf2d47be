"""What the 双公示 standards carry (issue 10 item 9): headers as real feeds spell them, the 2016
version beside the current one, the other 行政相对人代码, the legal representative's document kept
apart from a natural person's own, 当前状态 of licences, and rows that withdraw a record.

Sample files: tests/data/{penalties,licences}_2016_sample.csv, penalties_identifiers_sample.csv,
licences_status_sample.csv (see tests/data/README.md).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest

from credit.ingest import ImportRefused, import_file
from credit.ingest.mapping import LEGAL_REP_ID_FIELD
from credit.models import (
    ID_NUMBER_FIELD,
    Record,
    RecordStatus,
    RecordType,
    Subject,
    SubjectKind,
)
from credit.person_names import legal_representative_name
from credit.scoring import score_subject
from infra.audit import drain
from infra.models import AuditEntry
from tests.credit.ingest.test_importer import (
    TODAY,
    new_id_number,
    penalty_row,
    read_rejects,
    read_sample,
    records_for,
    tag,
    write_csv,
)

DOC_COLUMNS = ("行政处罚决定书文号", "行政许可决定文书号", "行政许可决定书文号")


def tagged(data_dir: Path, tmp_path: Path, sample: str, label: str) -> Path:
    """A sample file with its document numbers suffixed by `label` (fresh natural keys)."""
    with (data_dir / sample).open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    doc = next(i for i, name in enumerate(header) if name in DOC_COLUMNS)
    for row in rows:
        row[doc] += f"-{label}"
    path = tmp_path / f"{label}-{sample}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    return path


async def run(runtime, kind: str, path: Path, tmp_path: Path, today: date = TODAY, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("rejects_path", tmp_path / f"{path.stem}.rejects.csv")
    return await import_file(
        kind,
        path,
        cipher=runtime.cipher,
        redis=runtime.redis,
        keys=runtime.keys,
        progress=False,
        today=today,
        **kwargs,
    )


# ---- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "行政相对人代码_1（统一社会信用代码）",  # full-width parentheses
        "行政相对人代码_1 (统一社会信用代码)",  # a space
        "行政相对人代码＿1",  # full-width underscore, no parenthesis
        " 行政相对人代码_1【统一社会信用代码】：",  # other brackets, a colon, padding
    ],
)
async def test_headers_are_read_as_real_feeds_spell_them(runtime, data_dir, tmp_path, spelling):
    """Such a file was refused whole; now it loads exactly like the canonical one."""
    label = tag()
    header, rows = read_sample(data_dir, "penalties")
    for row in rows:
        if row["行政处罚决定书文号"]:
            row["行政处罚决定书文号"] += f"-{label}"
    plain = await run(runtime, "penalties", write_csv(tmp_path / "a.csv", header, rows), tmp_path)
    before = {k: (r.content_hash, r.updated_at) for k, r in (await records_for(label)).items()}

    renamed = {
        "行政相对人代码_1(统一社会信用代码)": spelling,
        "罚款金额（万元）": "罚款金额 (万元)",
    }
    with (tmp_path / "b.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([renamed.get(name, name) for name in header])
        writer.writerows([row[name] for name in header] for row in rows)
    again = await run(runtime, "penalties", tmp_path / "b.csv", tmp_path)

    assert (plain.inserted, plain.rejected) == (40, 4)
    assert (again.rows_read, again.inserted, again.updated, again.unchanged) == (44, 0, 0, 40)
    assert again.rejected == 4
    after = {k: (r.content_hash, r.updated_at) for k, r in (await records_for(label)).items()}
    assert after == before


async def test_a_header_that_fits_neither_standard_is_refused_naming_what_it_lacks(
    runtime, data_dir, tmp_path
):
    header, rows = read_sample(data_dir, "penalties")
    kept = [h for h in header if h != "处罚机关"] + ["处罚机构"]
    for row in rows:
        row["处罚机构"] = row.pop("处罚机关")
    count = await Record.all().count()

    with pytest.raises(ImportRefused) as refused:
        await run(runtime, "penalties", write_csv(tmp_path / "p.csv", kept, rows), tmp_path)

    message = str(refused.value)
    assert "现行标准或2016 版标准" in message
    assert "按现行标准缺少必需的列：处罚机关" in message
    assert "无法识别的列：处罚机构" in message
    assert "整个文件未导入" in message
    assert await Record.all().count() == count
    assert not (tmp_path / "p.rejects.csv").exists()


# ---- the 2016 standard --------------------------------------------------------------------------


@pytest.mark.parametrize("in_worker", [False, True])
async def test_2016_penalties_load(runtime, data_dir, tmp_path, monkeypatch, in_worker):
    from credit.ingest import importer

    if in_worker:  # the worker process places the header again, on its own
        monkeypatch.setattr(importer, "PARALLEL_MIN_LINES", 0)
    label = tag()
    summary = await run(
        runtime,
        "penalties",
        tagged(data_dir, tmp_path, "penalties_2016_sample.csv", label),
        tmp_path,
    )

    # five rows: four penalties, and a later row of 104 that withdraws it (当前状态 1)
    assert (summary.rows_read, summary.inserted, summary.updated, summary.rejected) == (5, 4, 1, 0)
    assert summary.withdrawn == 1 and "其中撤回 1 条" in summary.as_text()
    records = await records_for(label)

    mixed = records["阿环罚〔2016〕101号"]
    assert mixed.title == "行政处罚：阿拉善旧城建材有限公司超标排放案"  # 处罚名称
    assert mixed.details["处罚类别"] == "罚款、责令改正"  # 处罚类别1 and 处罚类别2
    assert mixed.details["违法事实"] == "超标排放大气污染物"  # 处罚事由
    assert mixed.details["处罚内容"] == "罚款人民币2万元，责令改正"  # 处罚结果
    assert mixed.details["地方编码"] == "152921"
    assert "数据更新时间戳" not in mixed.details  # changes with every export
    assert mixed.authority_uscc is None  # the 2016 standard names the authority only
    assert mixed.natural_key == f"penalty|阿环罚〔2016〕101号-{label}|阿拉善盟生态环境局"
    company = await Subject.get(id=mixed.subject_id)
    assert company.kind == SubjectKind.ENTERPRISE
    assert company.uscc == "91152921D1TJ3Y7L4H"
    assert company.org_code == "D1TJ3Y7L4"  # its 行政相对人代码_2
    assert company.registration_no == "152921000012345"  # its 行政相对人代码_3 (工商登记码)
    assert company.tax_registration_no == "152921D1TJ3Y7L4"
    assert legal_representative_name(company, runtime.cipher) == "张旧城"  # 法定代表人姓名

    shop = await Subject.get(id=records["阿市监罚〔2016〕102号"].subject_id)
    assert shop.kind == SubjectKind.INDIVIDUAL_BUSINESS  # 92…: 个体工商户
    person = await Subject.get(id=records["阿市监罚〔2016〕103号"].subject_id)
    assert person.kind == SubjectKind.PERSON
    assert person.natural_key == "id:" + runtime.cipher.blind_index(
        "152921197903157496", ID_NUMBER_FIELD
    )

    withdrawn = records["阿环罚〔2016〕104号"]
    assert withdrawn.status == RecordStatus.REVOKED and withdrawn.shared is False
    assert withdrawn.details["当前状态"] == "1"
    assert withdrawn.details["备注"] == "行政复议决定撤销原处罚决定"


async def test_2016_licences_load(runtime, data_dir, tmp_path):
    label = tag()
    summary = await run(
        runtime, "licences", tagged(data_dir, tmp_path, "licences_2016_sample.csv", label), tmp_path
    )

    assert (summary.rows_read, summary.inserted, summary.rejected, summary.warnings) == (3, 3, 0, 0)
    records = await records_for(label)
    food = records["阿市监许〔2016〕201号"]
    assert food.type == RecordType.LICENCE
    assert food.title == "行政许可：食品经营许可"  # 项目名称
    assert food.details["许可类别"] == "普通"  # 审批类别
    assert food.publish_max_until == date(2021, 5, 9)  # 许可截止期
    assert food.natural_key == f"licence|阿市监许〔2016〕201号-{label}|阿拉善盟市场监督管理局"
    assert records["阿环许〔2016〕202号"].details["有效期至"] == "长期"
    guide = await Subject.get(id=records["阿市监许〔2016〕203号"].subject_id)
    assert guide.kind == SubjectKind.PERSON


# ---- identifiers and the legal representative ---------------------------------------------------


async def test_other_codes_and_the_legal_representatives_document_are_kept(
    runtime, data_dir, tmp_path
):
    label = tag()
    path = tagged(data_dir, tmp_path, "penalties_identifiers_sample.csv", label)
    summary = await run(runtime, "penalties", path, tmp_path)

    assert (summary.inserted, summary.updated, summary.rejected, summary.warnings) == (4, 1, 0, 1)
    records = await records_for(label)
    company = await Subject.get(id=records["阿环罚〔2025〕301号"].subject_id)
    assert company.org_code == "LJY1JJC15"
    assert company.tax_registration_no == "91152921LJY1JJC15A"
    assert legal_representative_name(company, runtime.cipher) == "钱全码"
    assert company.legal_representative_id_type == "身份证"
    representative = "152921197001017558"
    assert (
        runtime.cipher.decrypt(company.legal_representative_id_enc, LEGAL_REP_ID_FIELD)
        == representative
    )
    # the representative's number is never a person subject's key or index
    index = runtime.cipher.blind_index(representative, ID_NUMBER_FIELD)
    assert not await Subject.filter(id_number_index=index).exists()
    assert not await Subject.filter(natural_key=f"id:{index}").exists()

    institute = await Subject.get(id=records["阿环罚〔2025〕302号"].subject_id)
    assert institute.institution_cert_no == "事证第115292100123号"
    association = await Subject.get(id=records["阿环罚〔2025〕303号"].subject_id)
    assert association.social_org_cert_no == "阿民社证字第0088号"
    assert association.legal_representative_id_type == "护照"
    assert (
        runtime.cipher.decrypt(association.legal_representative_id_enc, LEGAL_REP_ID_FIELD)
        == "护照:E12345678"
    )
    # 304 twice: the second row's 备注 withdraws it
    burnt = records["阿环罚〔2025〕304号"]
    assert burnt.status == RecordStatus.REVOKED
    assert (await Subject.get(id=burnt.subject_id)).kind == SubjectKind.PERSON
    assert "组织机构代码格式错误" not in " ".join(summary.warning_samples)


async def test_a_natural_persons_id_column_on_an_organisation_row_is_not_the_representatives(
    runtime, data_dir, tmp_path
):
    """证件类型 / 证件号码 are a natural person's own: on an enterprise row they are neither
    the representative's document nor a person (issue 10 item 9: they were read as the
    representative's)."""
    number = new_id_number("19660606")
    header, row = penalty_row(data_dir, 法定代表人="测试代表", 证件类型="身份证", 证件号码=number)
    summary = await run(
        runtime, "penalties", write_csv(tmp_path / "p.csv", header, [row]), tmp_path
    )

    assert (summary.inserted, summary.warnings) == (1, 1)
    assert "证件号码是自然人本人的证件号码" in summary.warning_samples[0]
    assert number not in summary.warning_samples[0]
    company = await Subject.get(uscc=row["行政相对人代码_1(统一社会信用代码)"])
    assert legal_representative_name(company, runtime.cipher) == "测试代表"
    assert company.legal_representative_id_enc is None
    assert not await Subject.filter(
        id_number_index=runtime.cipher.blind_index(number, ID_NUMBER_FIELD)
    ).exists()


# ---- 当前状态 and withdrawals ----------------------------------------------------------------


async def test_a_licence_no_longer_valid_is_shown_but_stops_counting(runtime, data_dir, tmp_path):
    label = tag()
    path = tagged(data_dir, tmp_path, "licences_status_sample.csv", label)
    summary = await run(runtime, "licences", path, tmp_path)

    assert (summary.rows_read, summary.inserted, summary.updated, summary.rejected) == (6, 5, 1, 0)
    records = await records_for(label)
    valid, cancelled, revoked, suspended, blank = (
        records[f"阿许字〔2024〕{n}号"] for n in ("4001", "4002", "4003", "4004", "4005")
    )
    assert cancelled.title == "行政许可：旅行社业务经营许可证（当前状态：注销）"
    assert revoked.details["当前状态"] == "撤销" and suspended.details["当前状态"] == "吊销"
    for record in (valid, cancelled, revoked, suspended):
        assert record.status == RecordStatus.PUBLISHED  # the licence's state, not a withdrawal
    assert blank.status == RecordStatus.REVOKED  # 备注 删除: withdrawn

    scored = await score_subject(valid.subject_id, "public", TODAY)
    shown = {r.id for r in scored.shown}
    counted = {f.record_id for f in scored.factors}
    assert {valid.id, cancelled.id, revoked.id, suspended.id} <= shown
    assert blank.id not in shown
    assert valid.id in counted
    assert not counted & {cancelled.id, revoked.id, suspended.id, blank.id}


async def test_an_unknown_licence_state_is_rejected(runtime, data_dir, tmp_path):
    header, rows = read_sample(data_dir, "licences")
    row = dict(rows[5], 行政许可决定文书号=f"阿测许字〔2025〕{tag()}号", 当前状态="1")
    summary = await run(
        runtime, "licences", write_csv(tmp_path / "l.csv", [*header, "当前状态"], [row]), tmp_path
    )
    assert (summary.inserted, summary.rejected) == (0, 1)
    reason = read_rejects(summary.rejects_path)[1][1]
    assert reason.startswith("当前状态无效：1（应为") and "吊销" in reason


async def test_a_withdrawn_penalty_leaves_the_lookup_and_the_score_and_its_row_stays(
    runtime, data_dir, tmp_path, client
):
    today = date.today()
    header, row = penalty_row(
        data_dir,
        处罚类别="罚款",
        处罚内容="罚款人民币0.5万元",
        处罚决定日期=(today - timedelta(days=10)).isoformat(),
        处罚有效期="",
        公示截止期="",
        **{"罚款金额（万元）": "0.5"},
    )
    uscc = row["行政相对人代码_1(统一社会信用代码)"]
    await run(runtime, "penalties", write_csv(tmp_path / "a.csv", header, [row]), tmp_path, today)
    record = await Record.get(document_no=row["行政处罚决定书文号"])
    public = (await client.get(f"/api/v1/subjects/{uscc}")).json()
    listed = {r["id"] for records in public["records"].values() for r in records}
    assert record.id in listed
    assert record.id in {f["record_id"] for f in public["factors"]}

    withdrawing = dict(row, 备注="撤销：处罚决定已被依法撤销")
    summary = await run(
        runtime, "penalties", write_csv(tmp_path / "b.csv", header, [withdrawing]), tmp_path, today
    )

    assert (summary.updated, summary.withdrawn) == (1, 1)
    after = await Record.get(id=record.id)  # the row stays
    assert after.status == RecordStatus.REVOKED and after.shared is False
    assert after.created_at == record.created_at
    public = (await client.get(f"/api/v1/subjects/{uscc}")).json()  # the import dropped the cache
    listed = {r["id"] for records in public["records"].values() for r in records}
    assert record.id not in listed
    assert public["factors"] == [] and public["level"]["score"] == 750
    await drain(runtime.redis, runtime.keys, wait=2.0)
    trail = await AuditEntry.filter(action="record.withdrawn", subject_id=record.subject_id)
    assert len(trail) == 1
    assert trail[0].actor_kind == "system" and trail[0].channel == "import"
    assert trail[0].detail["record_id"] == record.id and trail[0].detail["line"] == 2

    # importing the withdrawing row again changes nothing, and writes no second trail entry
    again = await run(
        runtime, "penalties", write_csv(tmp_path / "b.csv", header, [withdrawing]), tmp_path, today
    )
    assert (again.unchanged, again.withdrawn) == (1, 0)
    await drain(runtime.redis, runtime.keys, wait=2.0)
    assert (
        await AuditEntry.filter(action="record.withdrawn", subject_id=record.subject_id).count()
        == 1
    )
