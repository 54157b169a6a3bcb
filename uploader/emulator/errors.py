"""The emulator's error replies: the service's error shape, named by its error type.

An `ApiError` becomes a reply with the error type's HTTP status (from botocore's model,
see `routes`), the `x-amzn-ErrorType` header and a JSON body with `message` and the
shape's other members, which is what botocore parses into `ClientError`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from uploader.emulator import routes


class ApiError(Exception):
    """An error reply in the service's shape."""

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members

    def response(self) -> web.Response:
        body = {"message": self.message, **self.members}
        return web.json_response(
            body, status=routes.status_for(self.code), headers={"x-amzn-ErrorType": self.code}
        )


def invalid(message: str, reason: str = "FIELD_VALIDATION_FAILED") -> ApiError:
    return ApiError("ValidationException", message, reason=reason)
