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

from api import _tcp
from core import settings
from core.city import load_city
from core.errors import DropMapError, InputError, StoreError, UnreadableFileError
from ingest.abuse import RateLimitedError
from ingest.fields import FIELD_ALIASES
from ingest.readers import records_from_json, records_to_columns
from ingest.submit import client_address, start_submission
from store.db import open_shared_connection, shared_connection

_tcp.enable()  # before the server accepts connections: see api/_tcp.py

JSON_TYPES = ("application/json", "application/geo+json")
CODE_HEADER = "x-reporter-code"
INLINE_RECORDS = 8  # records turned into fields on the event loop; more go to a worker thread


def _problem(status: int, message: str, *, field: str | None = None, value=None, headers=None) -> JSONResponse:
    body = {"errors": [{"row": None, "field": field, "value": value, "message": message}]}
    return JSONResponse(body, status_code=status, headers=headers)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` bytes (whatever Content-Length claimed)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def client_ip(request: Request) -> str | None:
    """The client's address (see ingest.submit.client_address for X-Forwarded-For)."""
    return client_address(request.client.host if request.client else None, request.headers.get("x-forwarded-for"))


async def _records(request: Request) -> list[dict] | JSONResponse:
    """The report objects of the request, or the error response that refuses it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        return _problem(415, "send JSON: Content-Type: application/json (or application/geo+json)",
                        field="Content-Type", value=content_type or None)
    limit = settings.get_int("DROPMAP_MAX_BODY_BYTES")
    too_large = f"body larger than {limit} bytes; send fewer reports per request"
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        return _problem(400, "Content-Length must be a number of bytes", field="Content-Length", value=declared)
    if declared is not None and int(declared) > limit:
        return _problem(413, too_large)
    try:
        records, _ = records_from_json(json.loads(await _read_body(request, limit)))
    except _TooLarge:
        return _problem(413, too_large)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return _problem(400, f"not valid JSON: {e}", field="(body)")
    except UnreadableFileError as e:
        return _problem(400, str(e), field="(body)")
    if not records:
        return _problem(400, "no reports in the body: send one report object, a list or a FeatureCollection",
                        field="(body)")
    return records


async def post_reports(request: Request) -> JSONResponse:
    records = await _records(request)
    if isinstance(records, JSONResponse):
        return records
    try:
        result = await _submit(records, reporter_code=request.headers.get(CODE_HEADER), ip=client_ip(request))
    except RateLimitedError as e:
        return _problem(429, str(e), headers={"Retry-After": str(e.retry_after)})
    except InputError as e:
        return _problem(400, e.message, field=e.field, value=e.value)
    except StoreError as e:
        return _problem(503, f"the store is unavailable: {e}")
    except DropMapError as e:
        return _problem(500, str(e))
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
    return await asyncio.wrap_future(start_submission(con, fields, source="api", reporter_code=reporter_code, ip=ip,
                                                      rows=len(records)))



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
                          "description": "your private reporter code (or the X-Reporter-Code header)"},
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
                           "Rate-limited per reporter code and per client IP (DROPMAP_RATE_PER_CODE, "
                           "DROPMAP_RATE_PER_IP reports per hour). See docs/API.md.",
            "parameters": [{"name": "X-Reporter-Code", "in": "header", "required": False,
                            "schema": {"type": "string"}, "description": "your private reporter code"}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _BODY}, "application/geo+json": {"schema": _BODY}}},
            "responses": {
                "201": {"description": "at least one report stored; ids in request order",
                        "content": _json(_RESULT_SCHEMA)},
                "200": {"description": "nothing new: every report was already stored",
                        "content": _json(_RESULT_SCHEMA)},
                "400": {"description": "no valid report; per-row, per-field errors. A well-formed report is "
                                       "still refused for what a schema cannot say: observed_at in the future "
                                       "or before the city's first day, a place outside the area covered, an "
                                       "unknown carrier, kind or tech spelling, a value that is not a number",
                        "content": _json(_RESULT_SCHEMA)},
                "413": {"description": "body larger than DROPMAP_MAX_BODY_BYTES", "content": _json(_ERRORS_SCHEMA)},
                "415": {"description": "Content-Type is not JSON", "content": _json(_ERRORS_SCHEMA)},
                "429": {"description": "rate limit reached; see the Retry-After header (seconds)",
                        "content": _json(_ERRORS_SCHEMA)},
                "503": {"description": "the store is unavailable", "content": _json(_ERRORS_SCHEMA)},
            },
        }
    }
}
