"""Object ids from URLs (infra/params.py `path_id`): anything but ASCII digits names no object, a
404 in the API's error shape, never a 500 from int() (`str.isdigit` also takes "²", "①", "١٢")."""

from __future__ import annotations

import pytest

from infra.errors import NotFound
from infra.params import path_id
from tests.helpers import unique_code

OTHER_DIGITS = ["²", "①", "١٢"]


def test_path_id_refuses_other_digits_with_a_404():
    for value in OTHER_DIGITS:
        with pytest.raises(NotFound) as refused:
            path_id(value, "申请不存在", "APPLICATION_NOT_FOUND")
        assert refused.value.status == 404 and refused.value.code == "APPLICATION_NOT_FOUND"
    assert path_id("12", "申请不存在", "APPLICATION_NOT_FOUND") == 12


async def test_a_registration_path_of_other_digits_is_a_404(client, login):
    # Sanic hands the handler the path segment still percent-encoded ("%C2%B2"), and refuses a
    # request line with raw non-ASCII bytes, so over HTTP these never reach int() today; the
    # test above is the one that holds path_id to its rule.
    headers = await login(unique_code())
    for application_id in OTHER_DIGITS:
        response = await client.get(f"/api/v1/registrations/{application_id}", headers=headers)
        assert response.status_code == 404, (application_id, response.text)
        assert response.json()["error"]["code"] == "APPLICATION_NOT_FOUND"
