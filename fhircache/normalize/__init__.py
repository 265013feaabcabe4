"""The normalizer: small functions, each one step from payer JSON to cache JSON.

`fhircache.normalize.pipeline` strings them together for one page; the steps
are separate so each can be tested on its own against real payer data.
"""
