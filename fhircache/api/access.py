"""The per-request access context and the hooks that watch or refuse requests.

`FhirView.dispatch` makes one `AccessRecord` per request and fills it as the
request goes: who (app, consent, token) once the bearer token is checked, what
(interaction, resource type) from the view, how it ended (status, number of
resources returned, duration) when the response is ready.

Two kinds of hooks plug in without touching the views:

- a **gate** `gate(request, record) -> None` runs after authentication and
  before the consent's data state is looked at or the handler runs; it refuses
  a request by raising `fhircache.api.outcome.FhirError` (the per-app rate
  limit: 429 `throttled`) and may add response headers to `record.headers`
  (`X-RateLimit-*`), which are sent on every answer, errors included;
- a **recorder** `recorder(request, record, response) -> None` runs once the
  response is built, for every request a token was presented with (errors
  included); it must be cheap and must not raise (the data-access audit buffers
  a row and writes it when the response is closed). A recorder that raises is
  logged and ignored: auditing never turns an answer into a 500.

Register them once at start-up, e.g. in `fhircache.apps.FhircacheConfig.ready`:
`access.add_gate(rate_limit_gate)`, `access.add_recorder(audit_recorder)`.
A handler that answers for several resources (batch, `$everything`) may set
`record.count` itself and append extra records to `record.children`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponseBase

log = logging.getLogger(__name__)


@dataclass
class AccessRecord:
    interaction: str  # "read", "search-type", "$everything", "capabilities", ...
    resource_type: str = ""
    request_id: str = ""
    token: object | None = None  # consent.models.IssuedToken once authenticated
    app_id: int | None = None
    consent_id: object | None = None  # uuid.UUID
    status: int = 0
    count: int = 0  # resources returned (matches + includes)
    started: float = field(default_factory=time.monotonic)
    duration_ms: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with the answer
    children: list[AccessRecord] = field(default_factory=list)  # batch entries


Gate = Callable[[HttpRequest, AccessRecord], None]
Recorder = Callable[[HttpRequest, AccessRecord, HttpResponseBase], None]

GATES: list[Gate] = []
RECORDERS: list[Recorder] = []


def add_gate(gate: Gate) -> None:
    if gate not in GATES:
        GATES.append(gate)


def add_recorder(recorder: Recorder) -> None:
    if recorder not in RECORDERS:
        RECORDERS.append(recorder)


def run_gates(request: HttpRequest, record: AccessRecord) -> None:
    for gate in GATES:
        gate(request, record)


def run_recorders(request: HttpRequest, record: AccessRecord, response: HttpResponseBase) -> None:
    record.status = response.status_code
    record.duration_ms = int((time.monotonic() - record.started) * 1000)
    for recorder in RECORDERS:
        try:
            recorder(request, record, response)
        except Exception:  # the audit never breaks an answer
            log.exception("FHIR API recorder %r failed", recorder)
