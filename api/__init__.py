"""HTTP routes served beside the UI, in the same process (see app.py)."""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager


def routes() -> list:
    """Every API route: /api/v1/..."""
    from api import codes, hexes, openapi, operator, reports, stations, stats, status
    from api._methods import method_routes

    served = [*reports.ROUTES, *codes.ROUTES, *hexes.ROUTES, *status.ROUTES, *stations.ROUTES, *stats.ROUTES,
              *openapi.ROUTES]
    # Other methods: 405 with the right Allow header. The operator's routes stay out of the public document.
    return served + method_routes(served) + [*operator.ROUTES]


@asynccontextmanager
async def lifespan(app):
    """Start background work that lives as long as the server (the outage detector, the station counts,
    the map's opening and whole-record views kept computed); announce the site."""
    from api import operator
    from core import settings
    from geo.aggregate import AGGREGATES
    from geo.mapview import keep_views
    from geo.stations import warm_counts
    from outages.service import start_background, stop_background
    from store.cache import RESULTS

    start_background()
    warm_counts(settings.store_location())
    views_stop = threading.Event()
    views = keep_views(views_stop)
    operator.announce()
    try:
        yield None
    finally:
        operator.forget()
        views_stop.set()
        views.join()
        stop_background()
        RESULTS.stop()
        AGGREGATES.stop()
