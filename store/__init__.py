"""The one DuckDB database: connection factory, migrations and all SQL."""

from store.db import connect, shared_connection

__all__ = ["connect", "shared_connection"]
