from django.urls import path

from media_jobs.consumers import JobStatusConsumer

websocket_urlpatterns = [
    path("ws/jobs/", JobStatusConsumer.as_asgi()),
]
