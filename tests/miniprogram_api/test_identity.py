"""Binding a real identity: consent, face verification, one person per user and vice versa."""

from __future__ import annotations

from stdnum.cn import ric

from credit.models import Consent, IdentityBinding, Subject
from tests.helpers import bind, fresh_id_number, start, unique_code


async def test_full_binding_flow_records_consent_and_masks(client, login, fake_wechat, cipher):
    headers = await login(unique_code())
    id_number = fresh_id_number()
    started = await start(client, headers, name="乌云其其格", id_number=id_number)
    assert started.status_code == 200
    verify_id = started.json()["verify_id"]
    sent = fake_wechat.calls_to("/cityservice/face/identify/getverifyid")[-1]
    assert sent["cert_info"]["cert_no"] == id_number  # what WeChat needs, server to server only

    bound = await client.post("/api/v1/me/identity", headers=headers, json={"verify_id": verify_id})
    assert bound.status_code == 200
    assert bound.json() == {
        "name_masked": "乌云***",
        "id_number_masked": id_number[:4] + "*" * 10 + id_number[-4:],
    }
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["identity_bound"] is True
    binding = await IdentityBinding.get(user_id=me["id"]).prefetch_related("subject", "consent")
    assert binding.subject.kind == "person"
    assert binding.subject.id_number_enc and id_number not in binding.subject.id_number_enc
    assert cipher.decrypt(binding.subject.id_number_enc, "subject.id_number") == id_number
    assert binding.consent.purpose == "identity_binding"
    assert binding.consent.text_version == "2026-01" and len(binding.consent.text_hash) == 64
    # The same session now reads its own credit without logging in again.
    credit = await client.get("/api/v1/me/credit", headers=headers)
    assert credit.status_code == 200
    assert credit.json()["subject"]["id_masked"] == bound.json()["id_number_masked"]


async def test_consent_is_required_and_recorded_separately(client, login):
    headers = await login(unique_code())
    for consent in (False, "true", 1, None):
        response = await start(client, headers, consent=consent)
        assert response.status_code == 422, consent
        assert "consent" in response.json()["error"]["fields"]
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert not await Consent.exists(user_id=me["id"])


async def test_invalid_id_numbers_and_names_are_422(client, login):
    headers = await login(unique_code())
    valid = fresh_id_number()
    wrong_check = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    impossible_birth = "152922" + "19880230" + "123"
    impossible_birth += ric.calc_check_digit(impossible_birth + "0")
    for id_number in (wrong_check, impossible_birth, "12345", "15292219880808123"):
        response = await start(client, headers, id_number=id_number)
        assert response.status_code == 422, id_number
        assert "id_number" in response.json()["error"]["fields"]
    response = await start(client, headers, name="Robert'); DROP TABLE")
    assert response.status_code == 422 and "name" in response.json()["error"]["fields"]


async def test_lower_case_x_is_accepted(client, login):
    # a serial whose check character is X, so the lower-case form is exercised
    id_number = next(
        f"15292219900101{serial:03d}X"
        for serial in range(500, 1000)
        if ric.calc_check_digit(f"15292219900101{serial:03d}0") == "X"
    )
    headers = await login(unique_code())
    bound = await bind(client, headers, id_number=id_number.lower())
    assert bound.status_code == 200
    assert bound.json()["id_number_masked"].endswith("X")


async def test_one_user_per_person(client, login):
    id_number = fresh_id_number()
    first = await login(unique_code())
    assert (await bind(client, first, id_number=id_number)).status_code == 200
    second = await login(unique_code())
    taken = await bind(client, second, id_number=id_number)
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "IDENTITY_TAKEN"
    assert await IdentityBinding.filter(subject__natural_key__startswith="id:").count() >= 1
    me = (await client.get("/api/v1/me", headers=second)).json()
    assert me["identity_bound"] is False


async def test_one_person_per_user(client, login):
    headers = await login(unique_code())
    assert (await bind(client, headers)).status_code == 200
    again = await start(client, headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "IDENTITY_ALREADY_BOUND"


async def test_face_verification_failure_binds_nothing(client, login):
    headers = await login(unique_code())
    id_number = fresh_id_number()
    response = await bind(client, headers, name="失败测试", id_number=id_number)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "FACE_VERIFY_FAILED"
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["identity_bound"] is False
    assert not await Subject.filter(name="失败测试").exists()


async def test_someone_elses_verify_id_is_refused(client, login):
    owner = await login(unique_code())
    started = await start(client, owner)
    thief = await login(unique_code())
    response = await client.post(
        "/api/v1/me/identity", headers=thief, json={"verify_id": started.json()["verify_id"]}
    )
    assert response.status_code == 403
    unknown = await client.post(
        "/api/v1/me/identity", headers=thief, json={"verify_id": "no-such-verify-id"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "VERIFY_SESSION_UNKNOWN"


async def test_identity_endpoints_need_login(client):
    assert (await start(client, {})).status_code == 401
    response = await client.post("/api/v1/me/identity", json={"verify_id": "x"})
    assert response.status_code == 401
