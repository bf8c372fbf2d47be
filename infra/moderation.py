"""Content security for text users write (DESIGN.md §6): WeChat `wxa/msg_sec_check` v2."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING

from infra.errors import Invalid
from infra.wechat.client import WeChatError

if TYPE_CHECKING:  # models import the enum; keep them free of the runtime's imports
    from infra.runtime import Runtime

log = logging.getLogger(__name__)


class Moderation(StrEnum):
    PASSED = "pass"
    REVIEW = "review"  # held: only reviewers see the text until one has decided


async def moderate(rt: Runtime, openid: str, texts: dict[str, str], scene: int) -> Moderation:
    """`risky` is refused; `review`, or WeChat not answering, holds the text for a reviewer
    rather than losing what the user wrote."""
    verdict = Moderation.PASSED
    for field, text in texts.items():
        try:
            suggest = await rt.wechat.msg_sec_check(openid=openid, content=text, scene=scene)
        except WeChatError as exc:
            log.warning("msg_sec_check failed (%s): the text is held for a reviewer", exc)
            suggest = "review"
        if suggest == "risky":
            raise Invalid(
                "提交的内容含有不适宜发布的信息，请修改后重新提交",
                code="CONTENT_RISKY",
                fields={field: "内容未通过安全检测"},
            )
        if suggest == "review":
            verdict = Moderation.REVIEW
    return verdict
