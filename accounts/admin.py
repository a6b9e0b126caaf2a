from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserCreationForm

from accounts.models import ApiKey, User
from accounts.services import api_key_revoke
from billing.models import micros_to_credits


class EmailUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = EmailUserCreationForm
    ordering = ("email",)
    list_display = ("email", "name", "balance", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "date_joined")
    search_fields = ("email", "name")
    list_select_related = ("credit_account",)
    readonly_fields = ("balance", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password", "name", "balance")}),
        ("Limits", {"fields": ("rate_limit_per_hour",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    @admin.display(description="Balance (credits)")
    def balance(self, obj: User):
        account = getattr(obj, "credit_account", None)
        return micros_to_credits(account.balance_micros) if account else 0

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            from billing.services import credit_account_ensure

            credit_account_ensure(user=obj)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("masked", "name", "user", "status", "created_at", "last_used_at", "expires_at")
    list_filter = ("revoked_at", "expires_at", "created_at")
    search_fields = ("name", "prefix", "last_four", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", "prefix", "last_four", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Keys are minted by their owner (dashboard) or `mint_key`, which show
        # the plaintext exactly once.
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(api_key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
