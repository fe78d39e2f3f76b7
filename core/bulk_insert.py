"""Inserting many rows of one model at once: COPY on PostgreSQL, bulk_create elsewhere.

A batch of submissions writes thousands of rows (submissions, their labels, the signals and
change-log entries a trusted batch lists, the Merkle nodes). bulk_create spends most of its
time building one INSERT with a placeholder per value and having the driver parse it again;
COPY streams the same rows with no SQL to build. Same rows, same constraints: a unique
violation raises IntegrityError from COPY as from INSERT, and undoes the transaction (or
savepoint) it runs in. No model signals are sent, as with bulk_create.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)

# Fields whose Python values (str, int, bool, bytes, UUID, aware datetime, None) the driver
# writes as they are: no per-value call into the field on the way to COPY.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.BinaryField,
    models.UUIDField,
    models.DateTimeField,
    models.FloatField,
    models.ForeignKey,
)


def rows_insert(model: type[M], objs: list[M], *, set_ids: bool = True) -> list[M]:
    """Insert `objs` (unsaved instances of `model`, primary keys unset) and return them.

    With `set_ids`, each gets its primary key, as bulk_create sets it; without, the rows
    are written and the instances keep no key (for rows nothing refers to, such as those of
    a many-to-many table). Fields with `auto_now(_add)` are stamped as bulk_create does.
    """
    if not objs:
        return objs
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_create(objs)
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    for obj in objs:
        for f in stamped:
            f.pre_save(obj, add=True)
    names = [f.attname for f in fields]
    ids = _copy(model, names, [[getattr(obj, n) for n in names] for obj in objs], set_ids)
    pk_name = meta.pk.attname if meta.pk is not None else "id"
    for index, obj in enumerate(objs):
        if set_ids:
            setattr(obj, pk_name, ids[index])
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def values_insert(
    model: type[models.Model], rows: list[dict[str, Any]], *, set_ids: bool = True
) -> list[int]:
    """Insert rows given as {field attname: value} (the others take their field's default,
    computed once for the lot) and return their primary keys, in order. Spares building a
    model instance per row where the caller needs only the keys. Without `set_ids`, no key
    is taken or returned (for rows nothing refers to, as in rows_insert)."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model._default_manager.bulk_create([model(**row) for row in rows])
        return [obj.pk for obj in created] if set_ids else []
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    names = [f.attname for f in fields]
    defaults = {f.attname: f.get_default() for f in fields if f.attname not in rows[0]}
    values = [[row[n] if n in row else defaults[n] for n in names] for row in rows]
    return _copy(model, names, values, set_ids)


def _copy(
    model: type[models.Model], names: list[str], values: list[list[Any]], set_ids: bool
) -> list[int]:
    meta = model._meta
    by_name = {f.attname: f for f in meta.concrete_fields}

    def quote(name: str | None) -> str:
        assert name is not None  # concrete fields have columns
        return str(connection.ops.quote_name(name))

    columns = [quote(by_name[n].column) for n in names]
    ids: list[int] = []
    if set_ids:
        assert meta.pk is not None
        ids = _ids_take(meta.db_table, str(meta.pk.column), len(values))
        columns.insert(0, quote(meta.pk.column))
    prepared = [
        (position, by_name[n].get_db_prep_save)
        for position, n in enumerate(names)
        if not isinstance(by_name[n], _PLAIN_FIELDS)
    ]
    statement = f"COPY {quote(meta.db_table)} ({', '.join(columns)}) FROM STDIN"
    # The driver's own cursor (Django's wrapper has no COPY), with the database's errors
    # turned into Django's as on any other statement: IntegrityError for a unique violation.
    with connection.cursor() as wrapper:
        # Recorded like any statement where queries are (DEBUG, CaptureQueriesContext).
        logged = wrapper.debug_sql(statement) if connection.queries_logged else nullcontext()
        with logged, connection.wrap_database_errors, wrapper.cursor.copy(statement) as copy:
            for index, row in enumerate(values):
                for position, to_db in prepared:
                    row[position] = to_db(row[position], connection)
                copy.write_row([ids[index], *row] if set_ids else row)
    return ids


def _ids_take(table: str, column: str, count: int) -> list[int]:
    """`count` values of the table's id sequence, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return [row[0] for row in cursor.fetchall()]
