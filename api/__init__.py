"""HTTP routes served beside the UI, in the same process (see app.py)."""

from __future__ import annotations

from contextlib import asynccontextmanager


def routes() -> list:
    """Every API route: /api/v1/..."""
    from api import codes, hexes, openapi, operator, reports, stations, status

    return [*reports.ROUTES, *codes.ROUTES, *hexes.ROUTES, *status.ROUTES, *stations.ROUTES, *openapi.ROUTES,
            *operator.ROUTES]


@asynccontextmanager
async def lifespan(app):
    """Start background work that lives as long as the server (the outage detector); announce the site."""
    from api import operator
    from outages.service import start_background, stop_background

    start_background()
    operator.announce()
    try:
        yield None
    finally:
        operator.forget()
        stop_background()
