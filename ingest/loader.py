"""From raw rows to stored reports: validate, identify, index, insert (one path).

Every input -- a file, a form, an API request, the demo generator -- is put
into the scratch table ``raw`` and checked by ``ingest.validate.check_raw``;
the good rows get reporter hashes, H3 cells, a district and a fingerprint, and
are stored as one batch, all or nothing (``store.reports.insert_batch``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from core import settings
from core.cells import latlngs_to_cell_columns
from core.errors import StoreError
from geo.places import cells_to_district_codes
from ingest import quick
from ingest.fields import epoch_micros
from ingest.identity import code_key, keyed_hash
from ingest.sources import mature_reporters, prefix_hash, source_ids
from ingest.validate import MAX_ERRORS, check_raw, frame_into_raw, text_id
from store import ingest_sql
from store.db import cursor
from store.reports import insert_batch, insert_small_batch

Flagger = Callable[[duckdb.DuckDBPyConnection, pd.DataFrame], pd.DataFrame]


@dataclass
class LoadResult:
    batch_id: str
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    report_ids: list[tuple[str, int]] = field(default_factory=list)  # (report_id, row), when asked for
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The JSON object ``python -m ingest load`` prints."""
        out = {
            "batch_id": self.batch_id, "accepted": self.accepted, "rejected": self.rejected,
            "duplicates": self.duplicates, "errors": self.errors,
        }
        if self.error_count > len(self.errors):
            out["errors_total"] = self.error_count
        if self.warnings:
            out["warnings"] = self.warnings
        if self.warning_count > len(self.warnings):
            out["warnings_total"] = self.warning_count
        if self.ignored_columns:
            out["ignored_columns"] = self.ignored_columns
        return out


@dataclass(frozen=True)
class Origin:
    """Where a batch came from; decides the reporter identity of rows without a code."""

    source: str  # web, api, upload:csv, cli:csv, demo ...
    file_name: str | None = None
    sha256: str | None = None
    fmt: str | None = None
    reporter_code: str | None = None  # the submitter's own code, for rows without one
    ip: str | None = None


def load_frame(con: duckdb.DuckDBPyConnection, raw: pd.DataFrame | Mapping[str, list], origin: Origin, *,
               row_numbers: np.ndarray | None = None, now: datetime | None = None,
               return_ids: bool = False, status: pd.Series | None = None,
               flagger: Flagger | None = None, allow_quick: bool = True) -> LoadResult:
    """Validate ``raw`` (columns named by field: a DataFrame, or lists) and store the good rows as one batch.

    ``status`` ('ok' or 'flagged', one per row) is stored as given. ``flagger``
    (e.g. ``ingest.abuse.AbuseChecks()``) sees the staged rows as a DataFrame
    just before the insert; it may drop rows (they count as duplicates) or set
    their ``status``/``flag_reason``. A few plainly valid rows take the quick
    path (``ingest.quick``; ``allow_quick=False`` forces the full one), which
    stores exactly the same.
    """
    now = now or datetime.now(UTC)
    if allow_quick and status is None:
        clean = quick.clean_rows(raw, now=now)
        if clean is not None:
            return _load_clean(con, clean, origin, row_numbers, now=now, return_ids=return_ids, flagger=flagger)
    if not isinstance(raw, pd.DataFrame):
        rows = len(row_numbers) if row_numbers is not None else quick.row_count(raw)
        raw = pd.DataFrame(dict(raw), index=range(rows), dtype=object)
    with cursor(con) as cur:
        ingest_sql.quiet(cur)
        present = frame_into_raw(cur, raw, row_numbers, status)
        return _load_raw(cur, con, present, origin, now=now, return_ids=return_ids, flagger=flagger)


