"""Acting for a market entity (credit/acting.py): what a proven link allows wherever the entity
is, what it does not allow anyone else, and when it lapses."""

from __future__ import annotations

from credit.models import OperatorBasis, Subject, SubjectOperator
from scenarios.merchants.models import Merchant
from scenarios.merchants.rules import default_rules as merchant_rules
from tests.helpers import bound_citizen, make_enterprise, make_record, represented_enterprise
from tests.miniprogram_api.test_applications import objection, repair


async def rental(client, headers, uscc):  # type: ignore[no-untyped-def]
    body = {"policy_id": "pk-factory", "subject_uscc": uscc, "note": "租用 2 号厂房"}
    return await client.post("/api/v1/rentals", headers=headers, json=body)


async def test_an_enterprise_outside_the_zones_repairs_objects_and_rents(client, login):
    operator, _, person_id, _ = await bound_citizen(client, login)
    # in 阿拉善右旗, where config/zones.toml has no demonstration zone, and no shop anywhere
    enterprise = await represented_enterprise(client, operator, person_id)
    await Subject.filter(id=enterprise.id).update(region="152922")
    assert "152922" not in {zone.region for zone in merchant_rules().zones.values()}
    assert not await Merchant.exists(subject_id=enterprise.id)
    stranger, *_ = await bound_citizen(client, login)

    rented = await rental(client, operator, enterprise.uscc)
    assert rented.status_code == 201, rented.text
    refused = await rental(client, stranger, enterprise.uscc)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"

    penalty = await make_record(enterprise.id)
    other = await make_record(enterprise.id, title="行政处罚：未按规定公示收费标准")
    # someone else's record is "not found" (ids reveal nothing), their enterprise 403
    assert (await repair(client, stranger, penalty.id)).status_code == 404
    assert (await objection(client, stranger, other.id)).status_code == 404
    registration = {"subject_uscc": enterprise.uscc, "category": "certificates",
                    "title": "质量管理体系认证", "content": "ISO 9001 证书"}  # fmt: skip
    refused = await client.post("/api/v1/registrations", headers=stranger, json=registration)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"

    repaired = await repair(client, operator, penalty.id)
    assert repaired.status_code == 201, repaired.text
    objected = await objection(client, operator, other.id)
    assert objected.status_code == 201, objected.text


async def test_a_legal_representative_link_lapses_with_the_match(client, login):
    operator, user_id, person_id, _ = await bound_citizen(client, login)
    enterprise = await represented_enterprise(client, operator, person_id)
    record = await make_record(enterprise.id)
    eligibility = f"/api/v1/records/{record.id}/repair-eligibility"
    assert (await client.get(eligibility, headers=operator)).status_code == 200
    # the platform now names another legal representative: the stored link counts no more
    await Subject.filter(id=enterprise.id).update(legal_representative_id_index="f" * 40)
    assert (await client.get(eligibility, headers=operator)).status_code == 404
    assert (await rental(client, operator, enterprise.uscc)).status_code == 403
    assert (await client.get("/api/v1/me/enterprises", headers=operator)).json()["items"] == []
    assert await SubjectOperator.exists(user_id=user_id, subject_id=enterprise.id)  # kept, inert


async def test_links_without_a_proof_give_no_rights(client, login):
    """Links made by merchant approvals before proof was required are 'unproven' (the column's
    database default, as migration 0008 gives the old rows)."""
    operator, user_id, *_ = await bound_citizen(client, login)
    enterprise = await make_enterprise()
    await SubjectOperator.create(user_id=user_id, subject_id=enterprise.id)
    link = await SubjectOperator.get(user_id=user_id, subject_id=enterprise.id)
    assert link.basis == OperatorBasis.UNPROVEN
    record = await make_record(enterprise.id)
    assert (await repair(client, operator, record.id)).status_code == 404
    assert (await rental(client, operator, enterprise.uscc)).status_code == 403
    # proving it upgrades the same link
    await Subject.filter(id=enterprise.id).update(
        legal_representative_id_index=(
            await Subject.get(id=(await _person_of(user_id))).only("id", "id_number_index")
        ).id_number_index
    )
    linked = await client.post(
        "/api/v1/me/enterprises", headers=operator, json={"uscc": enterprise.uscc}
    )
    assert linked.status_code == 201 and linked.json()["basis"] == "legal_representative"
    assert await SubjectOperator.filter(user_id=user_id).count() == 1
    assert (await repair(client, operator, record.id)).status_code == 201


async def _person_of(user_id: int) -> int:
    from credit.models import IdentityBinding

    return (await IdentityBinding.get(user_id=user_id)).subject_id
