"""HTTP routes served beside the UI, in the same process (see app.py)."""

from __future__ import annotations

from contextlib import asynccontextmanager


def routes() -> list:
    """Every API route: /api/v1/..."""
    from api import hexes, openapi, reports, status
    from api._methods import method_routes

    served = [*reports.ROUTES, *hexes.ROUTES, *status.ROUTES, *openapi.ROUTES]
    return served + method_routes(served)  # other methods: 405 with the right Allow header


@asynccontextmanager
async def lifespan(app):
    """Start background work that lives as long as the server (the outage detector)."""
    from outages.service import start_background, stop_background

    start_background()
    try:
        yield None
    finally:
        stop_background()