def load_file(con: duckdb.DuckDBPyConnection, path, *, fmt: str = "auto", source: str | None = None,
              reporter_code: str | None = None, file_name: str | None = None,
              flagger: Flagger | None = None, now: datetime | None = None) -> LoadResult:
    """Read a file (see ingest.readers) and store its good rows as one batch."""
    from core.files import sha256_of
    from ingest.readers import read_into_raw

    path = Path(path)
    with cursor(con) as cur:
        ingest_sql.quiet(cur)
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(sha256_of, path)  # hashlib releases the GIL: hashed while DuckDB reads
            info = read_into_raw(cur, path, fmt)
            origin = Origin(
                source=source or f"upload:{info.fmt}", file_name=file_name or path.name, sha256=digest.result(),
                fmt=info.fmt, reporter_code=reporter_code,
            )
        result = _load_raw(cur, con, info.present, origin, now=now, flagger=flagger, unparsed=info.unparsed)
    result.ignored_columns = info.ignored_columns
    return result


def _load_raw(cur, con, present: set[str], origin: Origin, *, now: datetime | None, return_ids: bool = False,
              flagger: Flagger | None = None, unparsed: list[tuple[int, str]] = ()) -> LoadResult:
    """Check ``raw`` of ``cur`` and store its good rows; ``unparsed`` records count as rejected."""
    now = now or datetime.now(UTC)
    batch_id = str(uuid.uuid4())
    staging = _Staging(origin, batch_id, con, now)
    problems = check_raw(cur, present, now=now, staging=staging)
    _add_unparsed(problems, unparsed)
    rows_read = problems.rows + len(unparsed)
    good = problems.rows - ingest_sql.count_bad(cur)
    repeats_possible = _stage(cur)
    if flagger is not None:
        _apply_flagger(cur, con, flagger)
        repeats_possible = True
    accepted, duplicates, pairs = insert_batch(
        cur, batch_id=batch_id, source=origin.source, received_at=now, file_name=origin.file_name,
        sha256=origin.sha256, fmt=origin.fmt, rows_read=rows_read, rejected=rows_read - good,
        duplicates=0, return_rows=return_ids, repeats_possible=repeats_possible,
    )
    return LoadResult(
        batch_id=batch_id, rows_read=rows_read, accepted=accepted, rejected=rows_read - good,
        duplicates=good - accepted, errors=problems.errors, warnings=problems.warnings,
        error_count=problems.error_count, warning_count=problems.warning_count, report_ids=pairs,
    )


def _add_unparsed(problems, unparsed) -> None:
    """Records that were not reports at all (a JSON line that is no object ...), as errors."""
    if not unparsed:
        return
    extra = [{"row": row, "field": "(record)", "value": None, "message": why} for row, why in unparsed]
    problems.errors = sorted(problems.errors + extra, key=lambda e: e["row"])[:MAX_ERRORS]
    problems.error_count += len(unparsed)


# --- staging -------------------------------------------------------------------------------

def _fallback_identity(origin: Origin, batch_id: str) -> tuple[str, str]:
    """Identity of rows that carry no reporter code.

    A file without codes counts as ONE reporter (its bytes' hash), so it can
    neither fill the k-reporter privacy threshold nor fake an outage alone.
    """
    if origin.reporter_code and code_key(origin.reporter_code):
        return "code", code_key(origin.reporter_code)
    if origin.ip:
        return "ip", origin.ip
    if origin.sha256:
        return "file", origin.sha256
    return "batch", batch_id


