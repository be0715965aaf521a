"""POST /api/v1/reports: automated clients send reports (one object, a list, a GeoJSON FeatureCollection).

The body goes through the same validation as files and the site's form
(ingest.submit -> ingest.loader.load_frame), with the same abuse checks and
hourly rate limits. See docs/API.md for every field and status code.
"""

from __future__ import annotations

import asyncio
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api import _budget, _tcp
from api._errors import problem, unavailable
from core import settings
from core.city import load_city
from core.errors import DropMapError, InputError, StoreError, UnreadableFileError
from core.network import client_address
from ingest.abuse import RateLimitedError
from ingest.fields import FIELD_ALIASES, UNENCODABLE, unencodable_field
from ingest.readers import records_from_json, records_to_columns
from ingest.submit import start_submission
from store.db import open_shared_connection, shared_connection
from store.limits import uses_shared_counters

_tcp.enable()  # before the server accepts connections: see api/_tcp.py

JSON_TYPES = ("application/json", "application/geo+json")
CODE_HEADER = "x-reporter-code"
INLINE_RECORDS = 8  # records turned into fields on the event loop; more go to a worker thread


class _TooLarge(Exception):
    pass


class _TooManyValues(Exception):
    pass


async def _read_body(request: Request, limit: int, max_values: int | None = None) -> bytes:
    """The body, refused as soon as it passes ``limit`` bytes (whatever Content-Length claimed) or
    ``max_values`` JSON values (see ``_values_bound``), counted chunk by chunk as it arrives."""
    body = bytearray()
    values = 0
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _TooLarge
        if max_values is not None:
            values += _values_bound(chunk)
            if values > max_values:
                raise _TooManyValues
    return bytes(body)


def _values_bound(data: bytes) -> int:
    """An upper bound on the JSON values ``data`` adds: every value but the first follows a ``,`` or
    opens with ``[``/``{`` (those inside strings count too, hence a bound). C-speed: ~1 ms a megabyte."""
    return data.count(b",") + data.count(b"[") + data.count(b"{")


def client_ip(request: Request) -> str | None:
    """The client's address (see core.network.client_address for X-Forwarded-For)."""
    return client_address(request.client.host if request.client else None, request.headers.get("x-forwarded-for"))


MAX_DEPTH = 16  # a report is at most 5 levels deep (a FeatureCollection's coordinates)
VALUES_PER_ITEM = 64  # structural characters allowed per report before a body is parsed


# An address over its budget waits this long for its 429 (asyncio.sleep: no CPU, no thread), so a
# client that retries at once in a loop sends one request a second instead of hundreds.
TARPIT_SECONDS = 1.0


class _Refused(Exception):
    """A body refused before any report in it is looked at: the answer to send (after ``delay`` s)."""

    def __init__(self, response: JSONResponse, delay: float = 0.0) -> None:
        self.response = response
        self.delay = delay


def _refuse(status: int, message: str, *, field: str | None = "(body)", value=None, headers=None) -> _Refused:
    return _Refused(problem(status, message, field=field, value=value, headers=headers))


def _over_budget(e: _budget.BudgetExceeded) -> _Refused:
    # Connection: close, since the body may be unread: the server drops it instead of reading it.
    return _Refused(problem(429, str(e), headers={"Retry-After": str(e.retry_after), "Connection": "close"}),
                    delay=TARPIT_SECONDS)


async def _records(request: Request, ip: str | None) -> list[dict]:
    """The report objects of the request; raises _Refused with the answer that refuses it.

    Order matters (issue 11): the address's request budget is charged before anything is read,
    its byte budget before the body is parsed, and the parse runs in a worker thread after a
    cheap bound on its work (``_parse``), so no body holds the event loop.
    """
    try:
        await _budget.spend(_budget.charge_request, ip)
    except _budget.BudgetExceeded as e:
        raise _over_budget(e) from None
    except StoreError as e:  # a shared store's counters cannot be reached: nor can the reports be stored
        raise _Refused(unavailable(e)) from None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise _refuse(415, "send JSON: Content-Type: application/json (or application/geo+json)",
                      field="Content-Type", value=content_type or None)
    limit = settings.get_int("DROPMAP_MAX_BODY_BYTES")
    too_large = f"body larger than {limit} bytes; send fewer reports per request"
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise _refuse(400, "Content-Length must be a number of bytes", field="Content-Length", value=declared)
    if declared is not None and int(declared) > limit:
        raise _refuse(413, too_large, field=None, headers={"Connection": "close"})
    try:
        if declared is not None:
            await _budget.spend(_budget.charge_bytes, ip, int(declared))
        body = await _read_body(request, limit, _max_values())
        if declared is None:
            await _budget.spend(_budget.charge_bytes, ip, len(body))
    except _TooLarge:
        raise _refuse(413, too_large, field=None, headers={"Connection": "close"}) from None
    except _TooManyValues:  # the rest of the body is not read
        raise _refuse(413, _too_many(), headers={"Connection": "close"}) from None
    except _budget.BudgetExceeded as e:
        raise _over_budget(e) from None
    except StoreError as e:
        raise _Refused(unavailable(e)) from None
    return await run_in_threadpool(_parse, body)


