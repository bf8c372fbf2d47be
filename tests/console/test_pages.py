"""The other console pages (issue 14 item 2): merchant applications and suspension, complaints,
venue staff (today's redemptions, scan history, the offline bundle, rentals) and the admin's
staff assignment and user roles, each with the API's roles and object checks."""

from __future__ import annotations

from infra.models import User
from scenarios.incentives.demo import DEMO_SCENIC_AREA
from scenarios.merchants.models import Merchant
from tests.console.test_login import csrf_of, scan_login
from tests.helpers import unique_code


async def test_merchant_pages_suspend_and_reinstate(browser, client, login):
    await scan_login(browser, client, login, "demo-reviewer")
    page = await browser.get("/console/merchants?status=active")
    assert page.status_code == 200
    # A demo shop: its operator is proven, so it can be reinstated (other tests' shops may not be).
    operator = await User.get(openid="demo-openid-merchant")
    merchant = (
        await Merchant.filter(status="active", operator_id=operator.id).order_by("-id").first()
    )
    assert f'data-id="{merchant.id}"' in page.text
    path = f"/console/merchants/{merchant.id}/decision"
    csrf = csrf_of(page.text)
    no_note = await browser.post(path, data={"csrf": csrf, "decision": "suspend"})
    assert no_note.status_code == 422
    done = await browser.post(path, data={"csrf": csrf, "decision": "suspend", "note": "核查中"})
    assert done.status_code == 303
    assert (await Merchant.get(id=merchant.id)).status == "suspended"
    back = await browser.post(path, data={"csrf": csrf, "decision": "reinstate"})
    assert back.status_code == 303
    assert (await Merchant.get(id=merchant.id)).status == "active"
    wrong = await browser.post(path, data={"csrf": csrf, "decision": "approve"})
    assert wrong.status_code == 409
    assert (await browser.get("/console/complaints")).status_code == 200
    assert (await browser.get("/console/complaints?status=nope")).status_code == 422


async def test_venue_staff_pages(browser, client, login):
    await scan_login(browser, client, login, "demo-staff")
    listed = await browser.get("/console/venues")
    assert listed.status_code == 200 and f"/console/venues/{DEMO_SCENIC_AREA}" in listed.text
    page = await browser.get(f"/console/venues/{DEMO_SCENIC_AREA}")
    assert page.status_code == 200 and "今日核销" in page.text and "扫码记录" in page.text
    bundle = await browser.get(f"/console/venues/{DEMO_SCENIC_AREA}/offline-bundle.json")
    assert bundle.status_code == 200
    assert bundle.headers["content-disposition"].startswith("attachment;")
    assert bundle.json()["venue"]["id"] == DEMO_SCENIC_AREA and bundle.json()["keys"]
    # another venue's pages: 403, as in the API
    assert (await browser.get("/console/venues/bayan-hotel")).status_code == 403
    assert (await browser.get("/console/venues/bayan-hotel/offline-bundle.json")).status_code == 403
    assert (await browser.get("/console/venues/nowhere")).status_code == 404
    # and the reviewers' and admins' pages
    assert (await browser.get("/console/merchants")).status_code == 403
    assert (await browser.get("/console/admin/staff")).status_code == 403


async def test_admin_assigns_staff_and_roles(browser, client, login):
    newcomer = unique_code("official")
    await login(newcomer)
    user = await User.get(openid=newcomer.replace("demo-", "demo-openid-", 1))
    await scan_login(browser, client, login, "demo-admin")
    page = await browser.get("/console/admin/staff")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    done = await browser.post(
        "/console/admin/staff",
        data={"csrf": csrf, "venue_id": "bayan-hotel", "user_id": str(user.id), "action": "assign"},
    )
    assert done.status_code == 303
    assert "venue_staff" in (await User.get(id=user.id)).roles
    assert f"用户 {user.id}" in (await browser.get("/console/admin/staff")).text
    unknown = await browser.post(
        "/console/admin/staff",
        data={"csrf": csrf, "venue_id": "bayan-hotel", "user_id": "abc", "action": "assign"},
    )
    assert unknown.status_code == 404

    roles = await browser.get(f"/console/admin/users?user_id={user.id}")
    assert roles.status_code == 200 and 'id="grant-reviewer"' in roles.text
    granted = await browser.post(
        "/console/admin/users",
        data={"csrf": csrf, "user_id": str(user.id), "role": "reviewer", "action": "grant"},
    )
    assert granted.status_code == 303
    assert "reviewer" in (await User.get(id=user.id)).roles
    bad_role = await browser.post(
        "/console/admin/users",
        data={"csrf": csrf, "user_id": str(user.id), "role": "merchant", "action": "grant"},
    )
    assert bad_role.status_code == 422
    me = await browser.get("/console")
    own_id = int(me.text.split('id="who">用户 ', 1)[1].split(" ", 1)[0])
    own = await browser.post(
        "/console/admin/users",
        data={"csrf": csrf, "user_id": str(own_id), "role": "admin", "action": "revoke"},
    )
    assert own.status_code == 409
    revoked = await browser.post(
        "/console/admin/users",
        data={"csrf": csrf, "user_id": str(user.id), "role": "reviewer", "action": "revoke"},
    )
    assert revoked.status_code == 303
    assert "reviewer" not in (await User.get(id=user.id)).roles
