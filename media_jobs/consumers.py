"""Live job status for the dashboard over a WebSocket.

Connect to /ws/jobs/ with the dashboard's session cookie (or, for scripts,
`?key=ck_…`). Every change to one of the user's jobs arrives as
{"type": "job.status", "job": {...}} in the shape of GET jobs/{id}.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.selectors import api_key_authenticate
from media_jobs.live import user_group

CLOSE_UNAUTHENTICATED = 4401


class JobStatusConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        user_id = await self._user_id()
        if user_id is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "group": "jobs"})

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def job_status(self, event):
        await self.send_json({"type": "job.status", "job": event["job"]})

    async def _user_id(self) -> int | None:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and user.is_active:
            return user.pk
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        raw_key = (query.get("key") or [None])[0]
        if raw_key:
            principal = await database_sync_to_async(api_key_authenticate)(raw_key=raw_key)
            if principal is not None:
                return principal.user_id
        return None
