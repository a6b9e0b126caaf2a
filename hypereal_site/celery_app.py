import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings")

app = Celery("hypereal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
