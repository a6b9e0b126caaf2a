from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from accounts.models import ApiKey, User
from billing.models import credits_to_micros


class SignupForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True, "placeholder": "you@company.com"}),
    )
    name = forms.CharField(
        max_length=150,
        required=False,
        label="Name (optional)",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not entirely numeric or a common password.",
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Log in or reset your password.")
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password and cleaned.get("email"):
            try:
                password_validation.validate_password(password, User(email=cleaned["email"], name=cleaned.get("name")))
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True, "placeholder": "you@company.com"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match an account.",
    }


class ApiKeyCreateForm(forms.Form):
    EXPIRY_CHOICES = [
        ("never", "Never"),
        ("7", "In 7 days"),
        ("30", "In 30 days"),
        ("90", "In 90 days"),
        ("365", "In 1 year"),
        ("date", "On a date…"),
    ]

    name = forms.CharField(
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "e.g. production, laptop"}),
        error_messages={"required": "Give the key a name so you can recognise it later."},
    )
    expiry = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="never", label="Expires")
    expires_on = forms.DateField(
        required=False, label="Expiry date", widget=forms.DateInput(attrs={"type": "date"}), help_text="UTC midnight."
    )
    spend_limit_credits = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=18,
        decimal_places=6,
        label="Spend limit (credits)",
        widget=forms.NumberInput(attrs={"placeholder": "No limit", "step": "any", "inputmode": "decimal"}),
        help_text="100 credits = $1. Requests are refused once the key has spent this much in the period.",
    )
    spend_limit_period = forms.ChoiceField(choices=ApiKey.SpendPeriod.choices, initial=ApiKey.SpendPeriod.MONTH)
    allowed_models = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Model allowlist",
        help_text="Leave all unticked to allow every model.",
    )

    def __init__(self, *args, model_choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["allowed_models"].choices = model_choices

    def clean(self):
        cleaned = super().clean()
        expiry = cleaned.get("expiry")
        expires_at = None
        if expiry == "date":
            day = cleaned.get("expires_on")
            if day is None:
                self.add_error("expires_on", "Pick the day the key stops working.")
            else:
                expires_at = timezone.make_aware(datetime.combine(day, time.min), timezone.get_fixed_timezone(0))
                if expires_at <= timezone.now():
                    self.add_error("expires_on", "The expiry date must be in the future.")
        elif expiry and expiry != "never":
            expires_at = timezone.now() + timedelta(days=int(expiry))
        cleaned["expires_at"] = expires_at
        limit = cleaned.get("spend_limit_credits")
        if limit is not None:
            try:
                micros = credits_to_micros(limit)
            except ValueError:
                micros = None
                self.add_error("spend_limit_credits", "Use at most six decimal places.")
            if micros is not None and micros <= 0:
                self.add_error("spend_limit_credits", "Leave empty for no limit, or enter a positive amount.")
            cleaned["spend_limit_micros"] = micros
        else:
            cleaned["spend_limit_micros"] = None
        return cleaned
