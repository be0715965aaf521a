"""Background outage detector living in the site's process."""

from __future__ import annotations


def start_background() -> None:
    """Start the periodic scan (filled in by the outages package)."""


def stop_background() -> None:
    """Stop the periodic scan."""
