"""Methods a path does not serve: 405 with an ``Allow`` header that names the ones it does.

Streamlit's own catch-all answers any other method on any path with ``405, Allow: GET, HEAD``,
which is wrong for POST-only routes (the OpenAPI document lists POST). One route per API path,
placed after the real ones, takes every other method: OPTIONS gets 204 with the path's methods,
anything else 405 with the same ``Allow`` and the API's one error body.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def allowed_methods(routes: list) -> dict[str, list[str]]:
    """Path -> the methods its routes serve (HEAD comes with GET), OPTIONS added, in a fixed order."""
    found: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Route) and route.methods:
            found.setdefault(route.path, set()).update(route.methods)
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return {path: [m for m in order if m in methods] + sorted(methods - set(order)) + ["OPTIONS"]
            for path, methods in found.items()}


def _endpoint(allow: list[str]):
    header = ", ".join(allow)

    async def other_method(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": header})
        body = {"errors": [{"field": "method", "value": request.method,
                            "message": f"this path serves {header}"}]}
        return JSONResponse(body, status_code=405, headers={"Allow": header})

    return other_method


def _any_method(path: str, allow: list[str]) -> Route:
    route = Route(path, _endpoint(allow))
    route.methods = None  # no method list: the route takes (and fully matches) every method
    return route


def method_routes(routes: list) -> list[Route]:
    """Catch-all routes (any method) for every path of ``routes``; put them after ``routes``."""
    return [_any_method(path, allow) for path, allow in allowed_methods(routes).items()]
