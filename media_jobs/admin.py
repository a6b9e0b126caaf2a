"""Staff views of jobs, their outputs and every webhook attempt.

Read-only: money and job state change only through the services (a staff
refund goes through the ledger admin), so the admin can never break the
exactly-once rules. One action fails stuck jobs through job_fail (refunded
once, like the sweep would)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from billing.models import micros_to_credits
from media_jobs.models import JobOutput, MediaJob, WebhookAttempt, WebhookDelivery, WebhookSecret
from media_jobs.presenters import job_output_url
from media_jobs.services import job_fail
from media_jobs.webhooks import webhook_secret_rotate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class JobOutputInline(admin.TabularInline):
    model = JobOutput
    extra = 0
    fields = ("index", "link", "content_type", "size_bytes", "sha256", "upstream_url")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="File")
    def link(self, obj):
        return format_html('<a href="{}">{}.{}</a>', job_output_url(obj), obj.index, obj.extension)


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    fields = ("event", "url", "status", "attempts", "last_status_code", "last_error", "next_attempt_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MediaJob)
class MediaJobAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "user",
        "type",
        "model",
        "variant",
        "status",
        "progress",
        "charged",
        "refunded",
        "created_at",
    )
    list_filter = ("status", "type", "variant", "endpoint", "error_code")
    search_fields = ("public_id", "user__email", "model", "upstream_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    inlines = [JobOutputInline, WebhookDeliveryInline]
    actions = ["fail_and_refund"]
    readonly_fields = [f.name for f in MediaJob._meta.fields]

    @admin.display(description="Charged (credits)", ordering="charged_micros")
    def charged(self, obj):
        return micros_to_credits(obj.charged_micros)

    @admin.display(description="Refunded (credits)", ordering="refunded_micros")
    def refunded(self, obj):
        return micros_to_credits(obj.refunded_micros)

    @admin.action(description="Fail the selected active jobs and refund them")
    def fail_and_refund(self, request, queryset):
        failed = 0
        for job in queryset.filter(status__in=MediaJob.ACTIVE_STATUSES):
            if job_fail(job_id=job.pk, error=f"Stopped by staff ({request.user.email}).", code="cancelled"):
                failed += 1
        self.message_user(request, f"{failed} job(s) failed and refunded.", messages.SUCCESS)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ("number", "started_at", "duration_ms", "status_code", "error", "response_excerpt")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("job", "event", "url", "status", "attempts", "last_status_code", "created_at", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("job__public_id", "job__user__email", "url")
    list_select_related = ("job",)
    inlines = [WebhookAttemptInline]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ("delivery", "number", "started_at", "status_code", "error", "duration_ms")
    list_filter = ("status_code",)
    search_fields = ("delivery__job__public_id", "delivery__url")
    list_select_related = ("delivery__job",)


@admin.register(WebhookSecret)
class WebhookSecretAdmin(ReadOnlyAdmin):
    list_display = ("user", "masked_secret", "created_at", "rotated_at")
    search_fields = ("user__email",)
    fields = ("user", "masked_secret", "created_at", "rotated_at")
    readonly_fields = fields
    actions = ["rotate"]

    @admin.display(description="Secret")
    def masked_secret(self, obj):
        return obj.masked

    @admin.action(description="Rotate the selected users' webhook secrets")
    def rotate(self, request, queryset):
        for secret in queryset.select_related("user"):
            webhook_secret_rotate(user=secret.user)
        self.message_user(request, f"{queryset.count()} secret(s) rotated.", messages.SUCCESS)
