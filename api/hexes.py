"""GET /api/v1/hexes: the open-data hex aggregates over HTTP (same parameters as `python -m geo export`).

An answer carries at most MAX_ROWS rows; ``limit``/``offset`` page through the
rest (the ``Link: <...>; rel="next"`` header and ``metadata.next`` give the next
page), and the nightly snapshot files or the CLI give everything at once.

POST /api/v1/snapshots: the site writes the standard snapshot (geo.snapshot);
only the operator, who holds the site secret, has the token it needs.
"""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api._budget import BudgetExceeded, charge_heavy
from api._errors import errors_response, problem, unavailable
from api.reports import client_ip
from core import settings
from core.errors import InputError, StoreError
from core.vocab import NETWORKS
from geo.aggregate import (
    AGGREGATES,
    BY_CHOICES,
    DEMO_CHOICES,
    EXPORT_RESOLUTIONS,
    BuildFailed,
    ExportQuery,
    QueryErrors,
    StillBuilding,
    parse_query,
)
from geo.export import MEDIA_TYPES, WRITERS, describe, file_name, inline_metadata, write_geojson
from store.read import QueryTimeout, run_read

MAX_ROWS = 50_000
BUILDING_RETRY_SECONDS = 60
MAX_OFFSET = 10**12
API_FORMATS = ("json", "csv", "geojson", "parquet", "geoparquet")
_PAGING = ("format", "limit", "offset")
_snapshot_lock = threading.Lock()


def _int(params: dict, name: str, default: int, low: int, high: int, fix: str) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InputError(name, raw, fix)
    return int(raw)


def parse_request(params: dict) -> tuple[ExportQuery, str, int, int]:
    """(query, format, limit, offset) from URL parameters; QueryErrors lists every bad one."""
    errors: list[InputError] = []
    fmt = params.get("format", "json")
    if fmt not in API_FORMATS:
        errors.append(InputError("format", fmt, f"use one of {', '.join(API_FORMATS)}"))
    limit = offset = 0
    try:
        limit = _int(params, "limit", MAX_ROWS, 1, MAX_ROWS,
                     f"at most {MAX_ROWS:,} rows per answer: page with offset= (see the Link header), or "
                     "download the snapshot files (/app/static/opendata/index.json) or run `python -m geo export`")
    except InputError as e:
        errors.append(e)
    try:
        offset = _int(params, "offset", 0, 0, MAX_OFFSET, "a whole number of rows to skip, 0 or more")
    except InputError as e:
        errors.append(e)
    try:
        query = parse_query({k: v for k, v in params.items() if k not in _PAGING})
    except QueryErrors as e:
        errors.extend(e.errors)
    if errors:
        raise QueryErrors(errors)
    return query, fmt, limit, offset


async def get_hexes(request: Request) -> Response:
    params = dict(request.query_params)
    repeated = sorted({k for k, _ in request.query_params.multi_items()
                       if len(request.query_params.getlist(k)) > 1})
    if repeated:
        return errors_response([InputError(k, request.query_params.getlist(k), "give this parameter once")
                        for k in repeated])
    try:
        query, fmt, limit, offset = parse_request(params)
    except QueryErrors as e:
        return errors_response(e.errors)
    # Links are relative to DROPMAP_BASE_URL (or the site): never built from the Host header.
    url = settings.base_url() + request.url.path
    try:
        return await run_in_threadpool(run_read, _answer, query, fmt, limit, offset, url, client_ip(request))
    except InputError as e:  # e.g. a period with no complete week, or an aggregate too large (TooLarge)
        return errors_response([e])
    except BudgetExceeded as e:
        return problem(429, str(e), headers={"Retry-After": str(e.retry_after)})
    except QueryTimeout as e:
        if not AGGREGATES.build_later(query):
            return unavailable(e)
        return problem(503, f"{e.limit_ms:,} ms were not enough to build this aggregate: it is being built in the "
                       "background and kept; ask again in a minute or two (the same parameters), and the pages "
                       "come from the kept copy", headers={"Retry-After": str(BUILDING_RETRY_SECONDS)})
    except StillBuilding as e:
        return problem(503, str(e), headers={"Retry-After": str(BUILDING_RETRY_SECONDS)})
    except BuildFailed as e:
        return problem(503, str(e), headers={"Retry-After": str(e.retry_after)})
    except StoreError as e:
        return unavailable(e)


def _next_url(url: str, params: dict, offset: int, limit: int, total: int) -> str | None:
    if offset + limit >= total:
        return None
    return url.split("?", 1)[0] + "?" + urlencode({**params, "offset": offset + limit, "limit": limit})


