"""`FhirView`: the security policy and wire format every FHIR API route shares.

A route is a subclass naming its `interaction` and implementing `get`/`post`
(thin: parse, call a function tests can call, `self.respond(...)`). The base
class, in this order:

1. answers CORS preflights (`OPTIONS`) without authentication;
2. refuses methods the view does not implement (405 OperationOutcome);
3. negotiates the format (`fhircache.api.negotiation`; 406 only for an `Accept`
   naming no JSON type);
4. when `authenticated` (the default): checks the bearer token
   (`fhircache.api.auth`, giving `self.caller`), runs the gates
   (`fhircache.api.access`: the per-app rate limit), then applies the
   consent's `data_state` (`fhircache.api.states`; warnings for search
   Bundles land in `self.warnings`);
5. runs the handler; any `FhirError` becomes an OperationOutcome with its
   status and headers, anything else a 500 OperationOutcome without details;
6. adds the gates' headers, CORS headers and gzip, then hands the request's
   `AccessRecord` (`self.record`, also `request.fhir_access`) to the recorders.

Scope checks are the handler's: `self.caller.require(resource_type, "r"|"s")`,
since the type an operation touches is known only there. Handlers report how
many resources they returned in `self.record.count`.

Plugging in an operation (`$everything`, `$validate`, batch): a module in
`fhircache/api/` with a `FhirView` subclass (`interaction = "$everything"`,
`http_method_names = ["get", "options"]`), its route added to
`fhircache/urls.py` above the catch-all, and its rows in
`fhircache.api.metadata.OPERATIONS` so the CapabilityStatement tells the truth.
Streamed bodies: return a `StreamingHttpResponse` (gzip and CORS still apply).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBase, UnreadablePostError
from django.middleware.gzip import GZipMiddleware
from django.utils.decorators import classonlymethod
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from fhircache.api import access, cors, states
from fhircache.api.auth import Caller, authenticate
from fhircache.api.negotiation import Rendering, dumps, negotiate, pretty
from fhircache.api.outcome import FhirError

log = logging.getLogger(__name__)
_gzip = GZipMiddleware(lambda request: HttpResponse())


def _log_failure(interaction: str, exc: Exception) -> None:
    """The failure's type and where it was raised, never its message: database and
    parser errors can quote the values they choked on, which may be PHI."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames[-4:]))
    log.error("FHIR API %s failed: %s at %s", interaction, type(exc).__name__, where)


class FhirView(View):
    interaction: str = ""
    authenticated: bool = True
    # False for operations that serve no cached data ($expunge): no data_state answers
    serves_data: bool = True
    http_method_names = ["get", "options"]

    caller: Caller
    record: access.AccessRecord
    rendering: Rendering
    warnings: list[dict]

    @classonlymethod
    def as_view(cls, **initkwargs):
        # bearer-token API: no cookies, so no CSRF (POST _search, batch)
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        self.record = access.AccessRecord(
            self.interaction,
            resource_type=kwargs.get("resource_type", ""),
            request_id=str(getattr(request, "request_id", "")),
        )
        request.fhir_access = self.record
        self.rendering = Rendering()
        self.warnings = []
        try:
            if request.method == "OPTIONS":
                response = cors.preflight([m for m in self.http_method_names])
            else:
                response = self._answer(request, *args, **kwargs)
        except FhirError as error:
            response = self.error(error)
        except RequestDataTooBig:
            response = self.error(FhirError(413, "too-long", "The request body is too large."))
        except (SuspiciousOperation, UnreadablePostError):
            response = self.error(FhirError(400, "invalid", "The request could not be read."))
        except Exception as exc:  # never a traceback at a client
            _log_failure(self.interaction or "request", exc)
            response = self.error(
                FhirError(500, "exception", "Something went wrong on our side; please retry.")
            )
        for name, value in self.record.headers.items():
            response[name] = value
        cors.add_headers(response)
        response = _gzip.process_response(request, response)
        if self.record.token is not None:
            access.run_recorders(request, self.record, response)
        return response

    def _answer(self, request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            allowed = ", ".join(m.upper() for m in self.http_method_names if hasattr(self, m))
            raise FhirError(
                405,
                "not-supported",
                f"{request.method} is not supported here.",
                headers={"Allow": allowed},
            )
        self.rendering = negotiate(request)
        if self.authenticated:
            self.caller = authenticate(request)
            self.record.token = self.caller.token
            self.record.app_id = self.caller.token.app_id
            self.record.consent_id = self.caller.consent_id
            access.run_gates(request, self.record)
            if self.serves_data:
                self.warnings = states.check(self.caller.consent)
        return getattr(self, method)(request, *args, **kwargs)

    # --- answers ------------------------------------------------------------

    def respond(
        self, body: bytes | dict, status: int = 200, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """A FHIR JSON answer; `bytes` are sent as they are (pretty-printed on request)."""
        content = body if isinstance(body, bytes) else dumps(body)
        if self.rendering.pretty:
            content = pretty(content)
        response = HttpResponse(content, status=status, content_type=self.rendering.header)
        if self.authenticated:
            response["Cache-Control"] = "private, no-cache"  # PHI: browsers revalidate by ETag
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def error(self, error: FhirError) -> HttpResponse:
        response = self.respond(error.outcome(), error.status, error.headers)
        response["Cache-Control"] = "no-store"
        return response


class UnknownRoute(FhirView):
    """Anything under /fhir no route claims: a 404 OperationOutcome, never a redirect."""

    authenticated = False
    http_method_names = ["get", "post", "put", "patch", "delete", "options"]

    def _answer(self, request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        self.rendering = Rendering()
        raise FhirError(404, "not-found", f"No FHIR API route at {request.path}.")
