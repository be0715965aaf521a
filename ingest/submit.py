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

import ipaddress
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core import settings
from core.errors import InputError
from ingest.abuse import AbuseChecks, reserve_quota
from ingest.identity import keyed_hash, normalise_code
from ingest.loader import Origin, load_frame

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
    raw: pd.DataFrame
    source: str
    reporter_code: str | None
    ip: str | None
    con: object
    result: SubmissionResult | None = None
    error: BaseException | None = None
    done: bool = False
    identity: str = field(default_factory=lambda: "request:" + uuid.uuid4().hex)


def clean_ip(value) -> str | None:
    """A client address as text when it is one (the site's session may know none), else None."""
    try:
        return str(ipaddress.ip_address(value.strip())) if isinstance(value, str) else None
    except ValueError:
        return None


def client_address(peer, forwarded) -> str | None:
    """The client's address: the connection's peer, or X-Forwarded-For as written by trusted proxies.

    With DROPMAP_TRUSTED_PROXIES=N (default 0) the N-th address from the right
    of X-Forwarded-For is the client (each trusted proxy appends the address it
    saw); with 0 the header is ignored, since any client can send it.
    """
    # The peer comes from the socket layer: kept as given (a test client names itself).
    peer = peer if isinstance(peer, str) and peer else None
    hops = settings.get_int("DROPMAP_TRUSTED_PROXIES")
    if hops <= 0 or not isinstance(forwarded, str) or not forwarded.strip():
        return peer
    chain = [part.strip() for part in forwarded.split(",") if part.strip()]
    candidate = chain[-hops] if len(chain) >= hops else chain[0]
    return clean_ip(candidate) or peer


def code_hash(code: str) -> int:
    """The stored form of a reporter code (as ingest.loader computes it)."""
    return keyed_hash("code", normalise_code(code))


def ip_hash(ip: str) -> int:
    return keyed_hash("ip", ip)


def request_codes(raw: pd.DataFrame, reporter_code: str | None) -> set[str]:
    """The distinct (normalised) reporter codes a submission carries."""
    codes = {normalise_code(reporter_code)} if reporter_code and normalise_code(reporter_code) else set()
    if "reporter_code" in raw.columns:
        for value in raw["reporter_code"].dropna().astype(str):
            if normalise_code(value):
                codes.add(normalise_code(value))
    return codes


def submit_reports(con, raw: pd.DataFrame, *, source: str, reporter_code: str | None = None,
                   ip: str | None = None) -> SubmissionResult:
    """Rate-limit, check and store one submission (a form, an API request); blocks until stored.

    Raises InputError when the submission mixes reporter codes and
    ingest.abuse.RateLimitedError when its code or IP is over the hourly limit.
    """
    codes = request_codes(raw, reporter_code)
    if len(codes) > 1:
        raise InputError("reporter_code", f"{len(codes)} codes",
                         "one submission may carry one reporter's reports; send each reporter's separately")
    code = next(iter(codes), None)
    reserve_quota(code_hash=code_hash(code) if code else None, ip_hash=ip_hash(ip) if ip else None,
                  count=len(raw))
    return _SUBMITTER.submit(_Submission(raw.reset_index(drop=True), source, code, ip, con))


class _GroupCommit:
    """Leader/follower batching: the first waiting submitter stores everything pending."""

    def __init__(self) -> None:
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # a batch was stored
        self._arrived = threading.Condition(lock)  # a submission joined the pending ones
        self._pending: list[_Submission] = []
        self._leading = False
        self._inside = 0  # submissions between arriving and leaving submit()
        self._peak = 1  # most submissions inside at once since the last batch was taken
        self._expected = 1  # pending submissions a new batch waits for (the peak before it)

    def submit(self, sub: _Submission) -> SubmissionResult:
        with self._cond:
            self._pending.append(sub)
            self._inside += 1
            self._peak = max(self._peak, self._inside)
            self._arrived.notify()
            while self._leading and not sub.done:
                self._cond.wait()
            if not sub.done:
                self._leading = True
                self._gather()
                batch = self._take(sub)
        if not sub.done:
            try:
                _store(batch)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        with self._cond:
            self._inside -= 1
        if sub.error is not None:
            raise sub.error
        return sub.result

    def _gather(self) -> None:
        """Wait (the lock held) until as many submissions are pending as were inside at once
        during the last batch, or GATHER_SECONDS.

        When a batch is stored its submitters answer their clients, and those
        send their next reports a few milliseconds later; without this wait the
        first of them would lead a small batch, and the clients would split
        into small groups taking turns. A lone client never waits; when clients
        go away, one short wait finds the new, smaller number.
        """
        deadline = time.monotonic() + GATHER_SECONDS
        while len(self._pending) < self._expected:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.wait(timeout=left)

    def _take(self, leader: _Submission) -> list[_Submission]:
        """The leader and the pending submissions that can share its batch (same connection and source)."""
        batch, rest, rows = [leader], [], len(leader.raw)
        for sub in self._pending:
            if sub is leader:
                continue
            if sub.con is leader.con and sub.source == leader.source and rows + len(sub.raw) <= MAX_BATCH_ROWS:
                batch.append(sub)
                rows += len(sub.raw)
            else:
                rest.append(sub)
        self._pending = rest
        self._expected, self._peak = self._peak, self._inside
        return batch


