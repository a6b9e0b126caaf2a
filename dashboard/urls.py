"""The customer portal, mounted at the site root: landing page, docs, the
dashboard pages, the auth pages (accounts.urls) and the Stripe webhook
(billing.urls)."""

from django.urls import include, path
from django.views.generic import RedirectView

from accounts import views as account_views
from billing import views as billing_views
from dashboard import views

dashboard_patterns = [
    path("", views.overview, name="overview"),
    path("keys/", account_views.keys, name="keys"),
    path("keys/<int:key_id>/revoke/", account_views.key_revoke, name="key_revoke"),
    path("topup/", billing_views.topup, name="topup"),
    path("topup/success/", billing_views.topup_success, name="topup_success"),
    path("topup/cancel/", billing_views.topup_cancel, name="topup_cancel"),
    path("topup/<int:topup_id>/status/", billing_views.topup_status, name="topup_status"),
    path("billing/", billing_views.billing_history, name="billing"),
    path("usage/", views.usage, name="usage"),
    path("usage.csv", views.usage_csv, name="usage_csv"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/live/", views.jobs_live, name="jobs_live"),
    path("jobs/webhook-secret/rotate/", views.webhook_secret_rotate, name="webhook_secret_rotate"),
]

portal_patterns = [
    path("", views.landing, name="landing"),
    path("docs/", views.docs, name="docs"),
    path("dashboard/", include(dashboard_patterns)),
    # The path the public docs give for creating keys.
    path("manage-api-keys", RedirectView.as_view(pattern_name="dashboard:keys"), name="manage_api_keys"),
    path("manage-api-keys/", RedirectView.as_view(pattern_name="dashboard:keys")),
]

# Portal pages live in the "dashboard" namespace; the auth pages keep the
# global names Django's auth views reverse ("login", "password_reset_done").
urlpatterns = [
    path("", include((portal_patterns, "dashboard"))),
    path("accounts/", include("accounts.urls")),
    path("billing/", include("billing.urls")),
]
