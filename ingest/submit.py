"""Reports from people (the site's form, the HTTP API): rate-limited, checked, stored.

Every submission goes through ``ingest.loader.load_frame`` (the one validation
path) with ``ingest.abuse.AbuseChecks`` as its flagger.

Submissions that arrive while another is being stored are stored together in
one batch ("group commit"): a load costs about the same for 1 row as for 100
(fixed pandas and DuckDB overheads), so under load many clients share one
load instead of queueing for one each. Each submission keeps its own identity:
reporter (its code, else its IP's keyed hash) and IP hash are set per row, so a
merged batch stores exactly what separate batches would have stored.

Only one batch is checked and stored at a time per connection (``writer_gate``),
so the near-duplicate check always sees every report stored before it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.errors import InputError
from ingest.abuse import AbuseChecks, RateLimitedError, reserve_quota
from ingest.codes import is_issued, refuse_unknown
from ingest.fields import UNENCODABLE, is_missing, unencodable_field
from ingest.identity import code_key, keyed_hash
from ingest.loader import Origin, load_frame
from ingest.quick import row_count
from ingest.sources import mature_reporters, prefix_hash, source_ids
from store.db import cursor

MAX_BATCH_ROWS = 5000  # a merged batch stops growing here, so one load stays short
GATHER_SECONDS = 0.020  # the longest a new batch waits for submissions on their way

_gate = threading.Lock()


def writer_gate() -> threading.Lock:
    """Held while a batch of people's reports is checked and stored; uploads take it per chunk."""
    return _gate


@dataclass
class SubmissionResult:
    rows: int
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)  # [{"row", "id", "status"}] of stored rows
    collapsed: list[dict] = field(default_factory=list)  # [{"row", "message"}] near-duplicates

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.reports if r["status"] != "ok")


@dataclass
class _Submission:
    raw: dict[str, list]  # field -> one value per row (a DataFrame given is turned into lists)
    source: str
    reporter_code: str | None
    ip: str | None
    con: object
    result: SubmissionResult | None = None
    error: BaseException | None = None
    future: Future = field(default_factory=Future)
    identity: str = field(default_factory=lambda: "request:" + uuid.uuid4().hex)
    rows: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.raw, pd.DataFrame):
            self.rows = len(self.raw)
            self.raw = {str(c): self.raw[c].tolist() for c in self.raw.columns}
            return
        # Records naming no known field have no columns at all: their number is given, not counted.
        counted = row_count(self.raw)
        if self.raw and self.rows and counted != self.rows:
            raise ValueError(f"{counted} values per column for {self.rows} records")
        self.rows = self.rows or counted


def code_hash(code: str) -> int:
    """The stored form of a reporter code (as ingest.loader computes it: cut, then normalised)."""
    return keyed_hash("code", code_key(code))


def ip_hash(ip: str) -> int:
    return keyed_hash("ip", ip)


def request_codes(raw: pd.DataFrame | Mapping[str, list], reporter_code: str | None) -> set[str]:
    """The distinct reporter codes a submission carries, as stored: cut at 64 characters, then
    normalised (``ingest.identity.code_key``, the loader's own rule)."""
    codes = {code_key(reporter_code)} if reporter_code and code_key(reporter_code) else set()
    if "reporter_code" in raw:
        values = raw["reporter_code"].tolist() if isinstance(raw, pd.DataFrame) else raw["reporter_code"]
        for value in values:
            if not is_missing(value) and code_key(str(value)):
                codes.add(code_key(str(value)))
    return codes


def submit_reports(con, raw: pd.DataFrame | Mapping[str, list], *, source: str, reporter_code: str | None = None,
                   ip: str | None = None) -> SubmissionResult:
    """Rate-limit, check and store one submission (a form, an API request); blocks until stored.

    Raises InputError when the submission mixes reporter codes and
    ingest.abuse.RateLimitedError when its code or IP is over the hourly limit.
    """
    return start_submission(con, raw, source=source, reporter_code=reporter_code, ip=ip).result()


