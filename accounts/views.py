"""Sign-up, log-in, password reset and the API keys page.

Login, sign-up, password reset and key minting are rate limited with
django-ratelimit (counters in the shared cache). The limits run with
block=False so an over-limit visitor gets the form back with a clear message
and a 429 instead of a bare 403."""

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import cache
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from accounts.forms import ApiKeyCreateForm, LoginForm, SignupForm
from accounts.models import ApiKey
from accounts.selectors import api_key_list
from accounts.services import api_key_mint, api_key_revoke, user_create
from catalog.selectors import catalog_snapshot

TOO_MANY = "Too many attempts from here. Wait a few minutes and try again."
FORM_NONCE_SECONDS = 24 * 3600


def _rate(name: str):
    # Read at request time so operators (and tests) can change the limits.
    return lambda group, request: settings.PORTAL_RATE_LIMITS[name]


def _login_email_key(group, request) -> str:
    return request.POST.get("username", "").strip().lower()


@never_cache
@ratelimit(group="signup", key="ip", rate=_rate("signup_ip"), method="POST", block=False)
def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard:overview")
    form = SignupForm(request.POST or None)
    status = 200
    form_error = None
    if request.method == "POST":
        if getattr(request, "limited", False):
            form = SignupForm(initial={"email": request.POST.get("email", "")})
            form_error = TOO_MANY
            status = 429
        elif form.is_valid():
            try:
                user = user_create(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"],
                    name=form.cleaned_data["name"],
                )
            except IntegrityError:  # the same email signed up a moment ago
                form.add_error("email", "An account with this email already exists.")
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, "Welcome to Hypereal! Top up at least $2 to make your first API call.")
                return redirect("dashboard:overview")
        if form.errors and status == 200:
            status = 400
    return render(request, "accounts/signup.html", {"form": form, "form_error": form_error}, status=status)


class PortalLoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@ratelimit(group="login-ip", key="ip", rate=_rate("login_ip"), method="POST", block=False)
@ratelimit(group="login-email", key=_login_email_key, rate=_rate("login_email"), method="POST", block=False)
def login_view(request):
    if request.method == "POST" and getattr(request, "limited", False):
        form = LoginForm(request, initial={"username": request.POST.get("username", "")})
        return render(request, "accounts/login.html", {"form": form, "form_error": TOO_MANY}, status=429)
    return PortalLoginView.as_view()(request)


logout_view = auth_views.LogoutView.as_view()


class PortalPasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        # Emails carry absolute links; use the public address, not whatever
        # Host header reached us.
        self.extra_email_context = {"public_base_url": settings.PUBLIC_BASE_URL.rstrip("/")}
        return super().form_valid(form)


@ratelimit(group="password-reset", key="ip", rate=_rate("password_reset_ip"), method="POST", block=False)
def password_reset(request):
    if request.method == "POST" and getattr(request, "limited", False):
        form = PasswordResetForm(initial={"email": request.POST.get("email", "")})
        return render(request, "accounts/password_reset_form.html", {"form": form, "form_error": TOO_MANY}, status=429)
    return PortalPasswordResetView.as_view()(request)


password_reset_done = auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html", success_url=reverse_lazy("password_reset_complete")
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)


# --- API keys -----------------------------------------------------------------


def _model_groups() -> list[tuple[str, list[str]]]:
    """Public model ids grouped by kind, in catalog order, for the allowlist."""
    from catalog.models import AiModel

    labels = dict(AiModel.Kind.choices)
    groups: dict[str, list[str]] = {}
    for model in catalog_snapshot().models.values():
        groups.setdefault(model.kind, []).append(model.slug)
    return [(labels.get(kind, kind), slugs) for kind, slugs in groups.items()]


def _key_form(data=None) -> tuple[ApiKeyCreateForm, list]:
    groups = _model_groups()
    choices = [(slug, slug) for _, slugs in groups for slug in slugs]
    return ApiKeyCreateForm(data, model_choices=choices), groups


def _form_nonce_claim(request) -> bool:
    """True the first time a rendered create-key form is submitted."""
    nonce = request.POST.get("form_nonce", "")
    if not nonce:
        return True
    return cache.add(f"keyform:{request.user.pk}:{nonce[:64]}", 1, FORM_NONCE_SECONDS)


@never_cache
@login_required
@ratelimit(group="key-mint", key="user", rate=_rate("key_mint_user"), method="POST", block=False)
@require_http_methods(["GET", "POST"])
def keys(request):
    form, groups = _key_form(request.POST if request.method == "POST" else None)
    minted = None
    status = 200
    form_error = None
    if request.method == "POST":
        if getattr(request, "limited", False):
            form, groups = _key_form()
            form_error = "You have created many keys in the last hour. Try again later."
            status = 429
        elif form.is_valid() and not _form_nonce_claim(request):
            # The same form posted again (a reload, a double click): the key
            # was minted the first time and its plaintext is never shown again.
            messages.info(request, "That form was already submitted; the key it created is listed below.")
            return redirect("dashboard:keys")
        elif form.is_valid():
            data = form.cleaned_data
            minted = api_key_mint(
                user=request.user,
                name=data["name"],
                expires_at=data["expires_at"],
                allowed_models=data["allowed_models"],
                spend_limit_micros=data["spend_limit_micros"],
                spend_limit_period=data["spend_limit_period"],
            )
            # A fresh form: the page now shows the new key once, not a re-post.
            form, groups = _key_form()
        else:
            status = 400
    user_keys = list(api_key_list(user=request.user))
    context = {
        "form_nonce": secrets.token_urlsafe(16),
        "form": form,
        "form_error": form_error,
        "model_groups": groups,
        "selected_models": set(form.data.getlist("allowed_models")) if form.is_bound else set(),
        "minted": minted,
        "keys": user_keys,
        # Open the create form when it has errors or there is no key yet.
        "open_form": minted is None and (form.is_bound or not user_keys),
    }
    return render(request, "accounts/keys.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def key_revoke(request, key_id: int):
    # Scoped to the owner: anyone else's key id is simply not found.
    api_key = get_object_or_404(ApiKey, pk=key_id, user=request.user)
    if request.method == "POST":
        if api_key.is_revoked:
            messages.info(request, f"“{api_key.name}” was already revoked.")
        else:
            api_key_revoke(api_key=api_key)
            messages.success(request, f"Revoked “{api_key.name}” ({api_key.masked}). Requests with it now get 401.")
        return redirect("dashboard:keys")
    return render(request, "accounts/key_revoke.html", {"key": api_key})
