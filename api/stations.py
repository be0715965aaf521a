"""GET /api/v1/stations: failure rates along one subway line, per station and host network (geo.stations).

``?line=2[&carrier=KT][&hours=7-9]`` answers ``{"line": "2", "stations": [{"station", "order",
"network", "failure_rate", "rate_low", "rate_high", "reporters"}]}``: every station of the line in
track order, once per network (or once for the carrier asked). A figure resting on fewer than k
distinct reporters is null. The counts behind every line are cached per data version.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api._errors import errors_response, unavailable
from core import settings
from core.errors import InputError, StoreError
from core.vocab import NETWORKS
from geo import stations
from store.read import run_read

PARAMETERS = ("line", "carrier", "hours")


def parse_request(query_params) -> tuple[str, str | None, str]:
    """(line, carrier, window) from the URL; raises a list of InputErrors naming every bad field."""
    errors: list[InputError] = []
    for name in sorted({k for k, _ in query_params.multi_items()}):
        if name not in PARAMETERS:
            errors.append(InputError(name, query_params.get(name), f"unknown parameter; use {', '.join(PARAMETERS)}"))
        elif len(query_params.getlist(name)) > 1:
            errors.append(InputError(name, query_params.getlist(name), "give this parameter once"))
        elif not query_params.get(name, "").strip():  # as every other route: leave it out instead
            errors.append(InputError(name, query_params.get(name), "given empty; leave the parameter out instead"))
    values: dict = {}
    for name, parse in (("line", stations.parse_line), ("carrier", stations.parse_carrier),
                        ("hours", stations.parse_hours)):
        if any(e.field == name for e in errors):
            continue
        try:
            if name == "line" and not query_params.get("line"):
                raise InputError("line", None, "required: a line from 1 to 9, e.g. line=2")
            values[name] = parse(query_params.get(name))
        except InputError as e:
            errors.append(InputError(name, query_params.get(name), e.message))
    if errors:
        raise _Errors(errors)
    return values["line"], values["carrier"], values["hours"]


class _Errors(Exception):
    def __init__(self, errors: list[InputError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _answer(cur, line: str, carrier: str | None, window: str) -> dict:
    """Runs in a worker thread, on its own cursor of the site's one connection (store.read.run_read)."""
    view = stations.line_view(cur, line, carrier=carrier, window=window)
    return {"line": view.line, "carrier": view.carrier, "hours": view.window, "k": view.k,
            "stations": view.records(),
            "worst_stretches": [{"network": s.network, "stations": list(s.stations), "mean_rate": round(s.mean_rate, 5)}
                                for s in view.stretches]}


async def get_stations(request: Request) -> JSONResponse:
    try:
        line, carrier, window = parse_request(request.query_params)
    except _Errors as e:
        return errors_response(e.errors)
    try:
        body = await run_in_threadpool(run_read, _answer, line, carrier, window)
    except StoreError as e:  # plain words and Retry-After; the path and process id go to the log only
        return unavailable(e)
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={settings.get_int('DROPMAP_CACHE_SECONDS')}"})


ROUTES = [Route("/api/v1/stations", get_stations, methods=["GET"])]


def _parameter(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


_NUMBER_OR_NULL = {"type": ["number", "null"]}

OPENAPI_PATHS: dict = {
    "/api/v1/stations": {
        "get": {
            "summary": "Failure rates along a subway line, per station and host network (CC BY 4.0)",
            "description": (
                "Every station of the line in track order (trunk, then branches), once per host network. "
                f"A station's reports are those within {stations.RADIUS_M:.0f} m (res-{stations.CELL_RES} H3 cells). "
                "failure_rate is failures / (failures + 'all good' samples), shrunk towards the network's "
                "typical station (empirical Bayes), with a 95% interval. Figures from fewer than k distinct "
                "reporters are null; see docs/METHODOLOGY.md 'Subway lines'."
            ),
            "parameters": [
                _parameter("line", "subway line 1-9", {"type": "string", "enum": list(stations.LINES)},
                           required=True),
                _parameter("carrier", "host network; default all three",
                           {"type": "string", "enum": [*NETWORKS, "all"]}),
                _parameter("hours", "time window: all day, weekday rush hours (7-9 and 18-20 h), one of them, "
                           "or the rest of the week", {"type": "string", "enum": list(stations.WINDOWS),
                                                       "default": "all"}),
            ],
            "responses": {
                "200": {"description": "The line's stations", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "line": {"type": "string"}, "carrier": {"type": ["string", "null"]},
                        "hours": {"type": "string"}, "k": {"type": "integer"},
                        "stations": {"type": "array", "items": {"type": "object", "properties": {
                            "station": {"type": "string"}, "order": {"type": "integer"},
                            "network": {"type": "string"}, "failure_rate": _NUMBER_OR_NULL,
                            "rate_low": _NUMBER_OR_NULL, "rate_high": _NUMBER_OR_NULL,
                            "reporters": {"type": ["integer", "null"]}}}},
                        "worst_stretches": {"type": "array"}}}}}},
                "400": {"description": "Bad parameters (an unknown line names it): "
                                       "{\"errors\": [{\"field\", \"value\", \"message\"}]}"},
                "503": {"description": "The database is not available or the query took too long"},
            },
        }
    },
}
