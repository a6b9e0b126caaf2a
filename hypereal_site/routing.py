"""WebSocket routes. Apps append their consumers here."""

from media_jobs.routing import websocket_urlpatterns as media_jobs_websockets

websocket_urlpatterns: list = [*media_jobs_websockets]