class _Staging:
    """What check_raw needs to compute the stored columns: reporter hashes and the batch's identity."""

    def __init__(self, origin: Origin, batch_id: str, con=None, now: datetime | None = None) -> None:
        self.origin, self.batch_id, self.con, self.now = origin, batch_id, con, now or datetime.now(UTC)
        self.prefix_hash = prefix_hash(origin.ip)

    def __call__(self, codes: list[str]) -> tuple[dict[str, pd.DataFrame], dict[str, object]]:
        hashes = self.reporters(codes)
        reporters = pd.DataFrame({"code": pd.array(codes, dtype="string"),
                                  "reporter": pd.array(hashes, dtype="UInt64"),
                                  "source_id": pd.array(self.sources(hashes), dtype="UInt64")})
        return {"reporter_map": reporters}, {"fallback_reporter": self.fallback(), "ip_hash": self.ip_hash(),
                                             "prefix_hash": self.prefix_hash,
                                             "fallback_source": self.sources([self.fallback()])[0]}

    def sources(self, reporters: list[int]) -> list[int]:
        """Each row's source (ingest.sources): the reporter unless a client address is known."""
        mature: set[int] = set()
        if self.prefix_hash is not None and self.con is not None:
            with cursor(self.con) as cur:
                mature = mature_reporters(cur, reporters, self.now)
        return source_ids(reporters, self.prefix_hash, mature)

    def fallback(self) -> int:
        return keyed_hash(*_fallback_identity(self.origin, self.batch_id))

    def reporters(self, codes: list[str | None]) -> list[int]:
        """The stored reporter of each code (the batch's fallback identity for a missing or empty one)."""
        fallback = self.fallback()
        secret = settings.site_secret()  # read once: codes can number in the hundred thousands
        hashes = []
        for code in codes:
            normal = code_key(code) if code is not None else ""
            hashes.append(keyed_hash("code", normal, secret=secret) if normal else fallback)  # cut as warned
        return hashes

    def ip_hash(self) -> int | None:
        return keyed_hash("ip", self.origin.ip) if self.origin.ip else None


_DISTRICTS: dict[int, str | None] = {}  # res-9 cell -> district code; boundaries never change in a run


def _district_codes(cells: np.ndarray) -> pa.Array:
    """District code of each res-9 cell's centre; each distinct cell is placed once per process."""
    inverse, uniques = pd.factorize(cells)  # hashing: several times faster than np.unique's sort
    new = [c for c in uniques.tolist() if c not in _DISTRICTS]
    if new:
        if len(_DISTRICTS) > 2_000_000:  # bound the memory a country-wide upload could take
            _DISTRICTS.clear()
        _DISTRICTS.update(zip(new, cells_to_district_codes(np.array(new, dtype=np.uint64)).tolist(), strict=True))
    codes = pa.array([_DISTRICTS.get(c) for c in uniques.tolist()], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32)), codes).cast(pa.string())


_FINGERPRINT_PARTS = ("micros", "lat", "lon", "network_id", "brand_id", "kind_id", "reporter")


def _plain(values) -> np.ndarray:
    """A numpy array without a mask (fetchnumpy masks columns that could be NULL; good rows have none)."""
    return np.ma.getdata(values) if isinstance(values, np.ma.MaskedArray) else np.asarray(values)


def _computed(numbers: dict) -> pa.Table:
    """H3 cells, district and fingerprint of the good rows, from their numeric columns."""
    lat, lon = _plain(numbers["lat"]), _plain(numbers["lon"])
    cells = latlngs_to_cell_columns(lat, lon)
    return pa.table({
        "row": _plain(numbers["row"]),
        **{name: pa.array(values, type=pa.uint64()) for name, values in cells.items()},
        "sig_cd": _district_codes(cells["h3_r9"]),
        "fingerprint": pa.array(fingerprints(*(_plain(numbers[k]) for k in _FINGERPRINT_PARTS)), type=pa.uint64()),
    })


def _stage(cur) -> bool:
    """View ``staged`` over the good rows of ``checked`` and their computed columns.

    Returns whether a fingerprint repeats within the batch (a hash set here is
    cheaper than asking the database).
    """
    computed = _computed(ingest_sql.good_numbers(cur))
    cur.register("computed", computed)  # registered for the cursor's lifetime; the view reads it
    ingest_sql.staged_view(cur, "computed")
    misaligned = ingest_sql.staged_misaligned(cur, "computed")
    if misaligned:  # never seen; refuse rather than store cells of the wrong rows
        raise StoreError(f"internal error: {misaligned} staged rows out of order; nothing was stored")
    return bool(pd.Series(computed.column("fingerprint").to_numpy()).duplicated().any())


# --- flagger -------------------------------------------------------------------------------