_SUBMITTER = _GroupCommit()


def _store(batch: list[_Submission]) -> None:
    """Store a batch of submissions as one load and hand each its own result."""
    try:
        merged, owner = _merge(batch)
        flagger = _IdentityThenChecks(batch, owner, AbuseChecks())
        with _gate:
            loaded = load_frame(
                batch[0].con, merged, Origin(source=batch[0].source), row_numbers=np.arange(1, len(merged) + 1),
                now=datetime.now(UTC), return_ids=True, flagger=flagger,
            )
        _split(batch, owner, loaded, flagger)
    except BaseException as e:  # every waiting submitter hears about the failure
        for sub in batch:
            sub.error = e
    finally:
        for sub in batch:
            sub.done = True


def _merge(batch: list[_Submission]) -> tuple[pd.DataFrame, np.ndarray]:
    """One frame of every submission's rows; ``owner[i]`` is the submission of merged row i+1.

    Built from plain lists: concatenating a few one-row DataFrames costs more than storing them.
    A submission's own code fills its rows that carry none (codes given are kept, stripped).
    """
    columns = list(dict.fromkeys(c for sub in batch for c in sub.raw.columns))
    if any(sub.reporter_code for sub in batch) and "reporter_code" not in columns:
        columns.append("reporter_code")
    data: dict[str, list] = {c: [] for c in columns}
    owners = []
    for n, sub in enumerate(batch):
        rows = len(sub.raw)
        for c in columns:
            data[c].extend(sub.raw[c].tolist() if c in sub.raw.columns else [None] * rows)
        if sub.reporter_code:
            codes = data["reporter_code"]
            for i in range(len(codes) - rows, len(codes)):
                code = None if _missing(codes[i]) else str(codes[i]).strip()
                codes[i] = code or sub.reporter_code
        owners.append(np.full(rows, n))
    return pd.DataFrame(data, dtype=object), np.concatenate(owners)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


class _IdentityThenChecks:
    """Flagger for a merged batch: restore each submission's identity, then the abuse checks."""

    def __init__(self, batch: list[_Submission], owner: np.ndarray, checks: AbuseChecks) -> None:
        self.batch, self.owner, self.checks = batch, owner, checks
        self.valid_rows: set[int] = set()

    def __call__(self, con, staged: pd.DataFrame) -> pd.DataFrame:
        self.valid_rows = set(staged["row"].tolist())
        if staged.empty:
            return staged
        subs = self.owner[staged["row"].to_numpy() - 1].tolist()
        ip_of = {n: ip_hash(self.batch[n].ip) for n in set(subs) if self.batch[n].ip}
        staged["ip_hash"] = pd.array([ip_of.get(n) for n in subs], dtype="UInt64")
        # Rows without any code: the loader gave the whole merged batch one identity;
        # each submission's own is its IP (as for an unmerged batch), else the request.
        codeless = [i for i, n in enumerate(subs) if not self.batch[n].reporter_code]
        if codeless:
            reporters = staged["reporter"].to_numpy(dtype=np.uint64).copy()
            for i in codeless:
                sub = self.batch[subs[i]]
                reporters[i] = keyed_hash(*(("ip", sub.ip) if sub.ip else ("request", sub.identity)))
            staged["reporter"] = reporters
        return self.checks(con, staged)


def _split(batch: list[_Submission], owner: np.ndarray, loaded, flagger: _IdentityThenChecks) -> None:
    """Each submission's share of the merged load, with its own row numbers."""
    offsets = np.concatenate([[0], np.cumsum([len(s.raw) for s in batch])])
    results = [SubmissionResult(rows=len(s.raw)) for s in batch]
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
