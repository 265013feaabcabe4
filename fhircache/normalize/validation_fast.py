"""Structural validation on the hot path: a compiled pre-check, then fhir.resources.

`fhircache.normalize.fastcheck.accepts` answers True only for resources that
fhir.resources accepts too (a differential test on the real corpus and on
mutations of it checks this). Whatever it does not accept goes to
fhir.resources, which has the final word and writes the OperationOutcome, so
the verdict is always fhir.resources' verdict — only faster.
"""

from __future__ import annotations

from fhircache.normalize.fastcheck import accepts
from fhircache.normalize.validation import validate


def check(resource: dict) -> dict | None:
    """None when the resource is structurally valid, else an OperationOutcome."""
    if accepts(resource):
        return None
    return validate(resource)
