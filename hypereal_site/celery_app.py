import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings")

# DjangoTask adds delay_on_commit(): a task enqueued inside a transaction is
# sent only after that transaction commits, so a worker never looks for a
# row that is not there yet (or never will be).
app = Celery("hypereal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
