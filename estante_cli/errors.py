"""What can go wrong, as one line for a person and an exit status for a script.

Commands raise :class:`CliError` (or a subclass); the root command prints its message on stderr
and exits with its status, so no traceback ever reaches the terminal.
"""

from __future__ import annotations

from typing import Any

# Exit statuses, documented in docs/cli.md.
EXIT_FAILED = 1  # the service refused the request, or rows were rejected, or a job failed
EXIT_USAGE = 2  # bad options or arguments (Click's own status for usage errors)
EXIT_UNREACHABLE = 3  # a service could not be reached
EXIT_AUTH = 4  # not logged in, or the session has ended
EXIT_INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """An error to report as one line and exit with ``exit_code``."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class Unreachable(CliError):
    """No answer. ``maybe_delivered``: the request may have reached the service (a timeout or
    a dropped connection, unlike a refused one)."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, message: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class NotLoggedIn(CliError):
    exit_code = EXIT_AUTH


class ApiProblem(CliError):
    """A 4xx or 5xx answer of a service, with its problem+json body when it sent one."""

    def __init__(self, status: int, body: dict[str, Any] | None, service: str) -> None:
        self.status = status
        self.body = body or {}
        self.service = service
        super().__init__(problem_line(status, self.body, service))

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors = self.body.get("errors")
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def problem_line(status: int, body: dict[str, Any], service: str) -> str:
    """An RFC 9457 problem as one line: the title and status, the detail, and every field error
    the detail does not already name."""
    title = str(body.get("title") or "").strip()
    detail = " ".join(str(body.get("detail") or "").split())
    head = f"{title} ({status})" if title else f"the {service} answered {status}"
    line = f"{head}: {detail}" if detail else head
    errors = body.get("errors")
    if isinstance(errors, list):
        missing = [
            f"{e.get('field', '?')}: {e.get('message', '?')}"
            for e in errors
            if isinstance(e, dict) and f"{e.get('field')}: " not in detail
        ]
        if missing:
            line += " [" + "; ".join(missing) + "]"
    return line
