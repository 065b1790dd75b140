"""One error tree. Each class carries the exit code the CLI returns (PRODUCT.md, "Exit codes")."""

from __future__ import annotations


class WorkflowError(Exception):
    """Root of every error Outpost raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(WorkflowError):
    """Usage error, malformed value, unknown thing: exit 2."""

    exit_code = 2


class NotFound(BadInput):
    """An id that names nothing (case, person, office, process)."""

    def __init__(self, kind: str, ident: object, known: list[str] | None = None) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"unknown {kind}: {ident!s}" + (f" (known: {', '.join(known)})" if known else ""))


class RuleViolation(WorkflowError):
    """Refused by a rule of REGULATION.md (or of the process definition): exit 3."""

    exit_code = 3

    def __init__(self, rule_id: str, reason: str) -> None:
        self.rule_id = rule_id
        self.reason = reason
        super().__init__(f"refused ({rule_id}): {reason}")


class NotPermitted(RuleViolation):
    """The acting person may not fire this trigger: exit 3."""


class Conflict(WorkflowError):
    """The case changed meanwhile; nothing was written, retry: exit 4."""

    exit_code = 4


class Busy(Conflict):
    """The database stayed locked longer than the busy timeout: exit 4."""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__("database busy, nothing written; retry")


class DatabaseUnavailable(WorkflowError):
    """The configured database cannot be opened or written (no such folder, not a database, read-only,
    no server answering): a setting or the machine to fix, not a bug. Exit 2, nothing written."""

    exit_code = 2


class SchemaMismatch(WorkflowError):
    """The database schema is missing, older or newer than this Outpost: exit 2."""

    exit_code = 2


class TransactionLost(WorkflowError):
    """The database ended the transaction on its own (disk full, an I/O error) while a step ran under a
    savepoint, so the step cannot be undone alone: the whole transaction is abandoned. Exit 1."""


class DefinitionError(WorkflowError):
    """A process definition is inconsistent (found when it is loaded)."""


class DeliveryError(WorkflowError):
    """Mail could not be handed to the server."""


class IntegrityError(WorkflowError):
    """`audit verify` found a history row that does not chain, or a row of the seal missing: exit 5
    ("verification failed", PRODUCT.md), apart from 1, which means an internal error."""

    exit_code = 5
