"""The quickstart web app (Flask): connect a plan, watch the sync, see the claims.

Run it with `make run` (Procfile `quickstart`), or on its own:

    PAYERBRIDGE_URL=http://127.0.0.1:8000 QUICKSTART_BASE_URL=http://localhost:8002 \
        gunicorn examples.quickstart.app:app --bind localhost:8002 --threads 8

One process (several threads): connections and received webhooks are kept in
memory, which is enough for a demo and keeps the code about the protocol.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

import requests
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from flask import Flask, Response, jsonify, redirect, render_template, request, session, url_for

from . import fhir, oauth
from .chart import MAX_MONTHS, bar_chart_svg, monthly_totals
from .claims import claim_row, format_money, newest_first
from .records import coverage_view, patient_view
from .webhooks import EventLog

# A development-only secret that `manage.py seed_demo` gives the quickstart's
# registration too; set QUICKSTART_WEBHOOK_SECRET for both anywhere else.
DEV_WEBHOOK_SECRET = "whsec_cGF5ZXJicmlkZ2UtcXVpY2tzdGFydC1kZXYtb25seSE="  # noqa: S105
ROWS_PER_PAGE = 10
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class Config:
    base_url: str  # where this app is reached; the redirect URI and webhook URL derive from it
    payerbridge_url: str
    client_id: str
    webhook_secret: str

    @classmethod
    def from_env(cls) -> Config:
        gateway = os.environ.get("PAYERBRIDGE_URL") or os.environ.get("PUBLIC_BASE_URL")
        return cls(
            base_url=os.environ.get("QUICKSTART_BASE_URL", "http://localhost:8002").rstrip("/"),
            payerbridge_url=(gateway or "http://127.0.0.1:8000").rstrip("/"),
            client_id=os.environ.get("QUICKSTART_CLIENT_ID", "payerbridge-quickstart"),
            webhook_secret=os.environ.get("QUICKSTART_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
        )

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"


@dataclass
class Connection:
    """One browser's link to Payerbridge (kept server-side; the cookie holds only a key)."""

    pending: oauth.PendingLaunch | None = None
    token: dict | None = None
    disconnected: bool = False
    revoke_status: int | None = None


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    app = Flask(__name__)
    app.secret_key = os.environ.get("QUICKSTART_SECRET_KEY") or secrets.token_bytes(32)
    app.config.update(
        # Its own cookie name: the sandbox payers may share this host name.
        SESSION_COOKIE_NAME="quickstart_session",
        SESSION_COOKIE_SAMESITE="Lax",  # no cross-site POST to /disconnect
        SESSION_COOKIE_HTTPONLY=True,
    )
    app.jinja_env.filters["money"] = format_money
    connections: dict[str, Connection] = {}
    events = EventLog(config.webhook_secret)

    @lru_cache(maxsize=1)
    def endpoints() -> oauth.Endpoints:
        return oauth.discover(f"{config.payerbridge_url}/fhir")

    def connection(create: bool = False) -> Connection | None:
        key = session.get("key")
        if key in connections:
            return connections[key]
        if not create:
            return None
        session["key"] = key = secrets.token_urlsafe(24)
        connections[key] = Connection()
        return connections[key]

    def api(conn: Connection):
        # Only the bearer token: an expired one is sent anyway so the API's
        # own answer (401) is what the page shows.
        return oauth.api_session(
            config.client_id, {"access_token": conn.token["access_token"], "token_type": "Bearer"}
        )

    @app.get("/")
    def home():
        conn = connection()
        if conn and conn.token and not conn.disconnected:
            return redirect(url_for("summary"))
        return render_template("connect.html", config=config)

    @app.get("/connect")
    def connect():
        try:
            found = endpoints()
        except (requests.RequestException, RuntimeError, KeyError, ValueError) as exc:
            message = f"Payerbridge at {config.payerbridge_url} did not answer discovery: {exc}"
            return render_template("connect.html", config=config, error=message), 502
        conn = connection(create=True)
        conn.pending = oauth.authorization_url(found, config.client_id, config.redirect_uri)
        return redirect(conn.pending.url)

    @app.get("/callback")
    def callback():
        conn = connection()
        pending = conn.pending if conn else None
        if pending is None:
            error = "This sign-in was not started here, or it was already used."
            return render_template("connect.html", config=config, error=error), 400
        conn.pending = None  # state and verifier are single use
        if "error" in request.args:  # RFC 6749 §4.1.2.1, e.g. the patient chose Deny
            detail = request.args.get("error_description", "")
            error = f"Not connected: Payerbridge answered {request.args['error']} {detail}"
            return render_template("connect.html", config=config, error=error.strip()), 400
        callback_url = f"{config.redirect_uri}?{request.query_string.decode()}"
        try:
            token = oauth.exchange_code(
                endpoints(), config.client_id, config.redirect_uri, pending, callback_url
            )
        except MismatchingStateException:
            error = "The state did not match: this callback is not for the sign-in started here."
            return render_template("connect.html", config=config, error=error), 400
        except OAuthError as exc:
            error = f"Payerbridge refused the code: {exc.error} {exc.description or ''}"
            return render_template("connect.html", config=config, error=error), 400
        except requests.RequestException as exc:
            error = f"No answer from Payerbridge's token endpoint ({type(exc).__name__})."
            return render_template("connect.html", config=config, error=error), 502
        conn.token, conn.disconnected, conn.revoke_status = token, False, None
        return redirect(url_for("summary"))

    @app.get("/summary")
    def summary():
        conn = connection()
        if not conn or not conn.token:
            return redirect(url_for("home"))
        token = conn.token
        base, patient_id = endpoints().fhir_base, token.get("patient", "")
        received = events.for_consent(token.get("consent_id", ""))
        shown = {"conn": conn, "token": token, "events": received, "config": config}
        try:
            client = api(conn)
            patient = fhir.get(client, f"{base}/Patient/{patient_id}").json()
            coverages = fhir.search_all(client, base, "Coverage", patient=patient_id)
            claims = fhir.search_all(
                client,
                base,
                "ExplanationOfBenefit",
                patient=patient_id,
                _include="ExplanationOfBenefit:provider",
                _total="accurate",  # the count is shown beside ours; left out unless asked
            )
        except fhir.ApiProblem as problem:
            return problem_page(problem, shown)
        rows = newest_first([claim_row(r, claims.included) for r in claims.matches])
        months = monthly_totals(rows)
        pages = max(1, -(-len(rows) // ROWS_PER_PAGE))
        page = min(max(request.args.get("page", 1, type=int), 1), pages)
        return render_template(
            "summary.html",
            patient=patient_view(patient),
            coverages=[coverage_view(c) for c in coverages.matches],
            rows=rows[(page - 1) * ROWS_PER_PAGE : page * ROWS_PER_PAGE],
            claim_count=len(rows),
            api_total=claims.total,
            notes=claims.notes + coverages.notes,
            page=page,
            pages=pages,
            max_months=MAX_MONTHS,
            chart=bar_chart_svg(months),
            months_with_claims=len(months),
            **shown,
        )

    def problem_page(problem: fhir.ApiProblem, shown: dict):
        """The API's answer, shown as it is: waiting, throttled, failed or gone."""
        if problem.status in (429, 503):
            completed = events.has(shown["token"].get("consent_id", ""), "sync.completed")
            refresh = min(max(problem.retry_after or 2, 1), 10)
            return render_template(
                "syncing.html", problem=problem, refresh=refresh, completed=completed, **shown
            )
        if problem.status == 401:
            return render_template("gone.html", problem=problem, **shown)
        return render_template("problem.html", problem=problem, **shown), 502

    @app.get("/sync-status")
    def sync_status():
        """For the syncing page's optional script: reload as soon as the webhook lands."""
        conn = connection()
        consent_id = conn.token.get("consent_id", "") if conn and conn.token else ""
        return jsonify(completed=bool(consent_id) and events.has(consent_id, "sync.completed"))

    @app.get("/claims/<eob_id>.json")
    def claim_json(eob_id: str):
        """The EOB exactly as the API serves it."""
        conn = connection()
        if not conn or not conn.token or not FHIR_ID.match(eob_id):
            return Response("not found\n", 404, mimetype="text/plain")
        try:
            found = fhir.get(api(conn), f"{endpoints().fhir_base}/ExplanationOfBenefit/{eob_id}")
        except fhir.ApiProblem as problem:
            return Response(f"{problem}\n", problem.status or 502, mimetype="text/plain")
        return Response(found.content, mimetype="application/fhir+json")

    @app.post("/webhooks")
    def webhooks():
        event = events.receive(request.get_data(), dict(request.headers))
        return ("", 204) if event.verified else (event.verdict, 400)

    @app.post("/disconnect")
    def disconnect():
        conn = connection()
        if conn and conn.token and not conn.disconnected:
            try:
                status = oauth.revoke(endpoints(), config.client_id, conn.token)
                failure = f"the revocation endpoint answered {status}" if status >= 400 else ""
            except requests.RequestException as exc:
                failure = f"no answer from the revocation endpoint ({type(exc).__name__})"
            if failure:  # still connected: say so, keep the button
                problem = fhir.ApiProblem(0, "revocation", failure)
                shown = {"conn": conn, "token": conn.token, "events": [], "config": config}
                return render_template("problem.html", problem=problem, **shown), 502
            conn.revoke_status = status
            conn.disconnected = True  # the token is kept only to show that it no longer works
        return redirect(url_for("summary"))

    @app.post("/forget")
    def forget():
        connections.pop(session.pop("key", None), None)
        return redirect(url_for("home"))

    return app


app = create_app()
