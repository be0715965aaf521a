"""The JSON error answer of the query APIs: one entry per field, with the value and the fix."""

from __future__ import annotations

from starlette.responses import JSONResponse

from core.errors import InputError


def errors_response(errors: list[InputError], status: int = 400) -> JSONResponse:
    return JSONResponse({"errors": [{"field": e.field, "value": e.value, "message": e.message} for e in errors]},
                        status_code=status)
