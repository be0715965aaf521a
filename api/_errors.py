"""The JSON error answer of the query APIs: one entry per field, with the value and the fix."""

from __future__ import annotations

from starlette.responses import JSONResponse

from core.errors import InputError, StoreError
from store.read import unavailable_body


def problem(status: int, message: str, *, field: str | None = None, value=None, row: int | None = None,
            headers: dict | None = None) -> JSONResponse:
    """One error in the API's one body shape: ``{"errors": [{"row", "field", "value", "message"}]}``."""
    return JSONResponse({"errors": [{"row": row, "field": field, "value": value, "message": message}]},
                        status_code=status, headers=headers)


def unavailable(error: StoreError) -> JSONResponse:
    """503 with Retry-After for a store that failed or a read past its time limit (store.read.unavailable_body:
    plain words, never the database's path or a process id)."""
    body, status, headers = unavailable_body(error)
    return JSONResponse(body, status_code=status, headers=headers)


def errors_response(errors: list[InputError], status: int = 400) -> JSONResponse:
    return JSONResponse({"errors": [{"field": e.field, "value": e.value, "message": e.message} for e in errors]},
                        status_code=status)
