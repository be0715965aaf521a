"""GET /api/v1/stats: the totals the overview page shows, so anyone can count what the site stored.

The figures come from the functions the overview (ui/overview.py, "모은 제보") and the synthetic-data
notice (ui/notices.py) call, ``store.summary.overview`` and ``store.summary.demo_share``, and are
published no finer than the site shows them: the period as Seoul days (the page shows minutes), the
synthetic share as a whole percent (the notice's ``{share:.0%}``). Nothing else is published: no
count of independent sources, no per-carrier or per-place figure.

The answer is kept per data version in the process's one result cache (store.cache.RESULTS): while no
report arrives nothing is counted again, and while reports arrive it is counted again at most once
per DROPMAP_CACHE_SECONDS. A count that runs past DROPMAP_QUERY_MS is stopped (store.read.run_read)
and answered 503 with Retry-After.
"""

from __future__ import annotations

from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api._errors import errors_response, unavailable
from core import settings
from core.city import load_city
from core.errors import InputError, StoreError
from store import summary
from store.cache import RESULTS


def _local_day(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(load_city().tz).date().isoformat()


def public_totals(cur) -> dict:
    """The overview's totals as this route publishes them (runs under the read's time limit, store.cache)."""
    info = summary.overview(cur)
    share = summary.demo_share(cur)
    return {
        "reports": info["failures"],
        "samples": info["samples"],
        "flagged": info["flagged"],
        "reporters": info["reporters"],
        "period": {"first": _local_day(info["first"]), "last": _local_day(info["last"])},
        "synthetic": share > 0,
        # round(x * 100) is what format(x, ".0%") prints: the notice's figure, to the same digit.
        "synthetic_share": round(share * 100) / 100,
    }


async def get_stats(request: Request) -> JSONResponse:
    names = sorted({name for name, _ in request.query_params.multi_items()})
    if names:  # a filter this route does not have must not pass for one it applied (since=, carrier=)
        return errors_response([InputError(name, request.query_params.get(name),
                                           "unknown parameter: this route takes none and counts everything")
                                for name in names])
    try:
        body = await run_in_threadpool(RESULTS.read, public_totals)
    except StoreError as e:  # plain words and Retry-After; the path and process id go to the log only
        return unavailable(e)
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={settings.get_int('DROPMAP_CACHE_SECONDS')}"})


ROUTES = [Route("/api/v1/stats", get_stats, methods=["GET"])]

_COUNT = {"type": "integer", "minimum": 0}
_DAY = {"type": ["string", "null"], "format": "date"}

OPENAPI_PATHS: dict = {
    "/api/v1/stats": {
        "get": {
            "summary": "The site's totals: reports, 'all good' samples, reporters, period, synthetic share",
            "description": (
                "The figures of the overview page ('What the database holds') and of the synthetic-data notice, "
                "over everything stored, flagged reports included (as the overview counts them; `flagged` says "
                "how many). `reporters` counts distinct reporters as stored (keyed hashes of reporter codes; "
                "docs/API.md says how reports without one count), not the independent sources the k rules "
                "count. The period is given as Seoul days, the synthetic share to a whole percent, as the site "
                "shows it. Kept per data version: a new report shows within DROPMAP_CACHE_SECONDS (a flag or "
                "a restore at once)."
            ),
            "responses": {
                "200": {"description": "The totals; on an empty store every count is 0 and the period's days null",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["reports", "samples", "flagged", "reporters", "period", "synthetic",
                                         "synthetic_share"],
                            "additionalProperties": False,
                            "properties": {
                                "reports": {**_COUNT, "description": "failure reports (every kind but ok)"},
                                "samples": {**_COUNT, "description": "'all good' samples (kind ok)"},
                                "flagged": {**_COUNT, "description": "reports and samples held back by "
                                                                     "moderation (counted in the two above)"},
                                "reporters": {**_COUNT, "description": "distinct reporter codes (keyed hashes)"},
                                "period": {"type": "object", "required": ["first", "last"],
                                           "additionalProperties": False,
                                           "properties": {"first": _DAY, "last": _DAY},
                                           "description": "first and last observed day, Seoul time"},
                                "synthetic": {"type": "boolean",
                                              "description": "some of the data are synthetic demo data"},
                                "synthetic_share": {"type": "number", "minimum": 0, "maximum": 1,
                                                    "description": "share of synthetic rows, to a whole percent"},
                            }}}}},
                "400": {"description": "A query parameter was given: this route takes none "
                                       "({\"errors\": [{\"field\", \"value\", \"message\"}]})"},
                "503": {"description": "The database is unavailable or the count ran past its time limit; "
                                       "see the Retry-After header (seconds)"},
            },
        }
    },
}
