"""Outage status over HTTP: GET /api/v1/status, /api/v1/incidents, /api/v1/incidents/{id}, /api/v1/incidents.atom.

Everything here is read-only and public: incidents carry carriers, times,
counts and the districts named with at least k reporters, never a coordinate
or a reporter. Queries run in a worker thread on a cursor of the site's one
connection, so the event loop never waits on the database.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api._errors import errors_response, unavailable
from core import settings
from core.city import load_city
from core.errors import InputError, StoreError
from core.vocab import NETWORKS, normalise_carrier
from store.read import run_read

MAX_LIMIT = 500
MAX_OFFSET = 10**9
STATUS_VALUES = ("suspected", "ongoing", "recovering", "resolved", "withdrawn")
SCOPES = ("city", "districts")


def _listed(params, name: str) -> list[str]:
    values = []
    for raw in params.getlist(name):
        _given(name, raw)
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


def _carriers(values: list[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        try:
            network = normalise_carrier(value).network
        except InputError:
            raise InputError("carrier", value, f"use one of {', '.join(NETWORKS)}") from None
        out.append(network)
    return tuple(dict.fromkeys(out))


def _given(name: str, raw: str) -> str:
    """A parameter present but empty (``until=``) is a mistake, refused like any bad value."""
    if not raw.strip():
        raise InputError(name, raw, "empty: give a value or leave the parameter out")
    return raw


def _day(params, name: str) -> date | None:
    raw = params.get(name)
    if raw is None:
        return None
    _given(name, raw)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(name, raw, "a date like 2021-10-25 (Seoul time)") from None


def _int(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError(name, raw, f"a whole number from {low} to {high}")
    return int(raw)


def parse_incident_query(params) -> dict:
    """Filters of GET /api/v1/incidents; raises a list of InputError (all bad parameters at once)."""
    errors: list[InputError] = []
    query: dict = {}
    steps = {
        "networks": lambda: _carriers(_listed(params, "carrier")),
        "statuses": lambda: _choices(_listed(params, "status"), "status", STATUS_VALUES),
        "scope": lambda: (_choices([params["scope"]], "scope", SCOPES)[0] if "scope" in params else None),
        "since": lambda: _day(params, "since"),
        "until": lambda: _day(params, "until"),
        "limit": lambda: _int(params, "limit", 100, 1, MAX_LIMIT),
        "offset": lambda: _int(params, "offset", 0, 0, MAX_OFFSET),
    }
    for key, step in steps.items():
        try:
            query[key] = step()
        except InputError as e:
            errors.append(e)
    if not errors and query["since"] and query["until"] and query["since"] > query["until"]:
        errors.append(InputError("since", query["since"].isoformat(), f"must not be after until={query['until']}"))
    if errors:
        raise _QueryErrors(errors)
    tz = load_city().tz
    if query["since"]:
        query["since"] = datetime.combine(query["since"], time(0), tzinfo=tz)
    if query["until"]:
        query["until"] = datetime.combine(query["until"] + timedelta(days=1), time(0), tzinfo=tz)
    return query


def _choices(values: list[str], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if value not in allowed:
            raise InputError(name, value, f"use one of {', '.join(allowed)}")
    return tuple(values)


class _QueryErrors(Exception):
    def __init__(self, errors: list[InputError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


# --- handlers ---------------------------------------------------------------------

def _status(cur, base_url: str) -> bytes:
    from outages.feeds import status_json

    return status_json(cur, base_url=base_url)


def _incidents(cur, query: dict) -> list[dict]:
    from outages.public import load_public
    from store import outages_sql

    return load_public(cur, outages_sql.list_incidents(cur, **query))


def _incident(cur, incident_id: str) -> dict | None:
    from outages.public import load_public
    from store import outages_sql

    row = outages_sql.get_incident(cur, incident_id)
    return load_public(cur, [row])[0] if row else None


def _atom(cur, base_url: str, lang: str) -> bytes:
    from outages.feeds import atom_feed

    return atom_feed(cur, base_url=base_url, lang=lang)


async def get_status(request: Request) -> Response:
    try:
        body = await run_in_threadpool(run_read, _status, settings.base_url())
    except StoreError as e:
        return unavailable(e)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})


async def get_incidents(request: Request) -> Response:
    try:
        query = parse_incident_query(request.query_params)
    except _QueryErrors as e:
        return errors_response(e.errors)
    try:
        incidents = await run_in_threadpool(run_read, _incidents, query)
    except StoreError as e:
        return unavailable(e)
    return JSONResponse({"incidents": incidents, "count": len(incidents), "limit": query["limit"],
                         "offset": query["offset"]})


async def get_incident(request: Request) -> Response:
    incident_id = request.path_params["incident_id"]
    try:
        incident = await run_in_threadpool(run_read, _incident, incident_id)
    except StoreError as e:
        return unavailable(e)
    if incident is None:
        missing = InputError("incident_id", incident_id, "no such incident; list them at /api/v1/incidents")
        return errors_response([missing], status=404)
    return JSONResponse(incident)


async def get_atom(request: Request) -> Response:
    lang = request.query_params.get("lang", "ko")
    if lang not in ("ko", "en"):
        return errors_response([InputError("lang", lang, "use ko or en")])
    try:
        body = await run_in_threadpool(run_read, _atom, settings.base_url(), lang)
    except StoreError as e:
        return unavailable(e)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


ROUTES = [
    Route("/api/v1/status", get_status, methods=["GET"]),
    Route("/api/v1/incidents.atom", get_atom, methods=["GET"]),
    Route("/api/v1/incidents", get_incidents, methods=["GET"]),
    Route("/api/v1/incidents/{incident_id}", get_incident, methods=["GET"]),
]

_ERROR = {"description": "bad parameters: {errors: [{field, value, message}]}. Besides what the schemas say, "
                          "refused: a parameter given empty (`until=`), and since after until"}


def _listing(values) -> str:
    """A pattern for one or more of ``values``, comma-separated."""
    one = "(" + "|".join(re.escape(v) for v in values) + ")"
    return f"^{one}(,{one})*$"
_INCIDENT = {
    "type": "object",
    "description": "An incident: carrier, status, scope (city or districts), districts named with at least k "
                   "reporters, onset/detected/ended/resolved times (ISO 8601, Seoul time), duration, peak and "
                   "last-15-minute counts of distinct reporters against the usual number, history of statuses, "
                   "and whether it was raised by synthetic demo data.",
}
OPENAPI_PATHS = {
    "/api/v1/status": {"get": {
        "summary": "Current outage status per carrier and the open incidents",
        "responses": {"200": {"description": "status per carrier (normal, suspected, ongoing, recovering)",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      "503": {"description": "the database is unavailable or the query ran past its time "
                                              "limit; see the Retry-After header (seconds)"}},
    }},
    "/api/v1/incidents": {"get": {
        "summary": "Past and current incidents, newest onset first",
        "parameters": [
            {"name": "carrier", "in": "query", "schema": {"type": "string", "pattern": _listing(NETWORKS)},
             "description": "SKT, KT or LGU+ (comma-separated or repeated)"},
            {"name": "status", "in": "query", "schema": {"type": "string", "pattern": _listing(STATUS_VALUES)},
             "description": "suspected, ongoing, recovering, resolved, withdrawn (comma-separated or repeated)"},
            {"name": "scope", "in": "query", "schema": {"type": "string", "enum": list(SCOPES)}},
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"},
             "description": "onset on or after this date (Seoul time); not after `until`"},
            {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"},
             "description": "onset on or before this date (Seoul time)"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
        ],
        "responses": {"200": {"description": "{incidents: [...], count, limit, offset}",
                              "content": {"application/json": {"schema": {
                                  "type": "object",
                                  "properties": {"incidents": {"type": "array", "items": _INCIDENT}}}}}},
                      "400": _ERROR},
    }},
    "/api/v1/incidents/{incident_id}": {"get": {
        "summary": "One incident",
        "parameters": [{"name": "incident_id", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "e.g. KT-20211025-1116"}],
        "responses": {"200": {"description": "the incident", "content": {"application/json": {"schema": _INCIDENT}}},
                      "404": {"description": "no such incident"}},
    }},
    "/api/v1/incidents.atom": {"get": {
        "summary": "The latest incidents as an Atom 1.0 feed (for feed readers and newsrooms)",
        "parameters": [{"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["ko", "en"]}}],
        "responses": {"200": {"description": "Atom 1.0", "content": {"application/atom+xml": {}}},
                      "400": _ERROR},
    }},
}
