"""The FHIR API's routes: explicit, under /fhir, no trailing slashes and no redirects.

Operation routes go above the catch-all, which answers every other /fhir path
with a 404 OperationOutcome.
"""

from django.urls import path, re_path

from fhircache.api.base import UnknownRoute
from fhircache.api.batch import Batch
from fhircache.api.everything import Everything
from fhircache.api.expunge import Expunge
from fhircache.api.metadata import Metadata
from fhircache.api.read import Read
from fhircache.api.search import Search
from fhircache.api.validate import ValidateResource, ValidateStored

TYPE = r"(?P<resource_type>[A-Z][A-Za-z]{1,63})"
ID = r"(?P<resource_id>[A-Za-z0-9\-.]{1,64})"

app_name = "fhir"

urlpatterns = [
    path("fhir/metadata", Metadata.as_view(), name="metadata"),
    path("fhir", Batch.as_view(), name="batch"),
    re_path(rf"^fhir/{TYPE}$", Search.as_view(), name="search"),
    re_path(
        rf"^fhir/{TYPE}/_search$",
        Search.as_view(http_method_names=["get", "post", "options"]),
        name="search-post",
    ),
    re_path(rf"^fhir/{TYPE}/\$validate$", ValidateResource.as_view(), name="validate"),
    re_path(rf"^fhir/{TYPE}/{ID}/\$validate$", ValidateStored.as_view(), name="validate-stored"),
    re_path(rf"^fhir/Patient/{ID}/\$expunge$", Expunge.as_view(), name="expunge"),
    re_path(rf"^fhir/Patient/{ID}/\$everything$", Everything.as_view(), name="everything"),
    re_path(rf"^fhir/{TYPE}/{ID}$", Read.as_view(), name="read"),
    re_path(r"^fhir(?:/.*)?$", UnknownRoute.as_view(), name="unknown"),
]
