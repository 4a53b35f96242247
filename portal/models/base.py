"""The declarative base every model derives from, its naming convention, and the shared
column types."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Dialect, Enum, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time in UTC (the only clock read outside a request's ``now``)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """All models; money is BigInteger so any currency's balance fits."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigInteger().with_variant(Integer(), "sqlite")
    }


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored as today's ``DateTime(timezone=True)`` columns store it (naive UTC
    text on SQLite, ``timestamptz`` on PostgreSQL) and always read back as an aware UTC
    datetime. A naive datetime written is taken to be UTC already, as every stored time is.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware UTC on the way in: SQLite keeps the wall time and drops the zone."""
        return None if value is None else _utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware UTC on the way out: SQLite hands back naive datetimes."""
        return None if value is None else _utc(value)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def codes(enum: type[StrEnum], *, name: str, length: int) -> Enum:
    """A column of one of ``enum``'s codes: stored as the same ``VARCHAR(length)`` text as a
    plain string column, read back as the enum's member, and guarded by a CHECK constraint
    named ``ck_<table>_<name>`` (migration 0008) that refuses any other value."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=_values,
        validate_strings=False,
    )


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]
