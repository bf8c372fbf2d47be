"""Penalty severity as config/records.toml classifies it (issue 10 item 3): 28 feed rows, each
with the severity the rules must give it (tests/data/penalty_severity_sample.csv)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from credit.ingest.rules import load_rules
from credit.models import Record, RecordClass, RecordType, Subject
from tests.credit.ingest.test_importer import records_for, run, tag, write_csv

EXPECTED = {"轻微": "minor", "一般": "general", "严重": "serious", "不属于失信": None}
EXTRA_COLUMNS = ("预期严重程度", "说明")


def sample(data_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (data_dir / "penalty_severity_sample.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


async def test_the_table_of_feed_rows_gets_the_expected_severities(runtime, data_dir, tmp_path):
    header, rows = sample(data_dir)
    assert len(rows) >= 20
    feed_header = [column for column in header if column not in EXTRA_COLUMNS]
    label = tag()
    feed_rows = [{column: row[column] for column in feed_header} for row in rows]
    for row in feed_rows:
        row["行政处罚决定书文号"] += f"-{label}"
    feed = write_csv(tmp_path / "severity.csv", feed_header, feed_rows)
    summary = await run(runtime, "penalties", feed, tmp_path)
    assert (summary.inserted, summary.rejected) == (len(rows), 0)
    assert summary.warnings == 1  # 其他 with a fine: classified by the default, said so

    records = await records_for(label)
    got = {row["行政处罚决定书文号"]: records[row["行政处罚决定书文号"]].severity for row in rows}
    want = {row["行政处罚决定书文号"]: EXPECTED[row["预期严重程度"]] for row in rows}
    mismatched = {
        f"{doc} ({row['说明']})": (got[doc], want[doc])
        for row in rows
        if got[(doc := row["行政处罚决定书文号"])] != want[doc]
    }
    assert mismatched == {}
    for row in rows:
        record = records[row["行政处罚决定书文号"]]
        if record.severity is None:
            assert record.record_class == RecordClass.BASIC
            assert record.publish_min_until is None
            assert not record.title.startswith("行政处罚")  # 不予行政处罚 / 责令改正
        elif record.severity == "serious":
            assert record.record_class == RecordClass.SERIOUS_DISHONESTY
        else:
            assert record.record_class == RecordClass.GENERAL_DISHONESTY


async def test_a_row_that_is_not_dishonesty_is_kept_but_not_public_and_not_scored(
    runtime, client, data_dir, tmp_path
):
    header, rows = sample(data_dir)
    row = next(r for r in rows if r["处罚类别"] == "不予处罚")
    feed_header = [column for column in header if column not in EXTRA_COLUMNS]
    row = {column: row[column] for column in feed_header}
    row["行政处罚决定书文号"] += f"-{tag()}"
    await run(runtime, "penalties", write_csv(tmp_path / "one.csv", feed_header, [row]), tmp_path)

    subject = await Subject.get(uscc=row["行政相对人代码_1(统一社会信用代码)"])
    kept = await Record.get(document_no=row["行政处罚决定书文号"])
    assert kept.subject_id == subject.id and kept.type == RecordType.PENALTY
    assert kept.title == f"不予行政处罚：{row['违法行为类型']}"

    public = (await client.get(f"/api/v1/subjects/{subject.uscc}")).json()
    assert all(group == [] for group in public["records"].values())
    assert public["level"]["score"] == 750  # the base: it moved nothing
    assert public["factors"] == []


def test_the_summary_amounts_follow_the_subject_kind():
    """行政处罚法 art. 51: 200 元 for a citizen, 3,000 元 for an organisation."""
    rules = load_rules()
    fine = Decimal("0.1")  # 1,000 元
    assert rules.classify_penalty("罚款", "罚款", fine, "enterprise").severity == "minor"
    assert rules.classify_penalty("罚款", "罚款", fine, "person").severity == "general"
    # a fine of unknown amount cannot be shown to be within the limit
    assert rules.classify_penalty("罚款", "罚款", None, "enterprise").severity == "general"
    # 责令改正 beside a real penalty is that penalty
    assert rules.classify_penalty("警告", "警告，责令改正", None, "enterprise").severity == "minor"
