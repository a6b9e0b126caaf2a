"""Live job status over the WebSocket, through the real ASGI application
(origin check, session middleware, routing) and the channel layer."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from accounts.services import api_key_mint
from hypereal_site.asgi import application
from media_jobs.consumers import CLOSE_UNAUTHENTICATED
from media_jobs.services import job_claim_start, job_fail, job_submit
from tests.media_jobs.support import model_view

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://localhost")]


def submit(user):
    return job_submit(
        user_id=user.pk,
        api_key_id=None,
        model=model_view("kling-v3"),
        job_type="video",
        endpoint="videos_generate",
        operation="text_to_video",
        input={"prompt": "x", "duration": 5},
        quantity=5,
        deadline_seconds=600,
    )


async def next_status(communicator) -> dict:
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "job.status", message
    return message["job"]


def test_owner_gets_each_status_change_and_nobody_else_does(make_user, catalog):
    owner = make_user(credits=1000)
    other = make_user(credits=1000)
    key = api_key_mint(user=owner).raw_key
    other_key = api_key_mint(user=other).raw_key

    async def scenario():
        mine = WebsocketCommunicator(application, f"/ws/jobs/?key={key}", headers=ORIGIN)
        theirs = WebsocketCommunicator(application, f"/ws/jobs/?key={other_key}", headers=ORIGIN)
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        assert (await mine.receive_json_from())["type"] == "hello"
        assert (await theirs.receive_json_from())["type"] == "hello"

        job = await database_sync_to_async(submit)(owner)
        queued = await next_status(mine)
        assert queued["jobId"] == job.public_id and queued["status"] == "queued" and queued["creditsUsed"] == 60
        await database_sync_to_async(job_claim_start)(job_id=job.pk)
        assert (await next_status(mine))["status"] == "processing"
        await database_sync_to_async(job_fail)(job_id=job.pk, error="boom", code="upstream_failed")
        failed = await next_status(mine)
        assert failed["status"] == "failed" and failed["error"] == "boom" and failed["creditsUsed"] == 0
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.send_json_to({"type": "ping"})
        assert (await mine.receive_json_from())["type"] == "pong"
        await mine.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()


def test_dashboard_session_connects_and_strangers_are_refused(client, make_user):
    user = make_user()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()

    async def scenario():
        session = WebsocketCommunicator(application, "/ws/jobs/", headers=[*ORIGIN, (b"cookie", cookie)])
        assert (await session.connect())[0]
        await session.disconnect()
        for path in ("/ws/jobs/", "/ws/jobs/?key=ck_wrong"):
            anonymous = WebsocketCommunicator(application, path, headers=ORIGIN)
            connected, code = await anonymous.connect()
            assert not connected and code == CLOSE_UNAUTHENTICATED
        foreign = WebsocketCommunicator(application, "/ws/jobs/", headers=[(b"origin", b"https://evil.example")])
        assert not (await foreign.connect())[0]

    async_to_sync(scenario)()
