from decimal import Decimal

from django import forms
from django.conf import settings


class TopUpForm(forms.Form):
    PRESETS = (5, 10, 20, 50, 100)

    amount = forms.DecimalField(
        label="Amount (USD)",
        max_digits=9,
        decimal_places=2,
        initial=Decimal(20),
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal", "min": "2"}),
    )

    def clean_amount(self) -> int:
        cents = int(self.cleaned_data["amount"] * 100)
        low, high = settings.TOPUP_MIN_CENTS, settings.TOPUP_MAX_CENTS
        if cents < low:
            raise forms.ValidationError(f"The minimum top-up is ${low / 100:,.2f} ({low:,} credits).")
        if cents > high:
            raise forms.ValidationError(f"The most you can add at once is ${high / 100:,.2f}.")
        return cents


class TopUpRefundForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount (USD)",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=9,
        decimal_places=2,
        help_text="Leave empty to refund everything not yet refunded.",
    )
    reason = forms.CharField(max_length=400, help_text="Recorded with the refund and shown in the ledger.")
