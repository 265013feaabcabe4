from django.urls import path

from payers import views

urlpatterns = [
    path("payers/", views.directory, name="payer-directory"),
]
