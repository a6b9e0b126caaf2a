from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render


def landing(request):
    from catalog.selectors import catalog_snapshot

    return render(request, "dashboard/landing.html", {"model_count": len(catalog_snapshot().models)})


def _pending(title):
    @login_required
    def view(request):
        return render(request, "dashboard/pending.html", {"title": title})

    return view


@login_required
def overview(request):
    return render(request, "dashboard/pending.html", {"title": "Overview"})


def docs(request):
    return redirect("dashboard:landing")


usage = _pending("Usage")
usage_csv = _pending("Usage")
jobs = _pending("Media jobs")
