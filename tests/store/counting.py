"""What reached the database, counted where SQLAlchemy hands it to the driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from store import Store


def count_statements(store: Store, prefix: str) -> list[int]:
    """How many statements starting with `prefix` reached the database (a list of parameters is one)."""
    count = [0]

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        count[0] += statement.lstrip().upper().startswith(prefix.upper())

    event.listen(store.engine.sync_engine, "before_cursor_execute", on_execute)
    return count


def count_commits(store: Store) -> list[int]:
    commits = [0]

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    event.listen(store.engine.sync_engine, "commit", on_commit)
    return commits
