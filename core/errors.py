"""One error hierarchy for the whole project.

Every error carries a message a person can act on: what went wrong and how to
fix it. The UI shows ``str(error)`` with ``st.error``; the CLIs print it on one
line to stderr.
"""

from __future__ import annotations


class DropMapError(Exception):
    """Base class of every error this project raises on purpose."""


class InputError(DropMapError, ValueError):
    """A value from outside (a file, a form, a request) is not acceptable.

    ``field`` and ``value`` name what was wrong; ``message`` says how to fix it.
    """

    def __init__(self, field: str, value: object, message: str) -> None:
        self.field = field
        self.value = value
        self.message = message
        super().__init__(f"{field}={value!r}: {message}")


class UnreadableFileError(DropMapError):
    """A file could not be read at all, or its format is unknown."""


class StoreError(DropMapError):
    """The database refused an operation; the message says what to do."""


class DatabaseLockedError(StoreError):
    """Another process (usually the running site) holds the database file."""


class RateLimitedError(DropMapError):
    """Too many events (reports, codes, requests ...) from one code, address or network in the window;
    ``retry_after`` in seconds. Counted by store.limits."""

    def __init__(self, scope: str, limit: int, retry_after: int) -> None:
        self.scope = scope
        self.limit = limit
        self.retry_after = retry_after
        unit, _, per = scope.rpartition(":")  # "codes:network prefix": codes counted per network prefix
        super().__init__(
            f"rate limit: at most {limit} {unit or 'reports'} per hour per {per}; try again in {retry_after} s"
        )