def _max_values() -> int:
    return settings.get_int("DROPMAP_MAX_ITEMS") * VALUES_PER_ITEM


def _too_many() -> str:
    items = settings.get_int("DROPMAP_MAX_ITEMS")
    return f"more than {items} reports in one request (DROPMAP_MAX_ITEMS); send them in smaller requests"


def _parse(body: bytes) -> list[dict]:
    """The records of a body (run in a worker thread); raises _Refused.

    ``json.loads`` holds the interpreter lock until it returns, so a worker thread alone would
    not keep the event loop free: a 4.8 MB ``[[],[],...]`` takes half a second to parse. The
    body was bounded while it was read (``_values_bound``: at most VALUES_PER_ITEM values per
    allowed report), so the parse is bounded before it starts.
    """
    if _values_bound(body) > _max_values():  # bodies that did not come through _read_body
        raise _refuse(413, _too_many())
    try:
        doc = json.loads(body)
    except RecursionError:
        raise _refuse(400, f"JSON nested deeper than {MAX_DEPTH} levels; a report is a flat object") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _refuse(400, f"not valid JSON: {e}") from None
    if _depth_over(doc, MAX_DEPTH):
        raise _refuse(400, f"JSON nested deeper than {MAX_DEPTH} levels; a report is a flat object")
    try:
        records, _ = records_from_json(doc)
    except UnreadableFileError as e:
        raise _refuse(400, str(e)) from None
    if not records:
        raise _refuse(400, "no reports in the body: send one report object, a list or a FeatureCollection")
    if len(records) > settings.get_int("DROPMAP_MAX_ITEMS"):
        raise _refuse(413, _too_many())
    for row, record in enumerate(records, start=1):
        bad = unencodable_field(record)
        if bad:
            field, value = bad
            raise _Refused(problem(400, UNENCODABLE, row=row, field=field, value=value))
    return records


