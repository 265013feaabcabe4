"""OperationOutcome bodies and the one exception every FHIR API error travels as.

Handlers raise `FhirError`; the base view turns it into an OperationOutcome with
its status and headers (FHIR R4 §3.1.0.4: every error is an OperationOutcome).
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["fatal", "error", "warning", "information"]


def issue(
    code: str,
    diagnostics: str,
    *,
    severity: Severity = "error",
    expression: str | None = None,
) -> dict:
    """One `OperationOutcome.issue` (code from the R4 IssueType value set)."""
    item: dict = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        item["expression"] = [expression]
    return item


def operation_outcome(issues: list[dict]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


class FhirError(Exception):
    """An error answer: HTTP status, IssueType code, words for the developer."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        *,
        headers: dict[str, str] | None = None,
        expression: str | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.headers = headers or {}
        self.expression = expression

    def outcome(self) -> dict:
        return operation_outcome([issue(self.code, self.diagnostics, expression=self.expression)])


def invalid_parameter(name: str, why: str) -> FhirError:
    """A 400 naming the search parameter at fault."""
    return FhirError(400, "invalid", f"Search parameter {name!r}: {why}", expression=name)
