"""Public pages without login (issue 13 items 3 and 5): the 红黑榜 and 双公示 lists, an agency's
政务诚信 page and the league summary, as JSON and as mobile H5 pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from credit import public_lists, public_pages
from credit.integrity import agencies
from infra.errors import Invalid, NotFound, RateLimited
from miniprogram_api.common import client_ip, h5_page, json_bytes, runtime
from miniprogram_api.openapi_schemas import (
    CURSOR,
    DATE,
    INT,
    STR,
    api_doc,
    array,
    enum,
    nullable,
    obj,
    page,
    path,
    query,
)

bp = Blueprint("public", url_prefix="/api/v1")
h5 = Blueprint("public_h5")

FILTER_NAMES = ("authority", "from", "to", "category", "keyword", "cursor")
LIST_ITEM = obj(
    {
        "id": INT,
        "type": STR,
        "title": STR,
        "subject": obj(
            {
                "name": STR,
                "kind": enum("enterprise", "individual_business"),
                "uscc": nullable(STR),
                "registration_no": nullable(STR),
            }
        ),
        "authority": STR,
        "document_no": STR,
        "decided_on": DATE,
        "publish_until": nullable(DATE),
        "status": STR,
        "details": {"type": "object", "additionalProperties": STR},
    },
    {"severity": nullable(STR), "severity_label": nullable(STR), "authority_uscc": nullable(STR)},
)
LIST_PAGE = page(LIST_ITEM, list=obj({"name": STR, "label": STR}), as_of=STR)
REPORT_COUNTS = obj({"open": INT, "concluded": INT, "concluded_on_time": INT, "not_accepted": INT})
AGENCY = obj({"name": STR, "uscc": nullable(STR)}, {"region": nullable(STR)})
AGENCY_VIEW = obj(
    {"agency": AGENCY, "records": array(obj({"id": INT, "title": STR})), "reports": REPORT_COUNTS}
)
SUMMARY = page(
    obj({"agency": AGENCY, "reports": REPORT_COUNTS, "records": INT}),
    unlisted_open_reports=INT,
)
USCC = path("uscc", "单位的统一社会信用代码")
SUMMARY_PARAMS = [
    query("q", {"type": "string", "maxLength": 60}, "单位名称或统一社会信用代码"),
    CURSOR,
]


def _filter_params(entry: public_lists.PublicList) -> list[dict[str, object]]:
    params: list[dict[str, object]] = [
        query("authority", {"type": "string", "maxLength": 100}, "决定机关名称或统一社会信用代码"),
        query("from", DATE, "决定日期起 YYYY-MM-DD"),
        query("to", DATE, "决定日期止 YYYY-MM-DD"),
        query("keyword", {"type": "string", "maxLength": 60}, "主体名称关键词或统一社会信用代码"),
        CURSOR,
    ]
    if entry.categories is not None:
        params.insert(
            3, query("category", enum(*entry.categories), "失信程度：general 一般，serious 严重")
        )
    return params


def _args(request: Request) -> dict[str, str | None]:
    return {name: request.args.get(name) for name in FILTER_NAMES}


async def _page_or_refusal(make: Callable[[], Awaitable[bytes]]) -> HTTPResponse:
    """An H5 page, or the page that says why not (422, 404, 429 with Retry-After)."""
    try:
        return h5_page(await make())
    except (Invalid, NotFound, RateLimited) as exc:
        page_bytes = public_pages.render_error(exc.message, exc.code, exc.fields).encode()
        return h5_page(page_bytes, status=exc.status, headers=exc.headers)


H5_ERRORS = {
    404: ("单位不存在（H5 提示页）", STR),
    422: ("筛选参数无效（H5 提示页，逐项说明）", STR),
    429: ("请求过于频繁（H5 提示页，Retry-After 给出等待秒数）", STR),
}


def _register(entry: public_lists.PublicList) -> None:
    async def api_list(request: Request) -> HTTPResponse:
        body = await public_lists.public_list_bytes(
            runtime(request), entry.name, _args(request), client=client_ip(request)
        )
        return json_bytes(body)

    async def h5_list(request: Request) -> HTTPResponse:
        return await _page_or_refusal(
            lambda: public_lists.public_list_bytes(
                runtime(request),
                entry.name,
                _args(request),
                client=client_ip(request),
                form="html",
                render=public_pages.render_list,
            )
        )

    params = _filter_params(entry)
    bp.add_route(
        api_doc(
            f"{entry.label}公示（无需登录；仅企业与个体工商户，不含自然人）",
            "public",
            LIST_PAGE,
            params=params,
            errors=(429,),
        )(api_list),
        f"/public/{entry.name}",
        methods=["GET"],
        name=f"public_{entry.name.replace('-', '_')}",
    )
    h5.add_route(
        api_doc(
            f"{entry.label}公示 H5 页面",
            "public",
            STR,
            content_type="text/html",
            params=params,
            other={code: H5_ERRORS[code] for code in (422, 429)},
        )(h5_list),
        f"/public/{entry.name}",
        methods=["GET"],
        name=f"public_h5_{entry.name.replace('-', '_')}",
    )


for _entry in public_lists.LISTS.values():
    _register(_entry)


@bp.get("/agencies/<uscc:str>")
@api_doc(
    "行政事业单位的政务诚信信息（公示中的政务失信记录、群众反映的办理情况）",
    "public",
    AGENCY_VIEW,
    params=[USCC],
    errors=(429,),
)
async def agency(request: Request, uscc: str) -> HTTPResponse:
    body = await agencies.agency_page_bytes(runtime(request), uscc, client=client_ip(request))
    return json_bytes(body)


@h5.get("/public/agencies/<uscc:str>")
@api_doc(
    "行政事业单位政务诚信 H5 页面", "public", STR, content_type="text/html", params=[USCC],
    other=H5_ERRORS,
)  # fmt: skip
async def agency_page(request: Request, uscc: str) -> HTTPResponse:
    return await _page_or_refusal(
        lambda: agencies.agency_page_bytes(
            runtime(request), uscc, client=client_ip(request), render=public_pages.render_agency
        )
    )


@bp.get("/public/integrity-summary")
@api_doc(
    "全盟政务诚信概况（每个单位：办理中的反映、已办结、按期办结、政务失信记录）",
    "public",
    SUMMARY,
    params=SUMMARY_PARAMS,
    errors=(429,),
)
async def integrity_summary(request: Request) -> HTTPResponse:
    body = await agencies.summary_bytes(
        runtime(request), request.args.get("q"), request.args.get("cursor"),
        client=client_ip(request),
    )  # fmt: skip
    return json_bytes(body)


@h5.get("/public/integrity")
@api_doc(
    "全盟政务诚信概况 H5 页面", "public", STR, content_type="text/html", params=SUMMARY_PARAMS,
    other={code: H5_ERRORS[code] for code in (422, 429)},
)  # fmt: skip
async def integrity_summary_page(request: Request) -> HTTPResponse:
    return await _page_or_refusal(
        lambda: agencies.summary_bytes(
            runtime(request),
            request.args.get("q"),
            request.args.get("cursor"),
            client=client_ip(request),
            render=public_pages.render_summary,
        )
    )
