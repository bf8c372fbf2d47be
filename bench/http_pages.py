"""The newer pages in `bench http` (issue 16): the public lists (红黑榜, 双公示) as JSON and as H5
pages, no login; and a console queue page (the 政务失信 reports' queue, logged in as a reviewer
with a real console session). Not default targets: `--targets public,console`.

The public lists are cached per page in Redis for a few minutes: each request is the next of a
few pages of each list, all fetched once first (and again before every run, so none expires in
it). The console queue is rendered per request (two queries and the template); its session
comes from the login the console itself offers (a ticket confirmed from the mini-program by a
reviewer, then claimed with the ticket's cookie), and its reports are submitted through the API.
"""

from __future__ import annotations

import httpx

from bench.harness import report
from bench.harness.clients import bearer, call_each, login_all, settle
from bench.harness.database import Database
from bench.harness.processes import say
from bench.harness.session import Session
from bench.harness.wrk import PATHS_LUA

PUBLIC_LISTS = ("red-list", "black-list", "penalties", "licences")
PUBLIC_PAGES = 5  # the first pages of each list, following `next`
PUBLIC_API_TARGET = "service GET /api/v1/public/{list}"
PUBLIC_H5_TARGET = "service GET /public/{list} (H5)"
CONSOLE_PATH = "/console/integrity-reports"
CONSOLE_TARGET = f"service GET {CONSOLE_PATH}"
CONSOLE_OFFICIALS = 8  # bench users 1..N made reviewers, one console session each
CONSOLE_REPORTS = 30  # 政务失信 reports in the queue: a full first page (20) and a second
# The console's cookies in production: Secure, with the __Host- prefix.
SESSION_COOKIE = "__Host-console"
TICKET_COOKIE = "__Host-console-ticket"


async def public_paths(base: str) -> list[str]:
    """The first PUBLIC_PAGES pages of every list (following `next`); each list must have some
    entries, or the bench would measure empty pages."""
    paths: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        for name in PUBLIC_LISTS:
            path: str | None = f"/api/v1/public/{name}"
            for _ in range(PUBLIC_PAGES):
                if path is None:
                    break
                response = await client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
                body = response.json()
                if not body["items"]:
                    raise RuntimeError(f"{path}: the list is empty (bench/http_data.py)")
                paths.append(path)
                cursor = body["next"]
                path = f"/api/v1/public/{name}?cursor={cursor}" if cursor else None
    return paths


async def fetch_each(base: str, lines: list[str]) -> None:
    """GET every line of a paths file once ("<path>" or "<path>\\t<Header>: <value>"), 200s."""

    async def one(client: httpx.AsyncClient, n: int) -> None:
        path, _, header = lines[n].partition("\t")
        name, _, value = header.partition(": ")
        response = await client.get(path, headers={name: value} if header else None)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

    await call_each(base, len(lines), one, "pages", concurrency=8)


async def measure_public(s: Session) -> None:
    """The four lists' first pages, JSON then H5, each request the next page."""
    api = await public_paths(s.base)
    h5 = [path.removeprefix("/api/v1") for path in api]
    say(f"  public lists: {len(api)} pages of {', '.join(PUBLIC_LISTS)}")
    await _measure_pages(s, "public-api", PUBLIC_API_TARGET, api)
    await _measure_pages(s, "public-h5", PUBLIC_H5_TARGET, h5)


async def _measure_pages(s: Session, key: str, name: str, lines: list[str]) -> None:
    paths_file = s.write_lines(f"{key}_paths.txt", lines)

    async def refreshed() -> None:  # the cached pages live minutes: none expires in a run
        await fetch_each(s.base, lines)
        await settle(s.redis)

    await refreshed()
    await s.measure(
        key, name, s.base, paths_file, script=PATHS_LUA, warm=True, before_each=refreshed,
        goal=report.READ_GOAL,
    )  # fmt: skip


async def measure_console(s: Session, db: Database) -> None:
    """The 政务失信 queue page, each request with the next reviewer's console session."""
    await submit_reports(s.base, CONSOLE_REPORTS)
    async with db.connect() as conn:
        await conn.execute(
            """UPDATE app_user SET roles = '["citizen", "reviewer"]' WHERE id <= $1""",
            CONSOLE_OFFICIALS,
        )
    officials = await login_all(s.base, CONSOLE_OFFICIALS)  # the session carries the new role
    cookies = [await console_session(s.base, token) for token in officials]
    say(f"  console: {len(cookies)} reviewers' sessions, {CONSOLE_REPORTS} reports in the queue")
    lines = [f"{CONSOLE_PATH}\tCookie: {SESSION_COOKIE}={cookie}" for cookie in cookies]
    await _measure_pages(s, "console", CONSOLE_TARGET, lines)


async def submit_reports(base: str, count: int) -> None:
    """Anonymous 政务失信 reports through the API (held for a reviewer, as anonymous ones are)."""

    async def one(client: httpx.AsyncClient, n: int) -> None:
        response = await client.post(
            "/api/v1/integrity-reports",
            json={
                "anonymous": True, "agency_name": f"阿拉善盟某局{n % 7 + 1}",
                "category": "unpaid_contract",
                "promise": f"承诺的工程款第{n + 1}笔至今未按合同约定支付，多次催问无果。",
            },
        )  # fmt: skip
        if response.status_code != 201:
            raise RuntimeError(f"integrity report: {response.status_code} {response.text[:200]}")

    await call_each(base, count, one, "reports", concurrency=4)


def _cookie(response: httpx.Response, name: str) -> str:
    """A cookie's value from Set-Cookie, read by hand: the client speaks http and would not
    keep a Secure cookie."""
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    raise RuntimeError(f"no {name} cookie in the answer ({response.status_code})")


async def console_session(base: str, official: str) -> str:
    """The console's scan login: a ticket (its cookie), confirmed with the official's
    mini-program token, then claimed by the 'browser' holding the ticket cookie."""
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        ticket = await client.post("/api/v1/console-tickets")
        if ticket.status_code != 201:
            raise RuntimeError(f"console ticket: {ticket.status_code} {ticket.text[:200]}")
        ticket_cookie = _cookie(ticket, TICKET_COOKIE)
        confirmed = await client.post(
            f"/api/v1/console-tickets/{ticket.json()['id']}/confirm", headers=bearer(official)
        )
        if confirmed.status_code != 200:
            raise RuntimeError(f"confirm: {confirmed.status_code} {confirmed.text[:200]}")
        claimed = await client.get(
            "/console/login", headers={"Cookie": f"{TICKET_COOKIE}={ticket_cookie}"}
        )
        if claimed.status_code != 303:
            raise RuntimeError(f"console login: {claimed.status_code} {claimed.text[:200]}")
        return _cookie(claimed, SESSION_COOKIE)
