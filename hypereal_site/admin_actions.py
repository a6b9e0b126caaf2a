"""Admin actions that ask for input (an amount, a reason) before calling a
service, so every staff money movement records who made it and why."""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse


def form_action(
    *,
    form_class: type[forms.Form],
    title: str,
    submit_label: str,
    description: str = "",
) -> Callable:
    """Decorate `apply(modeladmin, request, obj, cleaned_data) -> str` into an
    admin action that first renders `form_class`, then applies per object."""

    def decorator(apply):
        def action(modeladmin, request, queryset):
            form = form_class(request.POST if "apply" in request.POST else None)
            if "apply" in request.POST and form.is_valid():
                for obj in queryset:
                    try:
                        result = apply(modeladmin, request, obj, form.cleaned_data)
                    except Exception as exc:  # shown to staff, nothing was written
                        modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
                    else:
                        modeladmin.message_user(request, f"{obj}: {result}", messages.SUCCESS)
                return None
            return TemplateResponse(
                request,
                "admin/action_form.html",
                {
                    **modeladmin.admin_site.each_context(request),
                    "title": title,
                    "description": description,
                    "objects": list(queryset),
                    "form": form,
                    "action": action.__name__,
                    "submit_label": submit_label,
                    "opts": modeladmin.model._meta,
                },
            )

        action.__name__ = apply.__name__
        return admin.action(description=title)(action)

    return decorator
