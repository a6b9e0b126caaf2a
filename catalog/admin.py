from django import forms
from django.contrib import admin
from django.db import models

from billing.models import micros_to_credits
from catalog.models import AiModel, ModelAlias, ModelPrice, Provider, Route


class PriceInline(admin.TabularInline):
    """Existing prices are history and read-only; staff add a new row to
    change a price from a given instant on."""

    model = ModelPrice
    extra = 0
    fields = (
        "effective_from",
        "input_per_mtok_micros",
        "cached_input_per_mtok_micros",
        "output_per_mtok_micros",
        "unit_price_micros",
        "minimum_charge_micros",
        "fast_surcharge_micros",
        "note",
        "created_by",
    )
    readonly_fields = ("created_by",)
    ordering = ("-effective_from",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RouteInline(admin.TabularInline):
    model = Route
    extra = 0
    fields = ("provider", "upstream_model", "variant", "priority", "weight", "enabled")
    autocomplete_fields = ("provider",)


class AliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 0


@admin.register(AiModel)
class AiModelAdmin(admin.ModelAdmin):
    list_display = ("slug", "display_name", "kind", "family", "pricing_unit", "current_price", "is_active")
    list_filter = ("kind", "family", "pricing_unit", "is_active")
    search_fields = ("slug", "display_name", "aliases__alias")
    list_editable = ("is_active",)
    inlines = [PriceInline, RouteInline, AliasInline]

    @admin.display(description="Current price (credits)")
    def current_price(self, obj: AiModel):
        from django.utils import timezone

        price = obj.prices.filter(effective_from__lte=timezone.now()).order_by("-effective_from").first()
        if price is None:
            return "—"
        if obj.pricing_unit == AiModel.PricingUnit.PER_MTOK:
            return (
                f"in {micros_to_credits(price.input_per_mtok_micros)} / "
                f"out {micros_to_credits(price.output_per_mtok_micros)} per MTok"
            )
        return f"{micros_to_credits(price.unit_price_micros)} {obj.get_pricing_unit_display()}"

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, ModelPrice) and instance.pk is None:
                instance.created_by = request.user
            instance.save()
        formset.save_m2m()


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "effective_from",
        "input_per_mtok_micros",
        "output_per_mtok_micros",
        "unit_price_micros",
        "fast_surcharge_micros",
        "created_by",
    )
    list_filter = ("model__kind", "effective_from")
    search_fields = ("model__slug", "note")
    autocomplete_fields = ("model",)
    readonly_fields = ("created_by", "created_at")

    def has_change_permission(self, request, obj=None):
        # Viewing is allowed; editing history is not.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ("alias", "model")
    search_fields = ("alias", "model__slug")
    autocomplete_fields = ("model",)


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(max_length=300, assume_scheme="https")
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave empty to keep the current key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = Provider
        fields = [
            "slug",
            "name",
            "protocol",
            "base_url",
            "api_key",
            "extra_headers",
            "enabled",
            "priority",
            "weight",
            "timeout_seconds",
            "notes",
        ]

    def clean(self):
        data = super().clean()
        if not data.get("api_key") and not data.get("clear_api_key") and self.instance.pk:
            data["api_key"] = Provider.objects.get(pk=self.instance.pk).api_key
        if data.get("clear_api_key"):
            data["api_key"] = ""
        return data


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("slug", "name", "protocol", "base_url", "has_key", "enabled", "priority", "weight")
    list_filter = ("protocol", "enabled")
    search_fields = ("slug", "name", "base_url")
    list_editable = ("enabled", "priority", "weight")

    @admin.display(boolean=True, description="Key set")
    def has_key(self, obj):
        return bool(obj.api_key)


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ("model", "provider", "upstream_model", "variant", "priority", "weight", "enabled")
    list_filter = ("provider", "variant", "enabled", "model__kind")
    search_fields = ("model__slug", "upstream_model", "provider__slug")
    list_editable = ("priority", "weight", "enabled")
    autocomplete_fields = ("model", "provider")
