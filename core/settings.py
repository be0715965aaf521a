"""Settings, declared in one table and read from the environment.

Every setting is documented in docs/SETTINGS.md; tests/test_docs.py fails when
one is missing there.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DROPMAP_DB", str(DATA_DIR / "dropmap.duckdb"), "Path of the DuckDB database file."),
    Setting(
        "DROPMAP_STORE",
        "",
        "A shared store for several replicas: `ducklake:postgres:<PostgreSQL connection string>` (DuckLake, "
        "its catalog in PostgreSQL). Empty: the embedded DuckDB file DROPMAP_DB.",
    ),
    Setting(
        "DROPMAP_LAKE_DATA",
        str(DATA_DIR / "lake"),
        "Where a new shared store (DROPMAP_STORE) keeps its data files: a folder every replica reads "
        "and writes. Read only when the store is created; the catalog remembers it.",
    ),
    Setting(
        "DROPMAP_SECRET",
        "",
        "Site secret for keyed hashes of reporter codes and IPs. When empty, a random "
        "secret is generated once into data/secret.key (git-ignored) and reused.",
    ),
    Setting(
        "DROPMAP_MIN_REPORTERS",
        "5",
        "k: distinct reporters a cell needs before any public output shows it. Never below 3.",
    ),
    Setting("DROPMAP_CITY", str(DATA_DIR / "city.json"), "Path of the city configuration (JSON)."),
    Setting(
        "DROPMAP_RATE_PER_CODE",
        "30",
        "Reports one reporter code may submit per hour through the site or API.",
    ),
    Setting("DROPMAP_RATE_PER_IP", "120", "Reports one client IP may submit per hour."),
    Setting("DROPMAP_RATE_PER_PREFIX", "300",
            "Reports one network prefix (IPv4 /24, IPv6 /48) may submit per hour; 0 turns it off."),
    Setting("DROPMAP_CODES_PER_PREFIX", "30",
            "Reporter codes the site issues per network prefix (IPv4 /24, IPv6 /48) per hour."),
    Setting("DROPMAP_CODE_MATURE_HOURS", "24",
            "Hours after issue from which a reporter code counts as its own source; younger codes count as "
            "their network prefix (docs/SECURITY.md, independent sources)."),
    Setting("DROPMAP_LOOKUPS_PER_PREFIX", "20",
            "My reports lookups that find nothing, per network prefix per hour, before lookups are refused."),
    Setting(
        "DROPMAP_TRUSTED_PROXIES",
        "0",
        "Reverse proxies in front of the site whose X-Forwarded-For entries are trusted; 0 ignores the "
        "header (the client IP is the connection's peer).",
    ),
    Setting(
        "DROPMAP_MAX_BODY_BYTES",
        "5000000",
        "Largest request body the HTTP API accepts (bytes); larger bodies get 413.",
    ),
    Setting(
        "DROPMAP_SCAN_SECONDS",
        "60",
        "Seconds between two runs of the background outage detector; 0 turns it off. With a shared store one "
        "replica at a time runs it, under a lease of 1.5 times this (outages.lease).",
    ),
    Setting(
        "DROPMAP_STATUS_DIR",
        str(ROOT / "static" / "status"),
        "Folder where the outage detector writes, after each scan, the status files a static server or CDN "
        "serves (status.json, feed.atom, feed-en.atom, index.html); off writes none.",
    ),
    Setting(
        "DROPMAP_CACHE_SECONDS",
        "30",
        "How long the site serves a kept map result after new reports arrive; up to three times this age it is "
        "still served while computed again, never older (store.cache).",
    ),
    Setting(
        "DROPMAP_CACHE_MB",
        "256",
        "Memory the kept results of the map pages may hold in one process (store.cache); the least "
        "recently used go first.",
    ),
    Setting(
        "DROPMAP_WEBHOOKS",
        str(DATA_DIR / "webhooks.json"),
        "JSON file listing outage webhooks (url, secret, events); no file means no webhooks.",
    ),
    Setting("DROPMAP_BASE_URL", "", "Public address of the site (https://...) for absolute links in feeds and "
            "the status document; empty gives links relative to the site. Never taken from the Host header."),
    Setting("DROPMAP_MAX_ITEMS", "1000", "Most reports one API request may carry; more gets 413."),
    Setting("DROPMAP_API_REQUESTS_PER_MINUTE", "120",
            "Requests one client address may send to POST /api/v1/reports per minute, counted before the body "
            "is read; 0 turns it off."),
    Setting("DROPMAP_API_BYTES_PER_HOUR", "20000000",
            "Body bytes one client address may send to POST /api/v1/reports per hour, counted before the body "
            "is parsed; 0 turns it off."),
    Setting("DROPMAP_DUCKDB_MEMORY", "4GB",
            "Memory DuckDB may use in one process (its memory_limit, e.g. 4GB); larger sorts and aggregates "
            "spill to a folder beside the database. Empty: DuckDB's own default (80% of the machine's memory)."),
    Setting("DROPMAP_QUERY_MS", "10000",
            "Time limit of one public query (HTTP API reads) in milliseconds; a slower one is stopped and "
            "answered 503 with Retry-After."),
    Setting("DROPMAP_BUILD_MS", "600000",
            "Time limit of work done in the background for visitors: a hex aggregate built after "
            "GET /api/v1/hexes ran past DROPMAP_QUERY_MS (one at a time, at most 4 waiting; 0: none is "
            "built, the request gets 503), and the map's kept views computed again (0: DROPMAP_QUERY_MS)."),
    Setting("DROPMAP_HEAVY_PER_MINUTE", "30",
            "Aggregates one client address may have built per minute by GET /api/v1/hexes (answers from the "
            "cache are free); more gets 429. 0 turns it off."),
    Setting("DROPMAP_UPLOADS_PER_HOUR", "20", "Files one client address may upload through the site per hour."),
)

_BY_NAME = {s.name: s for s in SETTINGS}
MIN_REPORTERS_FLOOR = 3


def get(name: str) -> str:
    """The value of setting ``name``: the environment's, else the declared default."""
    setting = _BY_NAME[name]
    value = os.environ.get(name, "").strip()
    return value or setting.default


