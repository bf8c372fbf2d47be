"""The OpenAPI document's shared parts: the error body of API.md, the response bodies, the query
parameters, and `api_doc`, the one decorator every handler documents itself with.

Schemas are JSON Schema 2020-12 (the dialect of OpenAPI 3.1 and of pydantic's
`model_json_schema`). Objects name the fields a client may rely on and stay open
(`additionalProperties` is not closed): API.md lets fields be added freely. `finalise` turns the
document sanic-ext builds into the one served at /openapi.json: OpenAPI 3.1, the shared schemas
under components/schemas, and pydantic's nested `$defs` hoisted there with their references
rewritten, so every `$ref` resolves."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from sanic_ext import openapi
from sanic_ext.extensions.openapi.builders import OperationStore
from sanic_ext.extensions.openapi.definitions import Response
from sanic_ext.extensions.openapi.types import Schema

from credit.applications.models import ApplicationStatus
from scenarios.incentives.models import RedemptionStatus
from scenarios.merchants.models import ComplaintStatus, MerchantStatus

JSON = dict[str, Any]
Handler = TypeVar("Handler", bound=Callable[..., Any])

OPENAPI_VERSION = "3.1.0"
COMPONENTS = "#/components/schemas/"

# -- building blocks -------------------------------------------------------------------------

STR: JSON = {"type": "string"}
INT: JSON = {"type": "integer"}
NUM: JSON = {"type": "number"}
BOOL: JSON = {"type": "boolean"}
DATE: JSON = {"type": "string", "format": "date"}
DATETIME: JSON = {"type": "string", "format": "date-time"}
ANY_OBJECT: JSON = {"type": "object"}
BINARY: JSON = {"type": "string", "contentMediaType": "application/octet-stream"}


def ref(name: str) -> JSON:
    return {"$ref": COMPONENTS + name}


def nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


def enum(*values: str) -> JSON:
    return {"type": "string", "enum": list(values)}


def obj(required: Mapping[str, JSON], optional: Mapping[str, JSON] | None = None) -> JSON:
    """An object with these fields; `required` ones are always present (possibly null)."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def page(items: JSON, **extra: JSON) -> JSON:
    """API.md's list shape: {"items": [...], "next": "<cursor or null>"}."""
    return obj({"items": array(items), "next": nullable(STR), **extra})


# -- the shared schemas (components/schemas) --------------------------------------------------

SCHEMAS: dict[str, JSON] = {
    "Error": obj(
        {
            "error": obj(
                {"code": STR, "message": STR},
                {"fields": {"type": "object", "additionalProperties": STR}},
            )
        }
    ),
    "Level": obj(
        {"grade": enum("A", "B", "C", "D"), "score": INT, "label": STR, "colour": STR},
        {"ceiling": nullable(obj({"grade": STR, "record_id": INT, "reason": STR}))},
    ),
    "Factor": obj({"record_id": nullable(INT), "points": INT, "reason": STR}),
    "Record": obj(
        {
            "id": INT,
            "class": STR,
            "type": STR,
            "title": STR,
            "decided_on": nullable(DATE),
            "authority": nullable(STR),
            "status": STR,
            "publish_until": nullable(DATE),
        },
        {"repairable": BOOL, "published": BOOL, "severity": nullable(STR)},
    ),
    "Records": obj(
        {
            name: array(ref("Record"))
            for name in ("basic", "positive", "general_dishonesty", "serious_dishonesty", "risk")
        }
    ),
    "CreditView": obj(
        {
            "subject": obj({"kind": STR, "name": STR, "id_masked": nullable(STR)}),
            "level": ref("Level"),
            "factors": array(ref("Factor")),
            "records": ref("Records"),
            "as_of": STR,
        }
    ),
    "Application": obj(
        {
            "id": INT,
            "kind": STR,
            "status": enum(*ApplicationStatus),
            "status_label": STR,
            "created_at": DATETIME,
        },
        {
            "due_on": nullable(DATE),
            "history": array(obj({"at": DATETIME, "status": STR})),
            # while status is supplementing (补正): the applicant's deadline and the request
            "supplement": nullable(
                obj({"due_on": nullable(DATE), "note": nullable(STR), "days_left": nullable(INT)})
            ),
        },
    ),
    "ApplicationReceipt": obj(
        {"id": INT, "status": enum(*ApplicationStatus)}, {"due_on": nullable(DATE)}
    ),
    "Merchant": obj(
        {"id": INT, "name": STR, "status": enum(*MerchantStatus), "code": nullable(STR)},
        {
            "zone": obj({"id": STR, "name": STR}, {"name_mn": nullable(STR)}),
            "address": STR,
            "category": STR,
            "name_mn": nullable(STR),
            "name_mn_by": nullable(enum("merchant", "staff")),
        },
    ),
    "Complaint": obj(
        {
            "id": INT,
            "merchant_id": INT,
            "content": STR,
            "status": enum(*ComplaintStatus),
            "created_at": DATETIME,
        },
        {"attachments": array(INT), "reply": nullable(STR)},
    ),
    "Redemption": obj({"id": INT, "policy_id": STR, "status": enum(*RedemptionStatus)}),
    "Report": obj(
        {
            "from": DATE,
            "to": DATE,
            "venues": array(obj({"id": STR, "name": STR})),
            "redemptions": array(ANY_OBJECT),
            "credit_checks": array(ANY_OBJECT),
            "totals": obj(
                {"redemptions": INT, "offline": INT, "flagged": INT, "credit_checks": INT}
            ),
        }
    ),
    "Message": obj({"id": INT, "read": BOOL}),
}

