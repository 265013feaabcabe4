from django.urls import path

from payers import views

urlpatterns = [
    path("payers/", views.directory, name="payer-directory"),
    path("payers/jwks.json", views.client_jwks, name="payer-client-jwks"),
]
