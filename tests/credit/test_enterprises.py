"""Becoming able to act for an enterprise (credit/enterprises.py, POST|GET /api/v1/me/enterprises):
the legal representative by the bound identity, anyone else by a reviewed 授权委托书."""

from __future__ import annotations

import io

from PIL import Image

from credit.models import OperatorBasis, Subject, SubjectOperator
from infra.audit import drain
from infra.models import AuditEntry
from tests.helpers import bound_citizen, make_enterprise, make_record, unique_code

CLAIM = "/api/v1/me/enterprises"


def png(colour: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), (colour, 80, 160)).save(buffer, "PNG")
    return buffer.getvalue()


async def upload(client, headers, colour: int = 0) -> int:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/uploads", headers=headers, files={"file": ("scan.png", png(colour), "image/png")}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def file_request(client, headers, uscc: str):  # type: ignore[no-untyped-def]
    """A 授权委托书 and a 营业执照 uploaded by the caller, and the request filed with them."""
    proof = {
        "power_of_attorney_upload_id": await upload(client, headers, 1),
        "licence_upload_id": await upload(client, headers, 2),
    }
    return await client.post(CLAIM, headers=headers, json={"uscc": uscc} | proof), proof


async def decide(client, headers, request_id, decision, note=None):  # type: ignore[no-untyped-def]
    return await client.post(
        f"/api/v1/admin/enterprise-authorisations/{request_id}/decision",
        headers=headers,
        json={"decision": decision} | ({"note": note} if note else {}),
    )


async def test_the_legal_representative_is_linked_at_once(client, login, runtime):
    headers, user_id, person_id, _ = await bound_citizen(client, login)
    enterprise = await make_enterprise(represented_by=person_id)
    assert not await SubjectOperator.exists(user_id=user_id)

    linked = await client.post(CLAIM, headers=headers, json={"uscc": enterprise.uscc})
    assert linked.status_code == 201, linked.text
    body = linked.json()
    assert body["status"] == "active" and body["basis"] == "legal_representative"
    assert body["enterprise"] == {
        "uscc": enterprise.uscc, "name": enterprise.name, "kind": "enterprise"
    }  # fmt: skip
    link = await SubjectOperator.get(user_id=user_id, subject_id=enterprise.id)
    assert link.basis == OperatorBasis.LEGAL_REPRESENTATIVE and link.application_id is None
    again = await client.post(CLAIM, headers=headers, json={"uscc": enterprise.uscc})
    assert again.status_code == 200 and again.json()["basis"] == "legal_representative"
    assert await SubjectOperator.filter(user_id=user_id).count() == 1

    mine = (await client.get(CLAIM, headers=headers)).json()
    assert [i["enterprise"]["uscc"] for i in mine["items"]] == [enterprise.uscc]
    assert mine["requests"] == []
    await drain(runtime.redis, runtime.keys, wait=2.0)
    entry = await AuditEntry.get(subject_id=enterprise.id, action="operator.link")
    assert entry.actor_user_id == user_id and entry.detail == {"basis": "legal_representative"}


async def test_anyone_else_is_asked_for_a_power_of_attorney(client, login):
    _, _, person_id, _ = await bound_citizen(client, login)
    enterprise = await make_enterprise(represented_by=person_id)
    other, other_id, *_ = await bound_citizen(client, login)

    refused = await client.post(CLAIM, headers=other, json={"uscc": enterprise.uscc})
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "AUTHORISATION_REQUIRED"
    assert "授权委托书" in error["message"] and "营业执照" in error["message"]
    assert not await SubjectOperator.exists(user_id=other_id)

    unbound = await login(unique_code())
    assert (await client.post(CLAIM, headers=unbound, json={"uscc": enterprise.uscc})).json()[
        "error"
    ]["code"] == "IDENTITY_NOT_BOUND"
    unknown = (await make_enterprise()).uscc
    await Subject.filter(uscc=unknown).update(uscc=None)  # no market entity has it any more
    missing = await client.post(CLAIM, headers=other, json={"uscc": unknown})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SUBJECT_NOT_FOUND"
    malformed = await client.post(CLAIM, headers=other, json={"uscc": "123"})
    assert malformed.status_code == 422
    half = await client.post(
        CLAIM,
        headers=other,
        json={"uscc": enterprise.uscc, "power_of_attorney_upload_id": await upload(client, other)},
    )
    assert half.status_code == 422 and "licence_upload_id" in half.json()["error"]["fields"]
    stranger, *_ = await bound_citizen(client, login)
    foreign = {
        "power_of_attorney_upload_id": await upload(client, stranger, 3),
        "licence_upload_id": await upload(client, other, 4),
    }
    not_mine = await client.post(CLAIM, headers=other, json={"uscc": enterprise.uscc} | foreign)
    assert not_mine.status_code == 422 and "attachments" in not_mine.json()["error"]["fields"]
    same = await upload(client, other, 5)
    twice = await client.post(
        CLAIM,
        headers=other,
        json={
            "uscc": enterprise.uscc,
            "power_of_attorney_upload_id": same,
            "licence_upload_id": same,
        },
    )
    assert twice.status_code == 422
    assert (await client.get(CLAIM, headers=other)).json() == {
        "items": [], "requests": [], "next": None
    }  # fmt: skip


