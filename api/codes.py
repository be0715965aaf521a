"""POST /api/v1/codes: the site issues a private reporter code (ingest.codes), under a per-prefix limit."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api._errors import problem, unavailable
from core.errors import StoreError
from ingest.abuse import RateLimitedError
from ingest.codes import issue_code
from store.db import shared_connection


async def post_codes(request: Request) -> JSONResponse:
    from api.reports import client_ip

    ip = client_ip(request)
    try:
        code = await run_in_threadpool(lambda: issue_code(shared_connection(), ip))
    except RateLimitedError as e:
        return problem(429, str(e), headers={"Retry-After": str(e.retry_after)})
    except StoreError as e:  # plain words and Retry-After; the path and process id go to the log only
        return unavailable(e)
    return JSONResponse({"code": code}, status_code=201, headers={"Cache-Control": "no-store"})


ROUTES = [Route("/api/v1/codes", post_codes, methods=["POST"])]

_ERRORS = {"application/json": {"schema": {"type": "object", "properties": {"errors": {"type": "array"}}}}}
_CODE = {"type": "object", "required": ["code"],
         "properties": {"code": {"type": "string", "pattern": "^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$"}}}

OPENAPI_PATHS = {
    "/api/v1/codes": {
        "post": {
            "summary": "Get a private reporter code",
            "description": "Issues a reporter code (16 letters and digits, e.g. K7QX-M2PA-9RTB-C4DE) that carries "
                           "the site's keyed MAC. Send it as X-Reporter-Code (or reporter_code) with your reports; "
                           "self-chosen codes are refused. Limited per network prefix (IPv4 /24, IPv6 /48): "
                           "DROPMAP_CODES_PER_PREFIX codes per hour. No body. See docs/API.md.",
            "responses": {
                "201": {"description": "a new code; keep it private: it opens My reports",
                        "content": {"application/json": {"schema": _CODE}}},
                "429": {"description": "too many codes from your network this hour; see Retry-After (seconds)",
                        "content": _ERRORS},
                "503": {"description": "the store is unavailable", "content": _ERRORS},
            },
        }
    }
}
