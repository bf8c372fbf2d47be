"""tortoise's SQLite engine, with its one lock released when opening the file fails.

tortoise 1.1.9 takes the client's lock and then opens the connection (`ConnectionWrapper` and
`SqliteTransactionContext.__aenter__`); when opening fails (the file cannot be opened) the lock
is never released and every later query of the process waits forever. Here a failed open
releases it, so each request answers 503 and the next one tries again. Named as the engine in
infra.db's configuration for SQLite URLs."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import ConnectionWrapper, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient as _TortoiseSqliteClient,
)
from tortoise.backends.sqlite.client import (
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)


class _ConnectionWrapper(ConnectionWrapper[Any]):
    async def __aenter__(self) -> Any:
        await self._lock.acquire()
        try:
            await self.ensure_connection()
        except BaseException:
            self._lock.release()
            raise
        return self.connection


class _TransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> Any:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
        except BaseException:
            self._trxlock.release()
            raise
        return await self._begin()

    async def _begin(self) -> Any:
        from tortoise.connection import get_connections

        self.token = get_connections().set(self.connection_name, self.connection)
        try:
            await self.connection.begin()
        except BaseException:
            get_connections().reset(self.token)
            self._trxlock.release()
            raise
        return self.connection


class SqliteClient(_TortoiseSqliteClient):
    def acquire_connection(self) -> ConnectionWrapper[Any]:
        return _ConnectionWrapper(self._lock, self)

    def _in_transaction(self) -> TransactionContext:
        return _TransactionContext(SqliteTransactionWrapper(self), self._lock)


client_class = SqliteClient
