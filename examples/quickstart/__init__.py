"""Payerbridge quickstart: an app that uses Payerbridge as any customer's app would.

It talks to Payerbridge only over HTTP (SMART OAuth, the FHIR API, webhooks)
and imports nothing from the gateway's own packages.
"""

import logging

# fhirclient logs every non-conformance of a resource at WARNING in non-strict
# mode; payers' resources are served as sent, imperfections included.
logging.getLogger("fhirclient.models.fhirabstractbase").setLevel(logging.ERROR)