def _answer(cur, query: ExportQuery, fmt: str, limit: int, offset: int, url: str, ip: str | None) -> Response:
    """Runs in a worker thread, on its own cursor of the site's one connection (store.read.run_read).

    Building an aggregate is the heavy part: it is charged to the client's address
    (DROPMAP_HEAVY_PER_MINUTE); pages of an aggregate the cache holds are free.
    """
    agg = AGGREGATES.build(cur, query, before_build=lambda: charge_heavy(ip), refuse_rows=AGGREGATES.max_rows,
                           wait_for_background=False)
    page = max(0, min(limit, agg.rows - offset))
    params = {k: v for k, v in query.as_params().items() if v is not None}
    if agg.period:  # later pages cover the same dates even if a week ends meanwhile
        params.update(since=agg.period.since.isoformat(), until=agg.period.until.isoformat())
    params["format"] = fmt
    next_url = _next_url(url, params, offset, limit, agg.rows)
    metadata = inline_metadata(describe(agg, generated_at=datetime.now(UTC), rows=page))
    metadata.update(rows=page, total_rows=agg.rows, offset=offset, limit=limit, next=next_url,
                    more="page with offset=, or download /app/static/opendata/index.json")
    headers = {"X-Total-Rows": str(agg.rows), "X-Synthetic-Data": str(metadata["synthetic"]).lower()}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    if fmt == "json":
        body = {"metadata": metadata, "rows": agg.records(limit=limit, offset=offset)}
        return JSONResponse(body, headers=headers)
    with tempfile.TemporaryDirectory(prefix="dropmap-api-") as tmp:
        path = Path(tmp) / "page"
        if fmt == "geojson":
            write_geojson(agg, path, limit=limit, offset=offset, metadata=metadata)
        else:
            WRITERS[fmt](agg, path, limit=limit, offset=offset)
        content = path.read_bytes()
    name = file_name(query, fmt)
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(content, media_type=MEDIA_TYPES[fmt], headers=headers)


async def post_snapshot(request: Request) -> Response:
    from api.operator import authorise

    refused = await authorise(request)  # the operator token, wrong tokens limited (store.limits.GUARD)
    if isinstance(refused, Response):
        return refused
    if not _snapshot_lock.acquire(blocking=False):
        return errors_response([InputError("snapshot", None, "a snapshot is being written; try again in a minute")],
                       status=409)
    try:
        return JSONResponse(await run_in_threadpool(_write_snapshot))
    finally:
        _snapshot_lock.release()


def _write_snapshot() -> dict:
    from geo.snapshot import write_snapshot
    from store.db import cursor

    with cursor() as cur:
        return write_snapshot(cur)


ROUTES = [
    Route("/api/v1/hexes", get_hexes, methods=["GET"]),
    Route("/api/v1/snapshots", post_snapshot, methods=["POST"]),
]


def _parameter(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_ERROR = {"description": "Bad parameters: {\"errors\": [{\"field\", \"value\", \"message\"}]}. Besides what the "
                          "schemas say, refused: a parameter given empty (`until=`), since after until, and a "
                          "period with no complete week (or day, with by=date) of data before today, and an "
                          "aggregate too large to serve (more than 1,000,000 rows, found by a build in the "
                          "background after a 503)"}

OPENAPI_PATHS: dict = {
    "/api/v1/hexes": {
        "get": {
            "summary": "Hex aggregates of failure reports (CC BY 4.0)",
            "description": (
                "Per H3 cell x host network x local time bucket x failure kind: reports, distinct reporters, "
                "'all good' samples, failure rate with a 95% Wilson interval. Every figure comes from at "
                "least k distinct reporters or is zero; suppressed figures are null. Columns: docs/DATA.md. "
                f"At most {MAX_ROWS:,} rows per answer; follow the Link rel=next header (or metadata.next)."
            ),
            "parameters": [
                _parameter("res", "H3 resolution", {"type": "integer", "enum": list(EXPORT_RESOLUTIONS),
                                                    "default": 8}),
                _parameter("carrier", "host network (MVNOs count under theirs); default all",
                           {"type": "string", "enum": [*NETWORKS, "all"]}),
                _parameter("since", "first local (Seoul) date", {"type": "string", "format": "date"}),
                _parameter("until", "last local date", {"type": "string", "format": "date"}),
                _parameter("by", "time bucket: hour, weekday_hour, date or all (no time column)",
                           {"type": "string", "enum": list(BY_CHOICES), "default": "hour"}),
                _parameter("demo", "synthetic demo rows", {"type": "string", "enum": list(DEMO_CHOICES),
                                                           "default": "include"}),
                _parameter("format", "answer format", {"type": "string", "enum": list(API_FORMATS),
                                                       "default": "json"}),
                _parameter("limit", "rows per answer", {"type": "integer", "minimum": 1, "maximum": MAX_ROWS,
                                                        "default": MAX_ROWS}),
                _parameter("offset", "rows to skip", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET,
                                                      "default": 0}),
            ],
            "responses": {
                "200": {"description": "JSON {metadata, rows}, CSV, GeoJSON, Parquet or GeoParquet; headers "
                                       "X-Total-Rows and Link rel=next"},
                "400": _ERROR,
                "429": {"description": "This address had too many new aggregates built in the last minute "
                                       "(DROPMAP_HEAVY_PER_MINUTE); see Retry-After"},
                "503": {"description": "The database is not available, or the query ran past its time limit "
                                       "(DROPMAP_QUERY_MS): the aggregate is then built in the background and "
                                       "kept, and the same request asked again after Retry-After gets it"},
            },
        }
    },
    "/api/v1/snapshots": {
        "post": {
            "summary": "Write the standard snapshot to /app/static/opendata/ (operator only)",
            "parameters": [{"name": "Authorization", "in": "header", "required": True,
                            "schema": {"type": "string"},
                            "description": "Bearer <operator token>; `python -m store operator-token` prints it"}],
            "responses": {"200": {"description": "The snapshot index (index.json)"},
                          "401": {"description": "Missing or wrong token"},
                          "409": {"description": "A snapshot is being written"},
                          "429": {"description": "Too many wrong tokens from this network; see Retry-After"}},
        }
    },
}
