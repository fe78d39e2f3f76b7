"""Reads that may go to a PostgreSQL read replica, and the router that sends them there.

With DATABASE_REPLICA_URL set, the settings add a `replica` database and this router. Reads go
to the replica only inside `reads_from_replica()`, which the views that may use it (sync)
enter; everything else, and every write, goes to the primary. A view on the replica that
finds the replica behind what it must answer (the caller's cursor past the replica's head, a
checkpoint the replica has not received yet) raises `ReplicaBehind`, and the view answers
from the primary instead: the lag policy in docs/operations.md ("Read replica"). A replica
that cannot be reached is treated the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError

logger = logging.getLogger(__name__)

REPLICA = "replica"
_reading: ContextVar[str | None] = ContextVar("hashfed_read_database", default=None)

T = TypeVar("T")


class ReplicaBehind(Exception):
    """The replica has not yet replayed what this answer needs: answer from the primary."""


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def reading_from_replica() -> bool:
    return _reading.get() == REPLICA


@contextmanager
def reads_from_replica() -> Iterator[None]:
    token = _reading.set(REPLICA)
    try:
        yield
    finally:
        _reading.reset(token)


def replica_or_primary(answer: Callable[[], T]) -> T:
    """`answer()` with its reads on the replica when one is configured; again on the primary
    if the replica is behind what it needs, or cannot be reached."""
    if replica_configured():
        try:
            with reads_from_replica():
                return answer()
        except ReplicaBehind:
            pass
        except OperationalError:
            logger.warning("the read replica failed; answering from the primary", exc_info=True)
    return answer()


class ReadReplicaRouter:
    """Reads inside `reads_from_replica()` go to the replica; all else to the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return _reading.get()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # The replica is a copy of the primary: rows from either are the same rows.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