def get_int(name: str) -> int:
    raw = get(name)
    try:
        return int(raw)
    except ValueError as e:
        from core.errors import InputError

        raise InputError(name, raw, "must be a whole number; unset it to use the default") from e


def db_path() -> Path:
    return Path(get("DROPMAP_DB"))


def store_location() -> str:
    """The store every part of the site reads and writes: DROPMAP_STORE when set, else the file DROPMAP_DB."""
    return get("DROPMAP_STORE") or str(db_path())


def status_dir() -> Path | None:
    """DROPMAP_STATUS_DIR as a path, or None when it is ``off``."""
    value = get("DROPMAP_STATUS_DIR")
    return None if value.lower() == "off" else Path(value)


def base_url() -> str:
    """DROPMAP_BASE_URL without its trailing slash; "" makes links relative to the site."""
    return get("DROPMAP_BASE_URL").rstrip("/")


def min_reporters() -> int:
    """k for privacy suppression; a value below the floor is raised to the floor."""
    return max(MIN_REPORTERS_FLOOR, get_int("DROPMAP_MIN_REPORTERS"))


def site_secret() -> bytes:
    """The HMAC key. From DROPMAP_SECRET, else from data/secret.key, created on first use."""
    value = get("DROPMAP_SECRET")
    if value:
        return value.encode("utf-8")
    key_file = DATA_DIR / "secret.key"
    try:
        stat = key_file.stat()
    except FileNotFoundError:
        _create_secret(key_file)
        stat = key_file.stat()
    # Read once per version of the file (every report hashes a code and an IP with it).
    return _secret_from_file(str(key_file), stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)


@lru_cache(maxsize=4)
def _secret_from_file(path: str, _mtime_ns: int, _ctime_ns: int, _size: int, _inode: int) -> bytes:
    secret = Path(path).read_text().strip()
    if not secret:
        from core.errors import StoreError

        raise StoreError(f"{path} is empty; delete it (a new secret is made) or set DROPMAP_SECRET")
    return secret.encode("utf-8")


def _create_secret(key_file: Path) -> None:
    """Write a random secret once, owner-only; never committed (.gitignore).

    Written to a private temporary file first and then linked into place: when
    two processes start at once, exactly one link succeeds and neither can read
    a half-written key.
    """
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=key_file.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass  # another process won; use its secret
    finally:
        os.unlink(tmp)


def one_blas_thread() -> None:
    """Limit numpy's and scipy's BLAS to one thread in this process. The site's numerical work is many
    small fits (the map's estimates), where OpenBLAS threads spinning for work cost more than they give,
    most of all on a busy machine with few cores; requests already run side by side."""
    # threadpoolctl limits the libraries already loaded: load numpy's and scipy's OpenBLAS first.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.optimize  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
