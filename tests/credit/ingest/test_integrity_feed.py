"""The 政务失信 feed (issue 13 item 5): a government body's broken promises, in the shape of the
penalty feed, imported as records of `agency` subjects; rejects with their reasons; idempotent."""

from __future__ import annotations

import csv
import random
import uuid
from datetime import date
from pathlib import Path

from stdnum.cn import uscc

from credit.ingest import import_file
from credit.models import Record, RecordType, Subject, SubjectKind
from credit.publication import is_shown

TODAY = date(2026, 11, 25)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def fresh_uscc(prefix: str) -> str:
    body = prefix + "".join(random.choice(USCC_ALPHABET) for _ in range(17 - len(prefix)))
    return body + uscc.calc_check_digit(body)


def fresh_sample(data_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """tests/data/integrity_sample.csv with fresh agency codes, names and document numbers:
    (file, original USCC -> fresh USCC)."""
    label = uuid.uuid4().hex[:8]
    with (data_dir / "integrity_sample.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    codes: dict[str, str] = {}
    for row in rows:
        code = row["统一社会信用代码"]
        if len(code) == 18:
            codes.setdefault(code, fresh_uscc(code[:8]))
            row["统一社会信用代码"] = codes[code]
        row["失信主体名称"] += label
        row["认定文书号"] += f"-{label}"
    path = tmp_path / f"integrity-{label}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path, codes


async def run(runtime, path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return await import_file(
        "integrity", path, cipher=runtime.cipher, redis=runtime.redis, keys=runtime.keys,
        rejects_path=tmp_path / "rejects.csv", progress=False, today=TODAY,
    )  # fmt: skip


async def test_the_sample_makes_agencies_and_their_records(runtime, data_dir, tmp_path):
    path, codes = fresh_sample(data_dir, tmp_path)
    summary = await run(runtime, path, tmp_path)
    assert (summary.inserted, summary.withdrawn, summary.rejected) == (6, 1, 3)
    with (tmp_path / "rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        reasons = " ".join(" ".join(row) for row in csv.reader(handle))
    assert "失信主体类别无效" in reasons and "统一社会信用代码" in reasons and "认定日期" in reasons

    agencies = await Subject.filter(uscc__in=list(codes.values()))
    assert len(agencies) == 4 and {a.kind for a in agencies} == {SubjectKind.AGENCY}
    records = await Record.filter(subject_id__in=[a.id for a in agencies])
    assert {r.type for r in records} == {RecordType.GOV_DISHONESTY}
    by_offence = {r.title: r for r in records}
    court = by_offence["政务失信：拒不履行生效判决"]
    assert court.severity == "serious" and court.record_class == "serious_dishonesty"
    assert court.details["涉及金额（万元）"] == "120"
    shown = {r.title for r in records if is_shown(r, "public", TODAY)}
    # the 2023 record is past its 公示截止期, the withdrawn one is revoked
    assert "政务失信：违约毁约" in shown and len(shown) == 4
    assert next(r for r in records if r.status == "revoked").document_no.startswith(
        "阿信用政失字〔2025〕9号"
    )


async def test_importing_again_changes_nothing(runtime, data_dir, tmp_path):
    path, _ = fresh_sample(data_dir, tmp_path)
    await run(runtime, path, tmp_path)
    again = await run(runtime, path, tmp_path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)
