"""End to end with real processes: the web server (uvicorn, our ASGI app),
a Celery worker subprocess on the Redis broker, the simulator, and a
loopback webhook receiver. Needs Redis (a broker and channel layer shared by
processes); skipped when REDIS_URL is unset, as it always is set on CI."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai
import orjson
import pytest
import requests
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.services import api_key_mint
from billing.models import CreditAccount, LedgerEntry
from billing.selectors import ledger_audit
from media_jobs.models import MediaJob, WebhookAttempt
from media_jobs.webhooks import webhook_secret_get_or_create, webhook_signature_verify
from tests.media_jobs.support import ROOT, WebhookReceiver, free_port, route_upstream_set, stop, wait_http, wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: the broker shared by processes"),
]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Stack:
    """The server and worker processes, sharing the test database, Redis
    and one media directory."""

    def __init__(self, media_root: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs: list[tempfile._TemporaryFileWrapper] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
            "DJANGO_SETTINGS_MODULE": "hypereal_site.settings",
            "DEBUG": "1",
            "SECRET_KEY": settings.SECRET_KEY,
            "DATABASE_URL": _database_url(),
            "DB_POOL_MIN": "1",
            "DB_POOL_MAX": "4",
            "REDIS_URL": os.environ["REDIS_URL"],
            "MEDIA_ROOT": str(media_root),
            "PUBLIC_BASE_URL": self.url,
            "MEDIA_POLL_INITIAL_SECONDS": "0.1",
            "MEDIA_POLL_MAX_SECONDS": "0.5",
            "MEDIA_FETCH_ALLOW_PRIVATE_URLS": "1",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
            "WEBHOOK_RETRY_BASE_SECONDS": "0.3",
            "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
            "PYTHONPATH": str(ROOT),
        }
        self.worker = self.server = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self.worker = self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hypereal_site",
                "worker",
                "-P",
                "threads",
                "-c",
                "4",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"e2e-{self.port}@%h",
            ],
        )
        self.server = self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hypereal_site.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
        )
        wait_http(f"{self.url}/healthz", self.server, self.logs[1].name, timeout=60)
        self._wait_log(0, "ready", self.worker)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = tempfile.NamedTemporaryFile(prefix=f"e2e-{name}-", suffix=".log", delete=False)
        self.logs.append(log)
        return subprocess.Popen(argv, cwd=str(ROOT), env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def _wait_log(self, index: int, text: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        path = Path(self.logs[index].name)
        while text not in path.read_text():
            assert proc.poll() is None, path.read_text()[-3000:]
            assert time.monotonic() < deadline, path.read_text()[-3000:]
            time.sleep(0.1)

    def send_task(self, name: str, *args) -> None:
        """Put a task on the shared Redis broker, as a duplicate delivery or
        the beat scheduler would."""
        from hypereal_site.celery_app import app

        with app.connection_for_write(os.environ["REDIS_URL"]) as conn:
            app.send_task(name, args=args, connection=conn)

    def close(self) -> None:
        for proc in (self.server, self.worker):
            if proc is not None:
                stop(proc)
        for log in self.logs:
            log.close()
            os.unlink(log.name)


@pytest.fixture
def stack(settings, sim_url, media_catalog, tmp_path):
    from hypereal_site.celery_app import app

    with app.connection_for_write(os.environ["REDIS_URL"]) as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    running = Stack(tmp_path / "media")
    settings.PUBLIC_BASE_URL = running.url
    yield running
    running.close()


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance_micros


def test_endpoints_webhook_retries_and_signature_with_a_real_worker(stack, make_user, sim_url):
    user = make_user(credits=1000)
    key = api_key_mint(user=user).raw_key
    headers = {"Authorization": f"Bearer {key}"}
    route_upstream_set("kling-v3", "kling-v3::duration_ms=300,poll_429=1")

    # images/generations through the official SDK, synchronously.
    client = openai.OpenAI(api_key=key, base_url=f"{stack.url}/api/v1", max_retries=0, timeout=60)
    images = client.images.generate(model="gpt-image-2", prompt="a fox", n=2)
    assert [requests.get(i.url).content[:8] for i in images.data] == [b"\x89PNG\r\n\x1a\n"] * 2

    # video/generations: the long-poll answers when the worker finishes.
    video = requests.post(
        f"{stack.url}/v1/video/generations",
        json={"model": "kling-v3", "prompt": "a cat", "duration": 5},
        headers=headers,
        timeout=120,
    )
    assert video.status_code == 200, video.text
    assert requests.get(video.json()["data"][0]["url"]).content[4:8] == b"ftyp"

    # videos/generate with a webhook whose receiver fails twice.
    receiver = WebhookReceiver(fail_first=2)
    try:
        accepted = requests.post(
            f"{stack.url}/api/v1/videos/generate",
            json={"model": "kling-v3", "input": {"prompt": "a dog", "duration": 5}, "webhook_url": receiver.url},
            headers=headers,
            timeout=30,
        ).json()
        received = receiver.wait_for(3, timeout=60)
    finally:
        receiver.close()
    secret = webhook_secret_get_or_create(user=user).secret
    for request in received:
        assert webhook_signature_verify(
            secret=secret, header=request["headers"]["X-Hypereal-Signature"], body=request["body"]
        )
    payload = orjson.loads(received[-1]["body"])
    assert payload["jobId"] == accepted["jobId"] and payload["status"] == "completed" and payload["creditsUsed"] == 60
    wait_until(lambda: WebhookAttempt.objects.filter(status_code=200).exists(), what="the recorded success")
    assert list(WebhookAttempt.objects.order_by("number").values_list("status_code", flat=True)) == [503, 503, 200]

    polled = requests.get(f"{stack.url}/api/v1/jobs/{accepted['jobId']}?type=video", headers=headers).json()
    assert polled["status"] == "completed" and polled["webhook"]["deliveries"][0]["status"] == "delivered"
    assert balance(user) == (1000 - 6 - 60 - 60) * 1_000_000
    assert ledger_audit().clean


def test_duplicated_tasks_refund_once_and_the_sweep_fails_stuck_jobs(stack, make_user):
    user = make_user(credits=1000)
    headers = {"Authorization": f"Bearer {api_key_mint(user=user).raw_key}"}

    # A job that fails upstream, with its poll and start tasks delivered many times over.
    route_upstream_set("kling-v3", "kling-v3::duration_ms=1500,fail=1")
    failing = requests.post(
        f"{stack.url}/api/v1/videos/generate", json={"model": "kling-v3", "input": {"prompt": "x"}}, headers=headers
    ).json()
    job = MediaJob.objects.get(public_id=failing["jobId"])
    wait_until(lambda: MediaJob.objects.get(pk=job.pk).upstream_id, what="the upstream submit")
    seq = MediaJob.objects.get(pk=job.pk).poll_count
    for _ in range(4):
        stack.send_task("media_jobs.run", job.pk)
        for s in range(seq, seq + 3):
            stack.send_task("media_jobs.poll", job.pk, s)
    wait_until(lambda: MediaJob.objects.get(pk=job.pk).status == "failed", what="the failure")
    time.sleep(1.0)  # let every duplicate run
    job.refresh_from_db()
    assert job.error_code == "upstream_failed"
    assert LedgerEntry.objects.filter(kind="refund", refund_of=job.charge_entry).count() == 1
    assert balance(user) == 1000 * 1_000_000

    # A job stuck upstream whose polling chain was lost (a worker died with
    # it): nothing but the sweep can end it. Moving poll_count on makes the
    # chain's next poll a stale duplicate, which does nothing.
    route_upstream_set("kling-v3", "kling-v3::duration_ms=600000")
    stuck = requests.post(
        f"{stack.url}/api/v1/videos/generate", json={"model": "kling-v3", "input": {"prompt": "y"}}, headers=headers
    ).json()
    stuck_job = MediaJob.objects.get(public_id=stuck["jobId"])
    wait_until(lambda: MediaJob.objects.get(pk=stuck_job.pk).upstream_id, what="the upstream submit")
    assert balance(user) == (1000 - 60) * 1_000_000
    MediaJob.objects.filter(pk=stuck_job.pk).update(poll_count=F("poll_count") + 1000, deadline_at=timezone.now())
    time.sleep(1.0)
    assert MediaJob.objects.get(pk=stuck_job.pk).status == "processing"
    stack.send_task("media_jobs.sweep")
    stack.send_task("media_jobs.sweep")
    wait_until(lambda: MediaJob.objects.get(pk=stuck_job.pk).status == "failed", what="the sweep")
    time.sleep(0.5)
    stuck_job.refresh_from_db()
    assert stuck_job.error_code == "timeout"
    assert LedgerEntry.objects.filter(kind="refund", refund_of=stuck_job.charge_entry).count() == 1
    assert balance(user) == 1000 * 1_000_000
    assert ledger_audit().clean
