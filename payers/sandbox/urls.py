"""URLconf of the sandbox payers process (`config.settings_sandbox`)."""

from django.urls import path

from payers.sandbox import views_fhir, views_oauth

P = "sandbox/<slug:slug>"

urlpatterns = [
    path("", views_oauth.index),
    path("sandbox/", views_oauth.index),
    path(f"{P}/fhir/.well-known/smart-configuration", views_oauth.smart_config),
    path(f"{P}/fhir/metadata", views_fhir.metadata),
    path(f"{P}/fhir", views_fhir.fhir),
    path(f"{P}/fhir/", views_fhir.fhir),
    path(
        f"{P}/fhir/Patient/<str:rid>/$everything",
        views_fhir.fhir,
        {"rtype": "Patient", "everything": True},
    ),
    path(f"{P}/fhir/<str:rtype>", views_fhir.fhir),
    path(f"{P}/fhir/<str:rtype>/<str:rid>", views_fhir.fhir),
    path(f"{P}/oauth/authorize", views_oauth.authorize),
    path(f"{P}/oauth/authorize/signin", views_oauth.signin, name="sandbox-signin"),
    path(f"{P}/oauth/authorize/consent", views_oauth.consent, name="sandbox-consent"),
    path(f"{P}/oauth/token", views_oauth.token),
    path(f"{P}/oauth/revoke", views_oauth.revoke),
    path(f"{P}/oauth/jwks", views_oauth.jwks),
    path(f"{P}/oauth/userinfo", views_oauth.userinfo),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
