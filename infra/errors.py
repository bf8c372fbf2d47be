"""API errors in the shape API.md fixes: {"error": {"code", "message"[, "fields"]}}.

Domain code raises these (they carry no Sanic objects); the app turns them into responses.
"""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "BAD_REQUEST"
    message = "请求有误"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


class BadRequest(ApiError):
    status, code, message = 400, "BAD_REQUEST", "请求有误"


class Unauthorized(ApiError):
    status, code, message = 401, "UNAUTHORIZED", "请先登录"


class Forbidden(ApiError):
    status, code, message = 403, "FORBIDDEN", "无权访问"


class NotFound(ApiError):
    status, code, message = 404, "NOT_FOUND", "未找到"


class Conflict(ApiError):
    status, code, message = 409, "CONFLICT", "状态冲突"


class Invalid(ApiError):
    status, code, message = 422, "INVALID_INPUT", "输入有误，请检查后重试"


class RateLimited(ApiError):
    status, code, message = 429, "RATE_LIMITED", "操作太频繁，请稍后再试"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(ApiError):
    status, code, message = 503, "SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后再试"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, retry_after: int | None = None
    ) -> None:
        """``retry_after``: when the client may try again (a Retry-After header), if known."""
        headers = {"Retry-After": str(max(1, retry_after))} if retry_after is not None else None
        super().__init__(message, code=code, headers=headers)