async def test_a_power_of_attorney_is_reviewed_and_only_approval_gives_rights(
    client, login, runtime
):
    headers, user_id, person_id, _ = await bound_citizen(client, login)
    enterprise = await make_enterprise()  # the platform names no legal representative
    record = await make_record(enterprise.id)
    reviewer = await login("demo-reviewer")

    filed, proof = await file_request(client, headers, enterprise.uscc)
    assert filed.status_code == 201, filed.text
    request = filed.json()["request"]
    assert filed.json()["status"] == "pending" and request["status"] == "submitted"
    mine = (await client.get(CLAIM, headers=headers)).json()
    assert mine["items"] == [] and [r["id"] for r in mine["requests"]] == [request["id"]]
    duplicate, _ = await file_request(client, headers, enterprise.uscc)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "APPLICATION_EXISTS"

    # pending: no rights yet
    objection = {"record_id": record.id, "reason": "处罚决定书文号与事实不符，申请更正"}
    assert (
        await client.post("/api/v1/objections", headers=headers, json=objection)
    ).status_code == 404
    assert not await SubjectOperator.exists(user_id=user_id)

    # the reviewer sees the attachments and who asks (masked), and may read the files
    path = f"/api/v1/admin/enterprise-authorisations/{request['id']}"
    detail = (await client.get(path, headers=reviewer)).json()
    assert detail["kind"] == "authorisation" and detail["enterprise"] == enterprise.name
    assert detail["power_of_attorney_upload_id"] == proof["power_of_attorney_upload_id"]
    assert detail["licence_upload_id"] == proof["licence_upload_id"]
    assert detail["subject"]["uscc"] == enterprise.uscc
    assert detail["applicant"]["name_masked"] == "乌*"
    assert "*" in detail["applicant"]["id_number_masked"]
    for upload_id in proof.values():
        assert (
            await client.get(f"/api/v1/uploads/{upload_id}", headers=reviewer)
        ).status_code == 200
    queue = (
        await client.get(
            "/api/v1/admin/enterprise-authorisations?status=submitted", headers=reviewer
        )
    ).json()
    assert request["id"] in [item["id"] for item in queue["items"]]
    assert (await decide(client, headers, request["id"], "approve")).status_code == 403

    approved = await decide(client, reviewer, request["id"], "approve", "委托书与营业执照一致")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    link = await SubjectOperator.get(user_id=user_id, subject_id=enterprise.id)
    assert link.basis == OperatorBasis.POWER_OF_ATTORNEY and link.application_id == request["id"]
    assert (
        await client.post("/api/v1/objections", headers=headers, json=objection)
    ).status_code == 201
    mine = (await client.get(CLAIM, headers=headers)).json()
    assert [(i["basis"], i["request_id"]) for i in mine["items"]] == [
        ("power_of_attorney", request["id"])
    ]
    assert mine["requests"] == []
    assert (await decide(client, reviewer, request["id"], "approve")).status_code == 409

    await drain(runtime.redis, runtime.keys, wait=2.0)
    decision = await AuditEntry.get(subject_id=enterprise.id, action="authorisation.approve")
    assert decision.detail["application_id"] == request["id"]
    identity_read = await AuditEntry.filter(subject_id=person_id, action="identity.read").first()
    assert identity_read is not None
    assert identity_read.detail == {"application_id": request["id"]}


async def test_a_refused_request_gives_no_rights(client, login):
    headers, user_id, *_ = await bound_citizen(client, login)
    enterprise = await make_enterprise()
    reviewer = await login("demo-reviewer")
    filed, _ = await file_request(client, headers, enterprise.uscc)
    request_id = filed.json()["request"]["id"]
    no_note = await decide(client, reviewer, request_id, "deny")
    assert no_note.status_code == 422
    denied = await decide(client, reviewer, request_id, "deny", "委托书未加盖企业公章")
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    assert not await SubjectOperator.exists(user_id=user_id)
    registration = {
        "subject_uscc": enterprise.uscc,
        "category": "certificates",
        "title": "食品安全管理体系认证",
        "content": "ISO 22000 证书，有效期至 2028 年",
    }
    refused = await client.post("/api/v1/registrations", headers=headers, json=registration)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_SUBJECT_OPERATOR"
    seen = (
        await client.get(f"/api/v1/enterprise-authorisations/{request_id}", headers=headers)
    ).json()
    assert seen["status"] == "denied" and seen["note"] == "委托书未加盖企业公章"
    # a new request may follow a decided one
    again, _ = await file_request(client, headers, enterprise.uscc)
    assert again.status_code == 201
    withdrawn = await client.post(
        f"/api/v1/enterprise-authorisations/{again.json()['request']['id']}/withdraw",
        headers=headers,
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert not await SubjectOperator.exists(user_id=user_id)


async def test_a_request_is_the_applicants_own(client, login):
    headers, *_ = await bound_citizen(client, login)
    enterprise = await make_enterprise()
    filed, _ = await file_request(client, headers, enterprise.uscc)
    request_id = filed.json()["request"]["id"]
    other, *_ = await bound_citizen(client, login)
    path = f"/api/v1/enterprise-authorisations/{request_id}"
    assert (await client.get(path, headers=other)).status_code == 404
    assert (await client.post(f"{path}/withdraw", headers=other)).status_code == 404
    assert (await client.get(CLAIM, headers=other)).json()["requests"] == []
    citizen = await login("demo-citizen")
    assert (await decide(client, citizen, request_id, "approve")).status_code == 403
    assert (
        await client.get(f"/api/v1/admin/enterprise-authorisations/{request_id}", headers=citizen)
    ).status_code == 403
