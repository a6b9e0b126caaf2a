from django.contrib.auth.decorators import login_required
from django.shortcuts import render


def _pending(title):
    @login_required
    def view(request, **kwargs):
        return render(request, "dashboard/pending.html", {"title": title})

    return view


topup = _pending("Top up")
topup_success = _pending("Top up")
topup_cancel = _pending("Top up")
topup_status = _pending("Top up")
billing_history = _pending("Billing history")
