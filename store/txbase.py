"""What every part of a SQL transaction shares: the connection, the prepared-statement runner, savepoints.

`store.sql.SqlTx` (the engine's `workflow.ports.Tx`) is put together from one repository part per
aggregate, each a subclass of `TxBase` in the module of its job: store/cases.py (cases, history,
deadlines, items), store/org.py, store/presence.py (R-2.5 off-site days), store/meta.py and
store/mailbox.py (mail queued by a step).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from sqlalchemy import Connection

from store.fast import Prepared, Runner
from workflow.errors import TransactionLost
from workflow.model import Org

__all__ = ["StoreState", "Transactions", "TxBase"]


class StoreState(Protocol):
    """What a transaction keeps on its store between transactions (`store.sql.SqlStore` has it)."""

    dialect: str
    prepared: dict[str, Prepared]  # store/fast.py's statements, compiled once per store
    org_cache: tuple[int, Org] | None  # (org version in meta, the organisation read at that version)


class Transactions(Protocol):
    """A store's transactions, for the parts that run their own (store/mailbox.py's outbox)."""

    @property
    def dialect(self) -> str: ...

    def transaction(self, write: bool = True) -> AbstractContextManager[TxBase]: ...


class TxBase:
    """One transaction on a connection.

    The hot statements run through `store.fast.Runner` (compiled once per dialect); the rest use
    SQLAlchemy Core as usual. Both share the connection and its transaction.
    """

    def __init__(self, store: StoreState, conn: Connection, write: bool = True) -> None:
        self.store = store
        self.conn = conn
        self.write = write
        self._runner: Runner | None = None
        # A read-only transaction sees one state of the database: a question asked twice in it (the
        # organisation, whether someone is away on a day) is answered the second time from here. A writing
        # transaction keeps none, as its own writes change the answers.
        self.seen: dict[Any, Any] | None = None if write else {}

    @property
    def run(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(self.conn, self.store.prepared)
        return self._runner

    @contextmanager
    def savepoint(self, name: str = "outpost_step") -> Iterator[None]:
        """Undo the block's writes, and only them, when it raises (the transaction stays usable)."""
        self.conn.exec_driver_sql(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException as exc:
            try:  # SQLite ends the whole transaction on some errors (disk full, I/O): the savepoint is gone,
                self.conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")  # and what follows would commit
            except Exception as undo:
                raise TransactionLost(f"the database ended the transaction ({exc}); nothing of it is kept") from undo
            raise
        self.conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
