"""The importer's subject writes (credit/ingest/store.py): the legal representative's blind index,
which lets the legal representative act for the enterprise without any decryption."""

from __future__ import annotations

from credit.models import ID_NUMBER_FIELD, Subject
from tests.credit.ingest.test_importer import new_id_number, penalty_row, run, write_csv
from tests.helpers import bind, unique_code


async def test_the_legal_representative_index_is_stored_and_matches_a_binding(
    runtime, data_dir, tmp_path, client, login
):
    representative_id = new_id_number("19790412")
    header, row = penalty_row(
        data_dir,
        法定代表人="测试代表",
        法定代表人证件类型="身份证",
        法定代表人证件号码=representative_id,
    )
    # the representative's own document columns (an organisation row's 证件号码 is not theirs)
    header = [*header, "法定代表人证件类型", "法定代表人证件号码"]
    path = write_csv(tmp_path / "rep.csv", header, [row])
    await run(runtime, "penalties", path, tmp_path)
    company = await Subject.get(uscc=row["行政相对人代码_1(统一社会信用代码)"])
    expected = runtime.cipher.blind_index(representative_id, ID_NUMBER_FIELD)
    assert company.legal_representative_id_index == expected
    assert representative_id not in (company.legal_representative_id_index or "")

    # rows imported before the column existed get it from the next import of the same data
    await Subject.filter(id=company.id).update(legal_representative_id_index=None)
    await run(runtime, "penalties", path, tmp_path)
    await company.refresh_from_db()
    assert company.legal_representative_id_index == expected

    # the person bound to that ID number is recognised as the legal representative
    headers = await login(unique_code())
    bound = await bind(client, headers, name="测试代表", id_number=representative_id)
    assert bound.status_code == 200, bound.text
    linked = await client.post(
        "/api/v1/me/enterprises", headers=headers, json={"uscc": company.uscc}
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["basis"] == "legal_representative"
