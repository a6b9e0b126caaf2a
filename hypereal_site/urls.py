from django.contrib import admin
from django.urls import include, path

from gateway.views import api_not_found
from hypereal_site.views import healthz

admin.site.site_header = "Hypereal operations"
admin.site.site_title = "Hypereal admin"

# The API is served under both /api/v1/ (the docs' base URL) and /v1/.
api_patterns = [
    path("", include("gateway.urls")),
    path("", include("media_jobs.urls")),
    # Last: any other API path gets a JSON 404 in the client's error shape.
    path("<path:unknown>", api_not_found, name="not-found"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_patterns, "api"), namespace="api")),
    path("v1/", include((api_patterns, "api"), namespace="api-v1")),
    path("", include("dashboard.urls")),
]
