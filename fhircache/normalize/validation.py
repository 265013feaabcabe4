"""Step: structural validation with fhir.resources (R4B models).

This checks structure and datatypes only — element names, cardinality,
primitive formats, choice types — not invariants or profiles, so it is called
structural validation and nothing more. `fhircache.normalize.fastcheck` is a
compiled pre-check that accepts only what this accepts; the loader asks this
module only about what the pre-check does not accept.
"""

from __future__ import annotations

from functools import cache

from pydantic import ValidationError

_CODES = {"missing": "required", "extra_forbidden": "structure", "list_type": "structure"}


def operation_outcome(issues: list[dict]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


def _issue(code: str, diagnostics: str, expression: str | None = None) -> dict:
    issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return issue


@cache
def model_class(resource_type: str):
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def validate(resource: dict) -> dict | None:
    """None when fhir.resources accepts `resource`, else an OperationOutcome."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return operation_outcome([_issue("structure", "resourceType is missing")])
    cls = model_class(resource_type)
    if cls is None or not hasattr(cls, "model_validate") or cls.__name__ == "Resource":
        return operation_outcome(
            [_issue("not-supported", f"unknown resource type {resource_type!r}")]
        )
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        issues = []
        for error in exc.errors(include_url=False, include_input=False)[:50]:
            where = ".".join(str(p) for p in error.get("loc", ()))
            expression = f"{resource_type}.{where}" if where else resource_type
            issues.append(
                _issue(_CODES.get(error.get("type", ""), "value"), error["msg"], expression)
            )
        return operation_outcome(issues or [_issue("structure", str(exc)[:500])])
    except Exception as exc:
        # fhir.resources' own validators raise KeyError, TypeError, ... on some
        # malformed input (an unknown contained resourceType): still a rejection
        return operation_outcome([_issue("structure", f"{type(exc).__name__}: {exc}"[:500])])
    return None
