"""The served OpenAPI document is honest (issue 12 item 8): every operation documents its success
and error responses with schemas, its parameters, bodies and security, every `$ref` resolves, and
schemathesis's conformance checks hold for every operation as each demo role.

Schemathesis generates the cases (a fixed seed, a few per operation); they are sent through the
suite's own ASGI client (the `app` fixture, one event loop with the database and the cache), and
each response is checked against the document: no 5xx, a documented status, content type,
headers and body schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ROLES = ["demo-citizen", "demo-merchant", "demo-staff", "demo-reviewer", "demo-admin"]
EXAMPLES_PER_OPERATION = 3
# Operations the run leaves alone: logging out and withdrawing the identity would end the token
# and unbind the demo citizen; the admin's staff assignments and merchant decisions would change
# the demo users' roles and the demo shops that other tests read.
EXCLUDED = {
    "POST /api/v1/auth/logout",
    "DELETE /api/v1/me/identity",
    "POST /api/v1/admin/venues/{venue_id}/staff",
    "DELETE /api/v1/admin/venues/{venue_id}/staff/{user_id}",
    "POST /api/v1/admin/merchants/{merchant_id}/decision",
}


@pytest.fixture(scope="module")
async def document(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict[str, Any]):  # type: ignore[no-untyped-def]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


async def test_every_reference_resolves_and_no_defs_are_left(document) -> None:  # type: ignore[no-untyped-def]
    assert document["openapi"] == "3.1.0"
    text = json.dumps(document)
    assert "$defs" not in text
    refs = _refs(document)
    assert "#/components/schemas/SyncItem" in refs  # pydantic's nested models, hoisted
    for ref in refs:
        assert _resolve(document, ref), ref


async def test_every_operation_documents_responses_parameters_and_security(document) -> None:  # type: ignore[no-untyped-def]
    for name, operation in _operations(document):
        responses = operation["responses"]
        assert "default" not in responses, name
        success = [code for code in responses if code.startswith("2")]
        assert success, name
        for code in success:
            if code != "204":
                assert responses[code]["content"], (name, code)
        errors = [code for code in responses if code[0] in "45"]
        assert "503" in errors, name
        for code in errors:
            for media in responses[code]["content"].values():
                assert media["schema"], (name, code)
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), name
        path_names = {part[1:-1] for part in name.split(" ", 1)[1].split("/") if "{" in part}
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert path_names == documented, name
    paths = document["paths"]
    error = {"$ref": "#/components/schemas/Error"}
    assert paths["/api/v1/me/credit"]["get"]["responses"]["409"]["content"] == {
        "application/json": {"schema": error}
    }
    assert paths["/api/v1/me/credit"]["get"]["security"] == [{"token": []}]
    assert "security" not in paths["/api/v1/subjects/{uscc}"]["get"]
    assert paths["/api/v1/me/credit-code/qr.png"]["get"]["security"] == [{"token": []}]
    upload = paths["/api/v1/uploads"]["post"]
    assert upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["file"]
    assert "201" in upload["responses"]
    queue = {p["name"] for p in paths["/api/v1/admin/repairs"]["get"]["parameters"]}
    assert queue == {"status", "overdue", "moderation", "cursor"}
    report = {p["name"] for p in paths["/api/v1/venues/{venue_id}/report"]["get"]["parameters"]}
    assert report == {"venue_id", "from", "to"}
    search = paths["/api/v1/subjects"]["get"]["parameters"]
    assert {p["name"]: p.get("required", False) for p in search} == {"q": True, "cursor": False}
    assert set(paths["/api/v1/registrations"]["get"]["responses"]) >= {"200", "401", "403"}


def _cases(schema: schemathesis.schemas.BaseSchema) -> list[tuple[str, Any]]:
    """A few positive cases of every operation, the same on every run."""
    cases: list[tuple[str, Any]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in EXCLUDED:
            continue
        drawn: list[Any] = []

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def collect(case: Any) -> None:
            drawn.append(case)  # run at once, in this iteration

        collect()
        cases.extend((label, case) for case in drawn)
    return cases


async def _send(client, case, token: str):  # type: ignore[no-untyped-def]
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}
    extra: dict[str, Any] = {}
    if "json" in kwargs:
        extra["json"] = kwargs["json"]
    if "files" in kwargs:
        extra["files"] = kwargs["files"]
        headers.pop("Content-Type", None)
    if kwargs.get("data") is not None:
        data = kwargs["data"]
        if isinstance(data, bytes | str):
            extra["content"] = data
        else:
            extra["data"] = data
    request = client.build_request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        cookies=kwargs.get("cookies"),
        **extra,
    )
    request.read()  # a multipart body too, so the checks can read what was sent
    return await client.send(request)


async def test_schemathesis_conformance_as_every_demo_role(client, document) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_dict(document)
    cases = _cases(schema)
    assert len({label for label, _ in cases}) >= 80
    tokens = {}
    for role in ROLES:
        login = await client.post("/api/v1/auth/wechat-login", json={"code": role})
        assert login.status_code == 200, login.text
        tokens[role] = login.json()["token"]
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for role, token in tokens.items():
        for label, case in cases:
            response = await _send(client, case, token)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            documented = document["paths"][case.operation.path][case.method.lower()]["responses"]
            if str(response.status_code) not in documented:  # a bare "default" checks nothing
                failures.append(f"{role} {label} → {response.status_code}: not documented")
                continue
            try:
                case.validate_response(response, checks=CHECKS)
            except BaseExceptionGroup as exc:  # every failure at once, not the first
                failures.append(f"{role} {label} → {response.status_code}: {exc}"[:1500])
    assert not failures, "\n\n".join(failures[:60]) + f"\n\n({len(failures)} failures)"
    assert not any(code >= 500 for code in statuses), statuses
    assert statuses.get(200, 0) > 100  # the run reached real answers, not only refusals
