import uuid

from django import forms
from django.contrib import admin

from billing.forms import TopUpRefundForm
from billing.models import (
    CreditAccount,
    Hold,
    LedgerEntry,
    StripeEvent,
    TopUp,
    TopUpRefund,
    credits_to_micros,
    micros_to_credits,
)
from billing.services import ledger_adjust, ledger_refund, ledger_reverse
from billing.topups import topup_refund
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


class TopUpRefundInline(admin.TabularInline):
    model = TopUpRefund
    extra = 0
    can_delete = False
    fields = ("created_at", "amount", "reason", "created_by", "stripe_refund_id", "ledger_entry")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount")
    def amount(self, obj):
        return f"${obj.amount_cents / 100:,.2f}"


class StripeEventInline(admin.TabularInline):
    model = StripeEvent
    extra = 0
    can_delete = False
    fields = ("received_at", "type", "event_id", "outcome")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "amount", "status", "refunded", "disputed", "created_at", "paid_at")
    list_filter = ("status", "created_at")
    search_fields = ("user__email", "stripe_checkout_session_id", "stripe_payment_intent_id", "stripe_charge_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    inlines = [TopUpRefundInline, StripeEventInline]
    actions = ["refund_through_stripe"]

    @admin.display(description="Amount", ordering="amount_cents")
    def amount(self, obj):
        return f"${obj.amount_cents / 100:,.2f}"

    @admin.display(description="Refunded")
    def refunded(self, obj):
        return f"${obj.refunded_cents / 100:,.2f}" if obj.refunded_cents else "—"

    @admin.display(description="Disputed")
    def disputed(self, obj):
        return f"${obj.disputed_cents / 100:,.2f}" if obj.disputes else "—"

    @form_action(
        form_class=TopUpRefundForm,
        title="Refund through Stripe",
        submit_label="Refund the card and take the credits back",
        description="Refunds the customer's card through Stripe and reverses the same number of credits "
        "(1 cent = 1 credit). The balance may go negative, which blocks API calls until the next top-up. "
        "Your name and the reason are recorded with the refund and in the ledger.",
    )
    def refund_through_stripe(self, request, topup, data):
        amount = int(data["amount"] * 100) if data.get("amount") else None
        record = topup_refund(topup_id=topup.pk, amount_cents=amount, reason=data["reason"], staff=request.user)
        done = (
            f"{micros_to_credits(-record.ledger_entry.amount_micros)} credits reversed"
            if record.ledger_entry
            else "credits are reversed when Stripe's charge.refunded webhook arrives"
        )
        return f"refunded ${record.amount_cents / 100:,.2f} through Stripe ({record.stripe_refund_id}); {done}"


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "type", "event_id", "topup", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id", "topup__user__email")
    list_select_related = ("topup__user",)