def _depth_over(doc, limit: int) -> bool:
    """Whether ``doc`` nests lists and objects more than ``limit`` levels deep (no recursion)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return False


async def post_reports(request: Request) -> JSONResponse:
    ip = client_ip(request)
    try:
        records = await _records(request, ip)
    except _Refused as refused:
        if refused.delay:
            await asyncio.sleep(refused.delay)
        return refused.response
    try:
        result = await _submit(records, reporter_code=request.headers.get(CODE_HEADER), ip=ip)
    except RateLimitedError as e:
        return problem(429, str(e), headers={"Retry-After": str(e.retry_after)})
    except InputError as e:
        return problem(400, e.message, field=e.field, value=e.value)
    except StoreError as e:
        return unavailable(e)
    except DropMapError as e:
        return problem(500, str(e))
    return _answer(result)


async def _submit(records: list[dict], *, reporter_code: str | None, ip: str | None):
    """Queue the records for the report writer (ingest.submit) and wait for its answer.

    A few records are turned into fields right here (a fraction of a millisecond each); more,
    and opening the database the first time, go to a worker thread, so the event loop stays
    free for other requests and the site's pages.
    """
    con = open_shared_connection() or await run_in_threadpool(shared_connection)
    if len(records) <= INLINE_RECORDS:
        fields = records_to_columns(records)[0]
    else:
        fields = await run_in_threadpool(lambda: records_to_columns(records)[0])
    def start():
        return start_submission(con, fields, source="api", reporter_code=reporter_code, ip=ip, rows=len(records),
                                text_checked=True)  # see _parse

    # The report quota is charged as the submission starts: in a worker thread when it is counted in the shared
    # store (a round trip to PostgreSQL), not on the event loop.
    started = await run_in_threadpool(start) if uses_shared_counters() else start()
    return await asyncio.wrap_future(started)



def _answer(result) -> JSONResponse:
    body = {
        "accepted": result.accepted, "duplicates": result.duplicates, "rejected": result.rejected,
        "flagged": result.flagged, "ids": [r["id"] for r in result.reports], "reports": result.reports,
        "collapsed": result.collapsed, "errors": result.errors, "warnings": result.warnings,
    }
    if result.accepted:
        status = 201
    elif result.rejected:
        status = 400  # nothing valid: the errors say what to fix
    else:
        status = 200  # every report was already stored (a retry): nothing new, nothing wrong
    return JSONResponse(body, status_code=status)


ROUTES = [Route("/api/v1/reports", post_reports, methods=["POST"])]

_AREA = load_city().region  # the area reports may come from (ingest.validate refuses the rest)
_REPORT_SCHEMA = {
    "type": "object",
    "required": ["lat", "lon", "carrier", "kind", "observed_at"],
    "properties": {
        "lat": {"type": ["number", "string"], "minimum": _AREA.lat_min, "maximum": _AREA.lat_max,
                "description": "latitude, WGS84 decimal degrees (a number, or the same as text)"},
        "lon": {"type": ["number", "string"], "minimum": _AREA.lon_min, "maximum": _AREA.lon_max,
                "description": "longitude, WGS84 decimal degrees (a number, or the same as text)"},
        "carrier": {"type": "string", "description": "SKT, KT, LGU+, or an MVNO brand with its host network"},
        "kind": {"type": "string", "enum": ["dropped_call", "call_setup_failure", "no_service", "no_data",
                                            "slow_data", "sms_failure", "other", "ok"]},
        "observed_at": {"type": "string", "description": "ISO 8601; without an offset it means Seoul time"},
        "accuracy_m": {"type": ["number", "string"], "description": "location accuracy in metres, 0-10000"},
        "tech": {"type": "string", "description": "5G, LTE, 3G or unknown"},
        "device_model": {"type": "string", "maxLength": 80},
        "note": {"type": "string", "maxLength": 500, "description": "private: stored, never published"},
        "reporter_code": {"type": "string",
                          "description": "your private reporter code (or the X-Reporter-Code header), issued by "
                                         "POST /api/v1/codes; a self-chosen code is refused with 400"},
    },
    "description": "Aliases accepted: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in FIELD_ALIASES.items()),
}
_ERRORS_SCHEMA = {
    "type": "object",
    "properties": {"errors": {"type": "array", "items": {"type": "object", "properties": {
        "row": {"type": ["integer", "null"]}, "field": {"type": ["string", "null"]}, "value": {},
        "message": {"type": "string"}}}}},
}
_RESULT_SCHEMA = {
    "type": "object",
    "properties": {
        "accepted": {"type": "integer"}, "duplicates": {"type": "integer"}, "rejected": {"type": "integer"},
        "flagged": {"type": "integer"}, "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        "reports": {"type": "array", "items": {"type": "object"}}, "collapsed": {"type": "array"},
        "errors": _ERRORS_SCHEMA["properties"]["errors"], "warnings": {"type": "array"},
    },
}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


_PROPERTIES = {**_REPORT_SCHEMA, "required": ["carrier", "kind", "observed_at"],
               "properties": {k: v for k, v in _REPORT_SCHEMA["properties"].items() if k not in ("lat", "lon")}}
_FEATURE = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
    "type": {"const": "Feature"},
    "geometry": {"type": "object", "required": ["type", "coordinates"], "properties": {
        "type": {"const": "Point"},
        "coordinates": {"type": "array", "minItems": 2, "items": {"type": "number"}, "description": "[lon, lat]",
                        "prefixItems": [{"type": "number", "minimum": _AREA.lon_min, "maximum": _AREA.lon_max},
                                        {"type": "number", "minimum": _AREA.lat_min, "maximum": _AREA.lat_max}]}}},
    "properties": _PROPERTIES}}
# The body is read the same way whatever JSON media type it comes as (ingest.readers.records_from_json).
_BODY = {"anyOf": [
    _REPORT_SCHEMA,
    {"type": "array", "items": _REPORT_SCHEMA, "minItems": 1},
    {"type": "object", "required": ["type", "features"], "properties": {
        "type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": _FEATURE, "minItems": 1}}},
    _FEATURE,
]}


OPENAPI_PATHS = {
    "/api/v1/reports": {
        "post": {
            "summary": "Submit failure reports or 'all good' samples",
            "description": "One report object, a list of them, or a GeoJSON FeatureCollection of Points. "
                           "Rate-limited per reporter code, per client IP and per network prefix "
                           "(DROPMAP_RATE_PER_CODE, DROPMAP_RATE_PER_IP, DROPMAP_RATE_PER_PREFIX reports per "
                           "hour). The reporter code must be one the site issued (POST /api/v1/codes) or one "
                           "already in the store. See docs/API.md.",
            "parameters": [{"name": "X-Reporter-Code", "in": "header", "required": False,
                            "schema": {"type": "string"},
                            "description": "your private reporter code, from POST /api/v1/codes"}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _BODY}, "application/geo+json": {"schema": _BODY}}},
            "responses": {
                "201": {"description": "at least one report stored; ids in request order",
                        "content": _json(_RESULT_SCHEMA)},
                "200": {"description": "nothing new: every report was already stored",
                        "content": _json(_RESULT_SCHEMA)},
                "400": {"description": "no valid report; per-row, per-field errors; or the body is not JSON, nested "
                                       "deeper than 16 levels, carries two codes, a code the site did not issue, "
                                       "or text that is not valid Unicode. A well-formed report is "
                                       "still refused for what a schema cannot say: observed_at in the future "
                                       "or before the city's first day, a place outside the area covered, an "
                                       "unknown carrier, kind or tech spelling, a value that is not a number",
                        "content": _json(_RESULT_SCHEMA)},
                "413": {"description": "body larger than DROPMAP_MAX_BODY_BYTES, or more than DROPMAP_MAX_ITEMS "
                                       "reports", "content": _json(_ERRORS_SCHEMA)},
                "415": {"description": "Content-Type is not JSON", "content": _json(_ERRORS_SCHEMA)},
                "429": {"description": "rate limit or the address's request/byte budget reached; see the "
                                       "Retry-After header (seconds)", "content": _json(_ERRORS_SCHEMA)},
                "503": {"description": "the store is unavailable; see Retry-After", "content": _json(_ERRORS_SCHEMA)},
            },
        }
    }
}
