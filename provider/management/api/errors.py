"""Management API errors in Auth0's shape: {"statusCode", "error", "message"}."""

from __future__ import annotations

from http import HTTPStatus

from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store"}


class ApiProblem(Exception):
    def __init__(self, status: int, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code

    def response(self) -> JSONResponse:
        body: dict[str, object] = {
            "statusCode": self.status,
            "error": HTTPStatus(self.status).phrase,
            "message": self.message,
        }
        if self.error_code:
            body["errorCode"] = self.error_code
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="management-api"'
        return JSONResponse(body, status_code=self.status, headers=headers)
