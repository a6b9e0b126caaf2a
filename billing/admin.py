import uuid

from django import forms
from django.contrib import admin

from billing.models import CreditAccount, Hold, LedgerEntry, credits_to_micros, micros_to_credits
from billing.services import ledger_adjust, ledger_refund, ledger_reverse
from hypereal_site.admin_actions import form_action


class AdjustForm(forms.Form):
    credits = forms.DecimalField(
        max_digits=18, decimal_places=6, help_text="Positive adds credits, negative removes them."
    )
    reason = forms.CharField(max_length=400)

    def clean_credits(self):
        value = self.cleaned_data["credits"]
        if value == 0:
            raise forms.ValidationError("Must not be zero.")
        return value


class RefundForm(forms.Form):
    credits = forms.DecimalField(
        max_digits=18,
        decimal_places=6,
        required=False,
        min_value=0,
        help_text="Leave empty to refund everything not yet refunded.",
    )
    reason = forms.CharField(max_length=400)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ("user", "balance", "held", "updated_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    actions = ["adjust_balance"]

    @admin.display(description="Balance (credits)", ordering="balance_micros")
    def balance(self, obj):
        return micros_to_credits(obj.balance_micros)

    @admin.display(description="Held (credits)")
    def held(self, obj):
        return micros_to_credits(obj.held_micros)

    @form_action(form_class=AdjustForm, title="Adjust balance", submit_label="Apply adjustment")
    def adjust_balance(self, request, account, data):
        entry = ledger_adjust(
            account_id=account.pk,
            amount_micros=credits_to_micros(data["credits"]),
            reference=f"adjust:{uuid.uuid4()}",
            description=data["reason"],
            created_by=request.user,
        )
        return f"adjusted by {micros_to_credits(entry.amount_micros)} credits"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "kind", "credits", "balance_after", "reference", "created_by")
    list_filter = ("kind", "created_at")
    search_fields = ("reference", "account__user__email", "description")
    list_select_related = ("account__user", "created_by")
    date_hierarchy = "created_at"
    actions = ["refund"]

    @admin.display(description="Credits", ordering="amount_micros")
    def credits(self, obj):
        return micros_to_credits(obj.amount_micros)

    @admin.display(description="Balance after")
    def balance_after(self, obj):
        return micros_to_credits(obj.balance_after_micros)

    @form_action(
        form_class=RefundForm,
        title="Refund charges / reverse top-ups",
        submit_label="Refund",
        description="Charges are refunded to the customer's balance. Top-ups are reversed "
        "(credits removed); use the top-up refund in the payments admin to also refund the card.",
    )
    def refund(self, request, entry, data):
        amount = credits_to_micros(data["credits"]) if data.get("credits") else None
        common = {
            "reference": f"staff-refund:{uuid.uuid4()}",
            "amount_micros": amount,
            "description": data["reason"],
            "created_by": request.user,
        }
        if entry.kind == LedgerEntry.Kind.TOPUP:
            result = ledger_reverse(topup_id=entry.pk, **common)
        else:
            result = ledger_refund(charge_id=entry.pk, **common)
        return f"{result.kind} of {micros_to_credits(abs(result.amount_micros))} credits"


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("reference", "account", "amount", "status", "created_at", "expires_at", "closed_at")
    list_filter = ("status", "created_at")
    search_fields = ("reference", "account__user__email")
    list_select_related = ("account__user",)

    @admin.display(description="Credits")
    def amount(self, obj):
        return micros_to_credits(obj.amount_micros)
