from django.urls import path

from consent.views import api, journey, oauth, receipt

app_name = "consent"

urlpatterns = [
    path("oauth/authorize", oauth.authorize, name="authorize"),
    path("oauth/token", oauth.token, name="token"),
    path("oauth/introspect", oauth.introspect, name="introspect"),
    path("oauth/revoke", oauth.revoke, name="revoke"),
    path("oauth/jwks", oauth.jwks, name="jwks"),
    path(".well-known/smart-configuration", oauth.smart_configuration),
    path("fhir/.well-known/smart-configuration", oauth.smart_configuration),
    path(".well-known/oauth-authorization-server", oauth.authorization_server_metadata),
    path(".well-known/openid-configuration", oauth.openid_configuration),
    path("payers/callback", journey.payer_callback, name="payer_callback"),
    path("consent/<uuid:flow_id>/", journey.start, name="start"),
    path("consent/<uuid:flow_id>/payer", journey.choose_payer, name="choose_payer"),
    path("consent/<uuid:flow_id>/review", journey.review, name="review"),
    path("consent/<uuid:flow_id>/cancel", journey.cancel, name="cancel"),
    path("consent/receipt", receipt.receipt, name="receipt"),
    path("api/consents", api.ConsentList.as_view(), name="api_consents"),
    path("api/consents/<uuid:consent_id>", api.ConsentDetail.as_view(), name="api_consent"),
    path("api/consents/<uuid:consent_id>/revoke", api.ConsentRevoke.as_view()),
]
