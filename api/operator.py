"""Routes for the site's operator only: POST /api/v1/operator/backup (a consistent copy of the database).

The caller proves it is the operator with ``Authorization: Bearer <token>``
(core.operator: derived from the site secret; wrong tokens are limited per
address). The copy is made inside this process, which owns the database file
(store.backup), in a worker thread, and sent back as the response body; the
temporary copy is removed afterwards. Nothing here is public, so it is left
out of the OpenAPI document (see docs/OPERATIONS.md).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from api._errors import errors_response, unavailable
from api.reports import client_ip
from core import settings
from core.errors import InputError, StoreError
from core.operator import OperatorRefusedError
from store.limits import GUARD, uses_shared_counters

log = logging.getLogger("dropmap.operator")
_backup_lock = threading.Lock()


def _refusal(e: OperatorRefusedError) -> JSONResponse:
    if e.retry_after:
        answer = errors_response([InputError("Authorization", None, str(e))], status=429)
        answer.headers["Retry-After"] = str(e.retry_after)
        return answer
    answer = errors_response([InputError("Authorization", None, "send Authorization: Bearer <operator token>; "
                                         "`python -m store operator-token` prints it on the site's machine")],
                             status=401)
    answer.headers["WWW-Authenticate"] = "Bearer"
    return answer


def _make_backup() -> tuple[Path, dict]:
    from store.backup import backup_database
    from store.db import file_only, shared_connection

    file_only("a backup")
    db = settings.db_path()
    folder = Path(tempfile.mkdtemp(prefix=".backup-", dir=db.parent))
    try:
        return folder, backup_database(shared_connection(db), folder / "backup.duckdb")
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise


async def authorise(request: Request) -> str | JSONResponse:
    """The operator's token id when ``Authorization: Bearer <operator token>`` is right, else the answer that
    refuses (401, or 429 while wrong tokens from the client's network are being refused). Every operator
    route (backup, the open-data snapshot) checks this way. Wrong tokens counted in a shared store's
    PostgreSQL (store.limits) are checked from a worker thread, not on the event loop."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else None
    try:
        if uses_shared_counters():
            return await run_in_threadpool(GUARD.check, token, client_ip(request))
        return GUARD.check(token, client_ip(request))
    except OperatorRefusedError as e:
        return _refusal(e)
    except StoreError as e:
        return unavailable(e)


async def post_backup(request: Request):
    operator = await authorise(request)
    if isinstance(operator, JSONResponse):
        return operator
    if not _backup_lock.acquire(blocking=False):
        return errors_response([InputError("backup", None, "a backup is being made; try again in a minute")],
                               status=409)
    try:
        folder, made = await run_in_threadpool(_make_backup)
    except StoreError as e:
        return errors_response([InputError("backup", None, str(e))], status=503)
    finally:
        _backup_lock.release()
    log.info("backup by %s: %s reports, %s bytes", operator, made["reports"], made["bytes"])
    return FileResponse(Path(made["path"]), media_type="application/vnd.duckdb",
                        headers={"X-DropMap-Reports": str(made["reports"])},
                        background=BackgroundTask(shutil.rmtree, folder, True))


def announce() -> None:
    """Tell ``python -m store backup`` where this site listens (``<db>.site.json``)."""
    from streamlit import config

    from store.backup import announce_site

    address = config.get_option("server.address") or "127.0.0.1"
    if address in ("0.0.0.0", "::", ""):
        address = "127.0.0.1"
    host = f"[{address}]" if ":" in address else address
    try:
        announce_site(settings.db_path(), f"http://{host}:{config.get_option('server.port')}")
    except OSError as e:  # the site serves anyway; `python -m store backup --site URL` still works
        log.warning("cannot write the site announcement beside the database: %s", e)


def forget() -> None:
    from store.backup import forget_site

    try:
        forget_site(settings.db_path())
    except OSError as e:
        log.warning("cannot remove the site announcement: %s", e)


ROUTES = [Route("/api/v1/operator/backup", post_backup, methods=["POST"])]