# -- query and path parameters ----------------------------------------------------------------

# What a cursor is: the `next` of the page before (opaque to clients; digits today).
CURSOR: JSON = {
    "name": "cursor",
    "in": "query",
    "description": "上一页返回的 next（不传即第一页）",
    "schema": {"type": "string", "maxLength": 40},
}


def query(name: str, schema: JSON, description: str, *, required: bool = False) -> JSON:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "required": required,
        "schema": schema,
    }


def status_query(values: Iterable[str], description: str = "按状态筛选") -> JSON:
    return query("status", enum(*values), description)


APPLICATION_STATUS = status_query(ApplicationStatus)
MERCHANT_STATUS = status_query(MerchantStatus)
COMPLAINT_STATUS = status_query(ComplaintStatus, "按状态筛选（默认待处理）")
RENTAL_STATUS = status_query(RedemptionStatus)
DATE_RANGE = [
    query("from", DATE, "起始日期 YYYY-MM-DD（默认本月第一天）"),
    query("to", DATE, "截止日期 YYYY-MM-DD（默认今天）"),
]
SUBJECT_USCC = query(
    "subject_uscc",
    {"type": "string", "minLength": 18, "maxLength": 18},
    "经办企业的统一社会信用代码（不传即本人）",
)


def path(name: str, description: str, schema: JSON | None = None) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or STR,
    }


APPLICATION_ID = path("application_id", "申请编号")


# -- responses --------------------------------------------------------------------------------

ERROR_DESCRIPTIONS = {
    400: "请求格式有误（如不是有效的 JSON）",
    401: "未登录或登录已失效",
    403: "角色不符或不是本人的对象",
    404: "对象不存在",
    409: "状态冲突（如已办理、已核销、尚未实名）",
    413: "请求内容过大",
    422: "参数无效（fields 逐项说明）",
    429: "请求过于频繁（Retry-After 给出等待秒数）",
    503: "依赖服务暂时不可用（Retry-After 给出等待秒数）",
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "等待秒数"}}


def _error(status: int) -> Response:
    return Response(
        content={"application/json": {"schema": ref("Error")}},
        status=status,
        description=ERROR_DESCRIPTIONS[status],
    )


def api_doc(
    summary: str,
    tag: str,
    ok: JSON | None,
    *,
    status: int = 200,
    content_type: str | Sequence[str] = "application/json",
    description: str | None = None,
    secured: bool = False,
    body: type[BaseModel] | None = None,
    multipart: JSON | None = None,
    raw_body: Mapping[str, JSON] | None = None,
    params: Sequence[JSON] = (),
    errors: Iterable[int] = (),
    other: Mapping[int, tuple[str, JSON]] | None = None,
) -> Callable[[Handler], Handler]:
    """The OpenAPI definition of one operation: its success response (`ok`: the body's schema,
    None for an empty one), the errors it can answer with, its parameters, body (a pydantic
    model, a multipart form or other media types: `raw_body`) and security.

    The errors every operation of a kind can give are added here: 503 (database or cache down)
    always; 401 and 403 with a session; 400, 413 and 422 with a body; 422 with parameters (the one
    parser of ids, cursors and dates refuses bad ones); 404 with a path parameter. `errors` adds
    the operation's own (409, 429, ...); `other` documents a status whose body is not the error
    shape (status -> description, schema)."""
    arguments = dict(
        summary=summary, tag=tag, ok=ok, status=status, content_type=content_type,
        description=description, secured=secured, body=body, multipart=multipart,
        raw_body=raw_body, params=params, errors=errors, other=other,
    )  # fmt: skip

    def defer(handler: Handler) -> Handler:
        _UNDOCUMENTED.append((handler, arguments))
        return handler

    return defer