def _apply_flagger(cur, con, flagger: Flagger) -> None:
    """Let ``flagger`` rewrite the staged rows; they replace view ``staged`` (fingerprints recomputed)."""
    frame = flagger(con, ingest_sql.staged_frame(cur))  # ip_hash comes as UInt64: a missing hash stays missing
    _replace_staged(cur, _with_fingerprints(frame.reset_index(drop=True)))


def _with_fingerprints(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (staged columns) with its fingerprints computed from its own columns."""
    frame["fingerprint"] = _staged_fingerprints(
        frame["observed_at"].astype("datetime64[us, UTC]").astype("int64").to_numpy(), frame["lat"], frame["lon"],
        *(frame[c].tolist() for c in ("network", "brand", "kind")), frame["reporter"])
    return frame


def _staged_fingerprints(micros: np.ndarray, lat, lon, network: list, brand: list, kind: list,
                         reporter) -> np.ndarray:
    """``fingerprints`` of staged rows: the carrier, brand and kind texts by their stable ids."""
    ids = (np.array([text_id(v) for v in texts], dtype=np.uint64) for texts in (network, brand, kind))
    return fingerprints(micros, np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), *ids,
                        np.asarray(reporter, dtype=np.uint64))


def _replace_staged(cur, frame: pd.DataFrame) -> None:
    cur.register("flagged_frame", frame)
    try:
        ingest_sql.replace_staged(cur, "flagged_frame")
    finally:
        cur.unregister("flagged_frame")


# --- the quick path ------------------------------------------------------------------------

_STAGED_TYPES = {
    "row": pa.int64(), "observed_at": pa.timestamp("us", tz="UTC"), "lat": pa.float64(), "lon": pa.float64(),
    "accuracy_m": pa.float32(), **{f"h3_r{r}": pa.uint64() for r in range(6, 11)}, "sig_cd": pa.string(),
    "network": pa.string(), "brand": pa.string(), "mvno": pa.bool_(), "tech": pa.string(), "kind": pa.string(),
    "device_model": pa.string(), "reporter": pa.uint64(), "ip_hash": pa.uint64(), "status": pa.string(),
    "flag_reason": pa.string(), "note": pa.string(), "fingerprint": pa.uint64(), "prefix_hash": pa.uint64(),
    "source_id": pa.uint64(),
}


def _as_lists(frame: pd.DataFrame) -> dict[str, list]:
    """Staged rows of a DataFrame as lists of the stored types' values (missing values as None)."""
    return {name: pa.array(frame[name], type=kind, from_pandas=True).to_pylist()
            for name, kind in _STAGED_TYPES.items() if name in frame.columns}


def _load_clean(con, rows: quick.CleanRows, origin: Origin, row_numbers: np.ndarray | None, *, now: datetime,
                return_ids: bool, flagger: Flagger | None) -> LoadResult:
    """Store rows ``ingest.quick`` found plainly valid: the staged columns are computed here, not in SQL.

    The staged rows stay plain lists (field -> values) up to the Arrow table that is inserted: for
    a few rows, building a DataFrame cost more than every check. A flagger with a ``rows`` method
    (ingest.abuse.AbuseChecks) judges them as lists; any other flagger gets the usual DataFrame.
    """
    batch_id = str(uuid.uuid4())
    n = len(rows.lat)
    staging = _Staging(origin, batch_id, con, now)
    cells = latlngs_to_cell_columns(np.array(rows.lat, dtype=float), np.array(rows.lon, dtype=float))
    ip_hash = staging.ip_hash()
    staged = {
        "row": list(range(1, n + 1)) if row_numbers is None else [int(r) for r in row_numbers],
        "observed_at": list(rows.observed_at), "lat": list(rows.lat), "lon": list(rows.lon),
        # As stored (FLOAT): the abuse checks then judge the same metres as on the full path.
        "accuracy_m": [None if a is None else float(np.float32(a)) for a in rows.accuracy_m],
        **{name: values.tolist() for name, values in cells.items()},
        "sig_cd": _district_codes(cells["h3_r9"]).to_pylist(), "network": list(rows.network),
        "brand": list(rows.brand), "mvno": list(rows.mvno), "tech": list(rows.tech), "kind": list(rows.kind),
        "device_model": list(rows.device_model), "reporter": staging.reporters(rows.reporter_code),
        "ip_hash": [ip_hash] * n, "status": ["ok"] * n, "flag_reason": [None] * n, "note": list(rows.note),
        "prefix_hash": [staging.prefix_hash] * n,
    }
    staged["source_id"] = staging.sources(staged["reporter"])
    if flagger is not None:
        staged = flagger.rows(con, staged) if hasattr(flagger, "rows") else \
            _as_lists(flagger(con, _staged_frame(staged)))
    staged["fingerprint"] = _staged_fingerprints(
        epoch_micros(staged["observed_at"]), staged["lat"], staged["lon"], staged["network"], staged["brand"],
        staged["kind"], staged["reporter"]).tolist()
    table = pa.table({name: pa.array(staged[name], type=kind) for name, kind in _STAGED_TYPES.items()})
    with cursor(con) as cur:
        accepted, _, pairs = insert_small_batch(
            cur, table, batch_id=batch_id, source=origin.source,
            received_at=now, rows_read=n, file_name=origin.file_name, sha256=origin.sha256, fmt=origin.fmt,
        )
    pairs = pairs if return_ids else []
    return LoadResult(batch_id=batch_id, rows_read=n, accepted=accepted, rejected=0, duplicates=n - accepted,
                      report_ids=pairs)


def _staged_frame(staged: dict[str, list]) -> pd.DataFrame:
    """Staged rows held as lists, as the DataFrame a flagger gets from the full path."""
    frame = pd.DataFrame({name: np.array(values, dtype=object) for name, values in staged.items()})
    frame["row"] = np.array(staged["row"], dtype=np.int64)
    frame["observed_at"] = pd.DatetimeIndex(staged["observed_at"]).as_unit("us")
    for name in ("lat", "lon"):
        frame[name] = np.array(staged[name], dtype=float)
    frame["accuracy_m"] = np.array([np.nan if a is None else a for a in staged["accuracy_m"]], dtype=np.float32)
    for name in (*(f"h3_r{r}" for r in range(6, 11)), "reporter", "source_id"):
        frame[name] = np.array(staged[name], dtype=np.uint64)
    frame["mvno"] = np.array(staged["mvno"], dtype=bool)
    frame["ip_hash"] = pd.array(staged["ip_hash"], dtype="UInt64")
    frame["prefix_hash"] = pd.array(staged["prefix_hash"], dtype="UInt64")
    return frame


# --- fingerprints --------------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread 64-bit mixing of integers (arrays only)."""
    x = np.multiply(x ^ (x >> np.uint64(30)), _M1, dtype=np.uint64)
    x = np.multiply(x ^ (x >> np.uint64(27)), _M2, dtype=np.uint64)
    return x ^ (x >> np.uint64(31))


def fingerprints(micros, lat, lon, network_id, brand_id, kind_id, reporter) -> np.ndarray:
    """A report's identity for duplicates: reporter, time (µs), place (~0.1 m), carrier and kind.

    Defined here rather than by a database hash function, so it never changes
    with a DuckDB upgrade; vectorised numpy (a million rows: well under a second).
    """
    def u64(values) -> np.ndarray:
        return np.asarray(values).astype(np.int64 if np.asarray(values).dtype.kind in "if" else np.uint64,
                                         copy=False).view(np.uint64)

    fp = _mix(u64(micros))
    for part in (u64(np.round(np.asarray(lat, dtype=float) * 1e6)), u64(np.round(np.asarray(lon, dtype=float) * 1e6)),
                 u64(network_id), u64(brand_id), u64(kind_id), u64(reporter)):
        fp = _mix(fp ^ part)
    return fp
