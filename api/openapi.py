"""GET /api/v1/openapi.json: one OpenAPI 3.1 document for every route.

Each route module declares ``OPENAPI_PATHS`` (its part of the ``paths`` object)
beside its ``ROUTES``, so the document cannot drift from the code.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def document() -> dict:
    from api import codes, hexes, reports, stations, stats, status

    paths: dict = {}
    for module in (reports, codes, hexes, status, stations, stats):
        paths.update(module.OPENAPI_PATHS)
    paths["/api/v1/openapi.json"] = {
        "get": {"summary": "This OpenAPI document", "responses": {"200": {"description": "OpenAPI 3.1 JSON"}}}
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DropMap (끊김지도) API",
            "version": "1",
            "description": "Crowdsourced mobile-network failure reports for Seoul. Aggregates are CC BY 4.0.",
            "license": {"name": "CC BY 4.0 (data)", "url": "https://creativecommons.org/licenses/by/4.0/"},
        },
        "paths": paths,
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())


ROUTES = [Route("/api/v1/openapi.json", openapi_json, methods=["GET"])]