def start_submission(con, raw: pd.DataFrame | Mapping[str, list], *, source: str, reporter_code: str | None = None,
                     ip: str | None = None, rows: int = 0, text_checked: bool = False) -> Future:
    """``submit_reports`` without the wait: a future of its SubmissionResult (an event loop awaits it
    with ``asyncio.wrap_future``). The limits are checked at once: InputError and RateLimitedError
    are raised here, not through the future. ``rows``: the number of records when ``raw`` is lists
    (records naming no known field add no column, yet each is a row to reject).

    Text that cannot be stored (a lone surrogate) fails this submission alone, through its future,
    before it reaches the writer thread; ``text_checked``: the caller already checked it (the API
    does, to name the row)."""
    codes = request_codes(raw, reporter_code)
    if len(codes) > 1:
        raise InputError("reporter_code", f"{len(codes)} codes",
                         "one submission may carry one reporter's reports; send each reporter's separately")
    code = next(iter(codes), None)
    sub = _Submission(raw, source, code, ip, con, rows=rows)
    problem = None if text_checked else unencodable_field(sub.raw)
    if problem:
        refused: Future = Future()
        refused.set_exception(InputError(problem[0], problem[1], UNENCODABLE))
        return refused
    reserve_quota(code_hash=code_hash(code) if code else None, ip_hash=ip_hash(ip) if ip else None,
                  prefix_hash=prefix_hash(ip), count=sub.rows)
    return _SUBMITTER.submit(sub)


class _GroupCommit:
    """One writer thread stores the pending submissions, as many together as are waiting.

    Submitters only queue their rows and wait on a future: the API's event loop
    awaits it without a worker thread, and a finished batch wakes its submitters
    by completing their futures (one hand-over each, not a thread's wake-up).
    """

    def __init__(self) -> None:
        self._arrived = threading.Condition(threading.Lock())  # a submission joined the pending ones
        self._pending: list[_Submission] = []
        self._writer: threading.Thread | None = None
        self._inside = 0  # submissions between arriving and being answered
        self._peak = 1  # most submissions inside at once since the last batch was taken
        self._expected = 1  # pending submissions a new batch waits for (the peak before it)

    def submit(self, sub: _Submission) -> Future:
        with self._arrived:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, name="dropmap-report-writer", daemon=True)
                self._writer.start()
            self._pending.append(sub)
            self._inside += 1
            self._peak = max(self._peak, self._inside)
            self._arrived.notify()
        return sub.future

    def _run(self) -> None:
        while True:
            with self._arrived:
                while not self._pending:
                    self._arrived.wait()
                self._gather()
                batch = self._take()
            if not batch:
                continue
            _store(batch)  # never raises: a failure is handed to every submitter of the batch
            with self._arrived:
                self._inside -= len(batch)
            for sub in batch:
                if sub.error is not None:
                    sub.future.set_exception(sub.error)
                else:
                    sub.future.set_result(sub.result)

    def _gather(self) -> None:
        """Wait (the lock held) until as many submissions are pending as were inside at once
        during the last batch, or GATHER_SECONDS.

        When a batch is stored its submitters answer their clients, and those
        send their next reports a few milliseconds later; without this wait the
        first of them would make a batch of one, and the clients would split
        into small groups taking turns. A lone client never waits; when clients
        go away, one short wait finds the new, smaller number.
        """
        deadline = time.monotonic() + GATHER_SECONDS
        while len(self._pending) < self._expected:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.wait(timeout=left)

    def _take(self) -> list[_Submission]:
        """The oldest pending submission and those that can share its batch (same connection and source)."""
        first = self._pending[0]
        batch, rest, rows = [first], [], first.rows
        for sub in self._pending[1:]:
            if sub.con is first.con and sub.source == first.source and rows + sub.rows <= MAX_BATCH_ROWS:
                batch.append(sub)
                rows += sub.rows
            else:
                rest.append(sub)
        self._pending = rest
        self._expected, self._peak = self._peak, self._inside
        # From here a submission runs to its end; one whose waiter went away before (an API client
        # that disconnected: its future was cancelled) is dropped, unanswered and unstored.
        running = [sub for sub in batch if sub.future.set_running_or_notify_cancel()]
        self._inside -= len(batch) - len(running)
        return running


