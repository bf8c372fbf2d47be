"""Content security for text users write (DESIGN.md §6): WeChat `wxa/msg_sec_check` v2."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING

from infra.errors import Invalid
from infra.wechat.client import MSG_SEC_CHECK_MAX_CHARS, WeChatError

if TYPE_CHECKING:  # models import the enum; keep them free of the runtime's imports
    from infra.runtime import Runtime

log = logging.getLogger(__name__)

# A text longer than msg_sec_check takes is checked in parts that overlap by this much, so a
# word cut at a boundary is still seen whole by one of them.
PART_OVERLAP = 50
# WeChat cannot judge the text for this user now: 61010 no visit of the mini-program in the last
# two hours, 43104 the openid is not of this appid. Held for a reviewer, like WeChat being down.
NO_VERDICT_ERRCODES = {61010: "no visit within 2 hours", 43104: "openid not of this appid"}


class Moderation(StrEnum):
    PASSED = "pass"
    REVIEW = "review"  # held: only reviewers see the text until one has decided


def parts(text: str, size: int = MSG_SEC_CHECK_MAX_CHARS, overlap: int = PART_OVERLAP) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, each overlapping the one before."""
    if len(text) <= size:
        return [text]
    step = size - overlap
    return [text[start : start + size] for start in range(0, len(text) - overlap, step)]


async def moderate(rt: Runtime, openid: str, texts: dict[str, str], scene: int) -> Moderation:
    """`risky` is refused; `review`, or WeChat not answering (down, past the request's deadline,
    or unable to judge this user's text now), holds the text for a reviewer rather than losing
    what the user wrote. Every check of one call shares one deadline."""
    verdict = Moderation.PASSED
    async with rt.wechat.deadline():
        for field, text in texts.items():
            for part in parts(text):
                suggest = await _check(rt, openid, part, scene)
                if suggest == "risky":
                    raise Invalid(
                        "提交的内容含有不适宜发布的信息，请修改后重新提交",
                        code="CONTENT_RISKY",
                        fields={field: "内容未通过安全检测"},
                    )
                if suggest == "review":
                    verdict = Moderation.REVIEW
    return verdict


async def _check(rt: Runtime, openid: str, text: str, scene: int) -> str:
    try:
        return await rt.wechat.msg_sec_check(openid=openid, content=text, scene=scene)
    except WeChatError as exc:
        reason = NO_VERDICT_ERRCODES.get(exc.errcode, "WeChat did not judge it")
        log.warning("msg_sec_check failed (%s; %s): the text is held for a reviewer", exc, reason)
        return "review"
