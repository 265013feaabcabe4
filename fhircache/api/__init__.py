"""The FHIR API over the per-consent cache (FHIR R4 REST, SMART App Launch 2, CARIN BB 2.x).

One small module per concern; views are thin, the pure parts are functions:

| module | concern |
| --- | --- |
| `base` | `FhirView`: CORS, methods, negotiation, auth, gates, data state, errors, gzip |
| `access` | `AccessRecord` per request; hooks: gates (may refuse), recorders (audit) |
| `auth` | `Caller`: token, consent, scopes; `require(type, "r"|"s")` |
| `states` | `data_state` → answer (DESIGN.md "States") |
| `negotiation` | formats, `_format`/`_pretty`, exact-number pretty printing |
| `outcome` | `FhirError` and OperationOutcome bodies |
| `query` | search parameters → `fhircache.criteria` (pure) |
| `paging` | opaque, signed keyset paging links bound to consent and query |
| `includes` | `_include` / `_revinclude` resolution |
| `bundle` | searchset Bundle bytes from stored resource bytes |
| `shaping` | `_elements` / `_summary=data` |
| `metadata`, `read`, `search` | the routes (`fhircache/urls.py`) |

How an operation plugs in (see `base.FhirView` for the full order): write
`fhircache/api/<operation>.py` with a `FhirView` subclass setting
`interaction` and `http_method_names`, check scopes with
`self.caller.require(...)`, read only through `fhircache.repository` with
`self.caller.consent`, set `self.record.count`, answer with `self.respond(...)`
or a `StreamingHttpResponse`, raise `FhirError` for errors; add its route to
`fhircache/urls.py` above the catch-all and its row to `metadata.OPERATIONS`.
Cross-cutting policy (per-app rate limit, data-access audit) registers once
with `access.add_gate` / `access.add_recorder` and then applies to every route.
"""