_SUBMITTER = _GroupCommit()


def _store(batch: list[_Submission]) -> None:
    """Store a batch of submissions as one load and hand each its own result.

    One submission never fails another (issue 11): text that cannot be stored is refused before
    a submission is queued (``start_submission``), and when a merged load fails anyway, each
    submission is stored on its own, so only the one at fault hears of the failure.
    """
    try:
        clean = _admitted(batch)
    except BaseException as e:  # the store could not be asked about the codes: everyone hears it
        for sub in batch:
            sub.error = e
        return
    if not clean:
        return
    try:
        _store_merged(clean)
    except BaseException as e:
        if len(clean) == 1:
            clean[0].error = e
            return
        for sub in clean:  # the batch as a whole failed: each on its own, so only the one at fault fails
            try:
                _store_merged([sub])
            except BaseException as own:  # its waiter hears about its own failure
                sub.error = own


def _store_merged(batch: list[_Submission]) -> None:
    """One load of every submission in ``batch``; raises when it fails."""
    now = datetime.now(UTC)
    merged, owner = _merge(batch)
    flagger = _IdentityThenChecks(batch, owner, AbuseChecks(), _mature(batch, now))
    with _gate:
        loaded = load_frame(
            batch[0].con, merged, Origin(source=batch[0].source), row_numbers=np.arange(1, len(owner) + 1),
            now=now, return_ids=True, flagger=flagger,
        )
    _split(batch, owner, loaded, flagger)


def _admitted(batch: list[_Submission]) -> list[_Submission]:
    """The submissions whose code the site issued or already holds; the others get an InputError
    (ingest.codes.refuse_unknown) and are not stored."""
    unissued = [sub for sub in batch if sub.reporter_code and not is_issued(sub.reporter_code)]
    refused: set[int] = set()
    if unissued:
        with cursor(unissued[0].con) as cur:
            for sub in unissued:
                try:
                    refuse_unknown(cur, sub.reporter_code, sub.ip)
                except (InputError, RateLimitedError) as e:
                    sub.error = e
                    refused.add(id(sub))
    return [sub for sub in batch if id(sub) not in refused]


def _mature(batch: list[_Submission], now: datetime) -> set[int]:
    """The batch's codes old enough to count as their own source (ingest.sources)."""
    hashes = [code_hash(sub.reporter_code) for sub in batch if sub.reporter_code and sub.ip]
    if not hashes:
        return set()
    with cursor(batch[0].con) as cur:
        return mature_reporters(cur, hashes, now)


def _merge(batch: list[_Submission]) -> tuple[dict[str, list], np.ndarray]:
    """Every submission's rows as one set of columns (lists); ``owner[i]`` is the submission of merged row i+1.

    A submission's own code fills its rows that carry none (codes given are kept, stripped).
    """
    columns = list(dict.fromkeys(c for sub in batch for c in sub.raw))
    if any(sub.reporter_code for sub in batch) and "reporter_code" not in columns:
        columns.append("reporter_code")
    data: dict[str, list] = {c: [] for c in columns}
    owners = []
    for n, sub in enumerate(batch):
        rows = sub.rows
        for c in columns:
            data[c].extend(sub.raw[c] if c in sub.raw else [None] * rows)
        if sub.reporter_code:
            codes = data["reporter_code"]
            for i in range(len(codes) - rows, len(codes)):
                code = None if is_missing(codes[i]) else str(codes[i]).strip()
                codes[i] = code or sub.reporter_code
        owners.append(np.full(rows, n))
    return data, np.concatenate(owners)


