"""`GET /api/v1/me`: the caller's account with the shops they run and the venues they staff.

It lives at the top of the domain because it gathers from every part of it: the account and
identity from credit/, the merchants and venues from scenarios/."""

from __future__ import annotations

from typing import Any

from credit.accounts import account
from infra.runtime import Runtime
from infra.security.sessions import Session
from scenarios.incentives.staff import venues_of_user
from scenarios.merchants.service import my_merchants


async def my_profile(rt: Runtime, session: Session) -> dict[str, Any]:
    return await account(rt, session) | {
        "merchants": await my_merchants(session),
        "venues": await venues_of_user(session.user_id),
    }
