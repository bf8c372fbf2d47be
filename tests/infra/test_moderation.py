"""Content security (infra/moderation.py) against the strict fake WeChat: long text in parts,
users WeChat cannot judge now, and WeChat too slow for the request's deadline."""

from __future__ import annotations

import asyncio

import pytest

from infra.errors import Invalid
from infra.moderation import Moderation, moderate, parts
from tests.helpers import unique_code

MSG_SEC_CHECK = "/wxa/msg_sec_check"


@pytest.fixture
def visitor(fake_wechat) -> str:  # type: ignore[no-untyped-def]
    """An openid that opened the mini-program just now."""
    openid = f"o-{unique_code()}"
    fake_wechat.record_visit(openid)
    return openid


def test_parts_cover_the_text_and_overlap() -> None:
    text = "".join(chr(0x4E00 + i % 500) for i in range(6000))
    pieces = parts(text)
    assert [len(p) for p in pieces] == [2500, 2500, 1100]
    assert pieces[0][-50:] == pieces[1][:50] and pieces[1][-50:] == pieces[2][:50]
    assert parts("短文本") == ["短文本"]
    assert parts("好" * 2500) == ["好" * 2500]


async def test_text_over_2500_characters_is_checked_in_parts(runtime, fake_wechat, visitor):
    before = len(fake_wechat.calls_to(MSG_SEC_CHECK))
    verdict = await moderate(runtime, visitor, {"content": "好" * 6000}, 2)
    assert verdict == Moderation.PASSED
    sent = fake_wechat.calls_to(MSG_SEC_CHECK)[before:]
    assert [len(call["content"]) for call in sent] == [2500, 2500, 1100]


async def test_a_word_cut_by_a_part_boundary_is_still_caught(runtime, fake_wechat, visitor):
    text = "好" * 2499 + "违禁" + "好" * 3000  # 违 is the 2500th character, 禁 the 2501st
    with pytest.raises(Invalid) as exc_info:
        await moderate(runtime, visitor, {"reason": text}, 3)
    assert exc_info.value.code == "CONTENT_RISKY" and exc_info.value.fields == {
        "reason": "内容未通过安全检测"
    }


async def test_openid_of_no_recent_visit_or_not_of_this_app_is_held(runtime, fake_wechat):
    # Never seen by WeChat for this appid: 43104.
    stranger = f"o-{unique_code()}"
    assert await moderate(runtime, stranger, {"content": "正常内容"}, 2) == Moderation.REVIEW
    assert fake_wechat.calls_to(MSG_SEC_CHECK)[-1]["openid"] == stranger
    # No visit in the last two hours: 61010 (the fake's clock is shared, so the answer is set).
    fake_wechat.fail_next(MSG_SEC_CHECK, 61010)
    openid = f"o-{unique_code()}"
    fake_wechat.record_visit(openid)
    assert await moderate(runtime, openid, {"content": "正常内容"}, 2) == Moderation.REVIEW


async def test_wechat_slower_than_the_deadline_holds_the_text_without_hanging(
    runtime, fake_wechat, visitor, monkeypatch
):
    monkeypatch.setattr(runtime.wechat, "_deadline_seconds", 1.0)  # below the 2 s timeout
    before = len(fake_wechat.calls_to(MSG_SEC_CHECK))
    fake_wechat.delay_next(MSG_SEC_CHECK, 4.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    verdict = await moderate(runtime, visitor, {"title": "标题", "content": "内容"}, 3)
    assert verdict == Moderation.REVIEW
    assert loop.time() - began < 1.5
    # The first check ran into the deadline; the second was not even sent.
    assert len(fake_wechat.calls_to(MSG_SEC_CHECK)) == before + 1
