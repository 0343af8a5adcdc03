"""Errors a user can act on. The CLI turns each into a one-line message and an exit status."""

from __future__ import annotations


class Her2AuditError(Exception):
    """Base class: `exit_status` is what the command line returns."""

    exit_status = 1


class UsageError(Her2AuditError):
    """Unusable arguments (exit 2)."""

    exit_status = 2


class RegistryError(Her2AuditError):
    """The registry cannot be read: a missing or unreadable file, a missing column (exit 2).

    The message names the file and the problem and says what to do.
    """

    exit_status = 2

    def __init__(self, file: str, problem: str) -> None:
        self.file = file
        self.problem = problem
        super().__init__(f"{file}: {problem}")


class DataQualityError(Her2AuditError):
    """The data-quality gate failed (exit 3): critical expectations were not met."""

    exit_status = 3

    def __init__(self, failed: list[str]) -> None:
        self.failed = failed
        super().__init__(
            "data-quality gate failed; critical expectations not met: " + "; ".join(failed)
        )


class RuleFileError(Her2AuditError):
    """A rule file (vocabulary, regimen catalog, rulebook, parameters) is malformed (exit 2)."""

    exit_status = 2


class EnvironmentFault(Her2AuditError):
    """The run cannot work in its environment (exit 2): a warehouse locked by another
    writer, a read-only, missing or full folder, a path of the wrong kind. The message
    names the path and the real cause."""

    exit_status = 2
