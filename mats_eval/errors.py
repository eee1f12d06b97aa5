"""Errors the CLI maps to exit codes (README.md "The command line")."""
from __future__ import annotations

MAX_SHOWN = 50


class MatsEvalError(Exception):
    """Base class; `exit_code` is what `mats-eval` exits with."""

    exit_code = 1


class ValidationError(MatsEvalError):
    """Invalid input. `violations` are strings `FILE:LINE:COLUMN: message`."""

    exit_code = 2

    def __init__(self, violations: list[str]):
        self.violations = list(violations)
        super().__init__(self.render())

    def render(self) -> str:
        shown = self.violations[:MAX_SHOWN]
        text = "\n".join(shown)
        rest = len(self.violations) - len(shown)
        if rest > 0:
            text += f"\n... and {rest} more violation(s)"
        return f"{len(self.violations)} violation(s) in the input:\n{text}"


class UsageError(MatsEvalError):
    """Bad arguments or a refused action (e.g. overwriting a run without --force)."""

    exit_code = 2


class DiagnosticsFailed(MatsEvalError):
    """The fit ran and its results were written, but the diagnostics gate failed."""

    exit_code = 3