# Handlers whose definition is not built yet. sanic-ext's definition objects cost about 2.5 s of
# CPU per process start (its `Definition.guard` derives type hints per field), which only the
# served documentation needs: production serves none, and a worker starts in half the time.
_UNDOCUMENTED: list[tuple[Callable[..., Any], dict[str, Any]]] = []


def document_handlers() -> None:
    """Build the pending definitions into sanic-ext's operation store (once per process; an app
    that serves /openapi.json calls it before its spec is built at server start)."""
    pending = list(_UNDOCUMENTED)
    _UNDOCUMENTED.clear()
    store = OperationStore()
    for handler, arguments in pending:  # in the order of the handlers' modules
        wrapped = _definition(**arguments)(handler)
        if wrapped is not handler:  # `openapi.body` files the operation under a wrapper of its
            store[handler] = store.pop(wrapped)  # own; the route serves the handler itself


def _definition(
    summary: str,
    tag: str,
    ok: JSON | None,
    *,
    status: int,
    content_type: str | Sequence[str],
    description: str | None,
    secured: bool,
    body: type[BaseModel] | None,
    multipart: JSON | None,
    raw_body: Mapping[str, JSON] | None,
    params: Sequence[JSON],
    errors: Iterable[int],
    other: Mapping[int, tuple[str, JSON]] | None,
) -> Callable[[Handler], Handler]:
    statuses = {503, *errors}
    if secured:
        statuses |= {401, 403}
    if body is not None or multipart is not None or raw_body is not None:
        statuses |= {400, 413, 422}
    if params:
        statuses.add(422)
    if any(param["in"] == "path" for param in params):
        statuses.add(404)
    types = [content_type] if isinstance(content_type, str) else list(content_type)
    content = {name: {"schema": ok} for name in types} if ok is not None else None
    responses = [Response(content=content, status=status, description="成功")] + [
        _error(code) for code in sorted(statuses - set(other or {}))
    ]
    for code, (text, schema) in (other or {}).items():
        responses.append(
            Response(content={types[0]: {"schema": schema}}, status=code, description=text)
        )
    request_body: JSON | None = None
    if body is not None:
        request_body = {"application/json": {"schema": body.model_json_schema()}}
    elif multipart is not None:
        request_body = {"multipart/form-data": {"schema": multipart}}
    elif raw_body is not None:
        request_body = {name: {"schema": schema} for name, schema in raw_body.items()}
    return openapi.definition(
        summary=summary,
        description=description,
        tag=tag,
        body=request_body,
        parameter=[_parameter(param) for param in params] or None,
        response=responses,
        secured={"token": []} if secured else None,
    )


def _parameter(param: JSON) -> JSON:
    """sanic-ext's parameter arguments: the schema as it is (a dict would be read as a model)."""
    fields = {key: value for key, value in param.items() if key not in ("in", "schema")}
    return {**fields, "location": param["in"], "schema": Schema(**param["schema"])}


# -- the served document ----------------------------------------------------------------------


def finalise(spec: JSON) -> JSON:
    """OpenAPI 3.1 (pydantic's schemas are JSON Schema 2020-12: `"type": "null"`), the shared
    schemas in components, every nested `$defs` hoisted beside them. A name defined twice with
    different schemas is an error of the code, not of a request: it raises."""
    spec["openapi"] = OPENAPI_VERSION
    components: JSON = spec.setdefault("components", {})
    schemas: JSON = components.setdefault("schemas", {})
    schemas.update(SCHEMAS)
    spec["paths"] = _hoist(spec.get("paths", {}), schemas)
    for item in spec["paths"].values():
        for operation in item.values():
            _tidy_responses(operation.get("responses", {}))
    for name in list(schemas):
        schemas[name] = _hoist(schemas[name], schemas)
    return spec


def _tidy_responses(responses: JSON) -> None:
    """What sanic-ext's response objects cannot say: 204 has no body, and 429 / 503 carry
    Retry-After."""
    if "204" in responses:
        responses["204"].pop("content", None)
    for status in ("429", "503"):
        if status in responses and "error" in str(responses[status]).lower():
            responses[status]["headers"] = RETRY_AFTER


def _hoist(node: Any, schemas: JSON) -> Any:
    if isinstance(node, list):
        return [_hoist(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(ref_ := node.get("$ref"), str) and ref_.startswith("#/$defs/"):
        return {**node, "$ref": COMPONENTS + ref_.removeprefix("#/$defs/")}
    defs = node.get("$defs")
    out = {key: _hoist(value, schemas) for key, value in node.items() if key != "$defs"}
    if isinstance(defs, dict):
        for name, schema in defs.items():
            hoisted = _hoist(schema, schemas)
            if schemas.setdefault(name, hoisted) != hoisted:
                raise ValueError(f"two different OpenAPI schemas are named {name}")
    return out
