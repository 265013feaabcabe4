"""`POST /fhir` with a `batch` Bundle of GET entries (FHIR R4 §3.1.0.11).

Each entry is answered as if it had been requested alone: its URL (relative
to the FHIR base, or absolute on it) is resolved against the FHIR API's own
routes and run through the same view with the caller's headers, so scopes,
data-state answers, errors, the rate limit and the audit apply per entry. The
answer is a `batch-response` Bundle: per entry its `response.status`, `etag`,
`lastModified`, and the resource, or the OperationOutcome in
`response.outcome` for an error. The API is read-only: entries other than GET
are answered 405; a `transaction` Bundle is refused (400).
"""

from __future__ import annotations

import io
import uuid
from http import HTTPStatus
from urllib.parse import urlsplit

import orjson
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from fhircache.api import metadata
from fhircache.api.base import FhirView
from fhircache.api.outcome import FhirError, issue, operation_outcome
from fhircache.api.search import fhir_base

MAX_ENTRIES = 100
# Not passed on to entries: each entry is its own plain JSON answer.
_DROPPED = ("HTTP_ACCEPT_ENCODING", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "CONTENT_TYPE")


def entry_requests(body: bytes) -> list[dict]:
    """The `request` of each entry of a batch Bundle (pure; 400 for anything else)."""
    try:
        bundle = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, "structure", f"The body is not JSON: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError(400, "structure", "POST /fhir takes a Bundle of type batch.")
    if bundle.get("type") != "batch":
        raise FhirError(
            400,
            "not-supported",
            f"Bundle type {bundle.get('type')!r} is not supported here; send a batch"
            " (this API is read-only, so there are no transactions).",
            expression="Bundle.type",
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError(400, "structure", "Bundle.entry is not a list.", expression="Bundle.entry")
    if len(entries) > MAX_ENTRIES:
        raise FhirError(
            400,
            "too-costly",
            f"At most {MAX_ENTRIES} entries per batch.",
            expression="Bundle.entry",
        )
    found = []
    for entry in entries:
        request = entry.get("request") if isinstance(entry, dict) else None
        found.append(request if isinstance(request, dict) else {})
    return found


def local_path(url: object) -> str | None:
    """`/fhir/...` path and query of an entry URL, or None when it is not on this API."""
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    base = fhir_base()
    if url.startswith(("http://", "https://")):
        if not url.startswith(base + "/"):
            return None
        url = url[len(base) + 1 :]
    url = url.lstrip("/")
    if url == "fhir" or url.startswith(("fhir/", "fhir?")):
        url = url[len("fhir") :].lstrip("/")
    if "\x00" in url or "#" in url:
        return None
    return "/fhir/" + url if url else "/fhir"


def _response(status: int, **extra) -> dict:
    return {"status": f"{status} {HTTPStatus(status).phrase}", **extra}


class Batch(FhirView):
    interaction = "batch"
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> HttpResponse:
        answers = [self._answer_entry(request, r) for r in entry_requests(request.body)]
        self.record.count = sum(child.count for child in self.record.children)
        head = orjson.dumps(
            {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "batch-response"}
        )
        if not answers:
            return self.respond(head)
        return self.respond(head[:-1] + b',"entry":[' + b",".join(answers) + b"]}")

    def _answer_entry(self, request: HttpRequest, wanted: dict) -> bytes:
        method = str(wanted.get("method", "")).upper()
        if method != "GET":
            return self._refusal(405, "not-supported", f"{method or 'No method'}: only GET here.")
        path = local_path(wanted.get("url"))
        if path is None:
            return self._refusal(400, "invalid", "The entry's url is not on this FHIR API.")
        parts = urlsplit(path)
        try:
            match = resolve(parts.path)
        except Resolver404:
            return self._refusal(404, "not-found", f"No FHIR API route at {parts.path}.")
        if match.func.__dict__.get("view_class") is Batch:
            return self._refusal(400, "not-supported", "A batch cannot hold a batch.")
        inner = self._inner_request(request, parts.path, parts.query)
        response = match.func(inner, *match.args, **match.kwargs)
        record = getattr(inner, "fhir_access", None)
        if record is not None:
            self.record.children.append(record)
        content = b"".join(response) if response.streaming else response.content
        if response.status_code >= 400:
            info = _response(response.status_code)
            return orjson.dumps({"response": {**info, "outcome": orjson.Fragment(content)}})
        info = _response(response.status_code)
        for header, key in (("ETag", "etag"), ("Last-Modified", "lastModified")):
            if response.has_header(header):
                info[key] = response[header]
        return b'{"resource":' + content + b',"response":' + orjson.dumps(info) + b"}"

    def _inner_request(self, request: HttpRequest, path: str, query: str) -> WSGIRequest:
        environ = {k: v for k, v in request.META.items() if k not in _DROPPED}
        environ.update(
            {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": path,
                "SCRIPT_NAME": "",
                "QUERY_STRING": query,
                "CONTENT_LENGTH": "0",
                "wsgi.input": io.BytesIO(b""),
            }
        )
        inner = WSGIRequest(environ)
        inner.request_id = getattr(request, "request_id", "")
        return inner

    def _refusal(self, status: int, code: str, words: str) -> bytes:
        outcome = operation_outcome([issue(code, words)])
        return orjson.dumps({"response": {**_response(status), "outcome": outcome}})


if "batch" not in metadata.SYSTEM_INTERACTIONS:
    metadata.SYSTEM_INTERACTIONS.append("batch")