class _IdentityThenChecks:
    """Flagger for a merged batch: restore each submission's identity, then the abuse checks."""

    def __init__(self, batch: list[_Submission], owner: np.ndarray, checks: AbuseChecks,
                 mature: set[int] | None = None) -> None:
        self.batch, self.owner, self.checks, self.mature = batch, owner, checks, mature or set()
        self.valid_rows: set[int] = set()

    def __call__(self, con, staged: pd.DataFrame) -> pd.DataFrame:
        if staged.empty:
            self.valid_rows = set()
            return staged
        ip_hashes, reporters, prefixes, sources = self._identities(staged["row"].tolist(),
                                                                   staged["reporter"].tolist())
        staged["ip_hash"] = pd.array(ip_hashes, dtype="UInt64")
        staged["reporter"] = np.array(reporters, dtype=np.uint64)
        staged["prefix_hash"] = pd.array(prefixes, dtype="UInt64")
        staged["source_id"] = np.array(sources, dtype=np.uint64)
        return self.checks(con, staged)

    def rows(self, con, staged: dict[str, list]) -> dict[str, list]:
        """The same on staged rows held as lists (the loader's quick path)."""
        if not staged["row"]:
            self.valid_rows = set()
            return staged
        ip_hashes, reporters, prefixes, sources = self._identities(staged["row"], staged["reporter"])
        return self.checks.rows(con, {**staged, "ip_hash": ip_hashes, "reporter": reporters,
                                      "prefix_hash": prefixes, "source_id": sources})

    def _identities(self, rows: list[int], reporters: list[int]) -> tuple[list, list[int], list, list[int]]:
        """Each row's IP hash, reporter, network prefix and source, from the submission it came from
        (``rows`` are merged row numbers).

        Rows without any code: the loader gave the whole merged batch one identity;
        each submission's own is its IP (as for an unmerged batch), else the request.
        The source is the reporter when the code is mature or no address is known,
        else the prefix (ingest.sources).
        """
        self.valid_rows = set(rows)
        subs = [int(self.owner[row - 1]) for row in rows]
        ip_of = {n: ip_hash(self.batch[n].ip) for n in set(subs) if self.batch[n].ip}
        prefix_of = {n: prefix_hash(self.batch[n].ip) for n in set(subs)}
        reporters = [int(r) for r in reporters]
        sources = []
        for i, n in enumerate(subs):
            sub = self.batch[n]
            if not sub.reporter_code:
                reporters[i] = keyed_hash(*(("ip", sub.ip) if sub.ip else ("request", sub.identity)))
            sources.append(source_ids([reporters[i]], prefix_of[n], self.mature)[0])
        return [ip_of.get(n) for n in subs], reporters, [prefix_of[n] for n in subs], sources


def _split(batch: list[_Submission], owner: np.ndarray, loaded, flagger: _IdentityThenChecks) -> None:
    """Each submission's share of the merged load, with its own row numbers."""
    offsets = np.concatenate([[0], np.cumsum([s.rows for s in batch])])
    results = [SubmissionResult(rows=s.rows) for s in batch]
    for report_id, row in loaded.report_ids:
        n = owner[row - 1]
        status = "flagged" if row in flagger.checks.flagged else "ok"
        results[n].reports.append({"row": int(row - offsets[n]), "id": report_id, "status": status})
    for kind in ("errors", "warnings"):
        for problem in getattr(loaded, kind):
            n = owner[problem["row"] - 1]
            getattr(results[n], kind).append({**problem, "row": int(problem["row"] - offsets[n])})
    for row, why in flagger.checks.collapsed.items():
        n = owner[row - 1]
        results[n].collapsed.append({"row": int(row - offsets[n]), "message": why})
    for n, (sub, result) in enumerate(zip(batch, results, strict=True)):
        rows = range(int(offsets[n]) + 1, int(offsets[n + 1]) + 1)
        result.accepted = len(result.reports)
        result.rejected = sum(1 for r in rows if r not in flagger.valid_rows)
        result.duplicates = result.rows - result.accepted - result.rejected
        sub.result = result
