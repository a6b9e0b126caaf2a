from datetime import timedelta

from django import forms
from django.utils import timezone

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


class UsageFilterForm(forms.Form):
    """Filters of the usage page and its CSV export (GET parameters)."""

    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    model = forms.CharField(required=False, max_length=200)
    key = forms.IntegerField(required=False, min_value=1)
    endpoint = forms.CharField(required=False, max_length=32)
    status = forms.ChoiceField(
        required=False, choices=[("", "All"), ("ok", "Succeeded"), ("error", "Failed")], label="Result"
    )

    def clean(self):
        cleaned = super().clean()
        today = timezone.now().date()
        end = cleaned.get("end") or today
        start = cleaned.get("start") or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if start > end:
            start, end = end, start
        if (end - start).days >= MAX_RANGE_DAYS:
            start = end - timedelta(days=MAX_RANGE_DAYS - 1)
        cleaned["start"], cleaned["end"] = start, end
        return cleaned
