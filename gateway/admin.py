from django.contrib import admin

from billing.models import micros_to_credits
from gateway.models import UsageRecord
from gateway.selectors import usage_totals


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """Read-only: records are written by the gateway's settlement alone.
    The list shows totals (requests, tokens, credits) of the filtered set."""

    list_display = (
        "created_at",
        "request_id",
        "user",
        "api_key",
        "endpoint",
        "model_served",
        "provider",
        "status_code",
        "outcome",
        "stream",
        "input_tokens",
        "output_tokens",
        "credits",
        "estimated",
        "latency_ms",
    )
    list_filter = (
        ("user", admin.RelatedOnlyFieldListFilter),
        ("api_key", admin.RelatedOnlyFieldListFilter),
        ("model_served", admin.AllValuesFieldListFilter),
        ("provider", admin.RelatedOnlyFieldListFilter),
        "status_code",
        "outcome",
        "endpoint",
        "stream",
        "estimated",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("request_id", "user__email", "model_requested", "model_served", "api_key__prefix")
    list_select_related = ("user", "api_key", "provider")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Credits", ordering="cost_micros")
    def credits(self, obj):
        return micros_to_credits(obj.cost_micros)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context["usage_totals"] = usage_totals(queryset=context["cl"].queryset)
        return response
