"""Fixtures for the media job tests: a real simulator subprocess on a free
port, the catalog pointed at it, isolated media storage, and an in-process
Celery worker (a real worker thread consuming a memory broker, so countdowns
and retries run with their real timing)."""

import os
import subprocess
import sys
import tempfile

import pytest

from tests.media_jobs.support import ROOT, SIM_KEY, free_port, stop, wait_http


@pytest.fixture(scope="session")
def sim_url():
    """Base URL of a simulator subprocess (it accepts any non-empty key)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SIM_API_KEY", None)
    log = tempfile.NamedTemporaryFile(prefix="media-sim-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port)],
        cwd=str(ROOT),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc, log.name)
        yield url
    finally:
        stop(proc)
        log.close()
        os.unlink(log.name)


@pytest.fixture(scope="session", autouse=True)
def _memory_broker():
    """Tasks these tests enqueue go to an in-process memory broker, never to
    the spool or Redis a developer's `make run` worker reads."""
    from hypereal_site.celery_app import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url = "memory://"
    # Virtual transports poll their queues; the default second per poll would
    # dominate every test that waits for a task.
    app.conf.broker_transport_options = {"polling_interval": 0.01}
    _broker_pools_reset(app)
    yield
    app.conf.broker_url, app.conf.broker_transport_options = saved
    _broker_pools_reset(app)


def _broker_pools_reset(app) -> None:
    # The app caches its broker connection and producer pools on first use
    # (by any earlier test); drop them so the broker change takes effect.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def _media_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.MEDIA_POLL_INITIAL_SECONDS = 0.05
    settings.MEDIA_POLL_FACTOR = 1.5
    settings.MEDIA_POLL_MAX_SECONDS = 0.3
    settings.MEDIA_FETCH_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 5.0
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 1.0
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.fixture
def media_catalog(db, sim_url):
    """The catalog data file loaded with its providers pointing at the simulator."""
    from catalog.selectors import catalog_snapshot_invalidate
    from catalog.services import catalog_file_read, catalog_load

    data = catalog_file_read()
    # Only the media models (the LLMs are not used here and loading them per
    # transactional test is most of the set-up time).
    data["models"] = [m for m in data["models"] if m["family"] == "media"]
    slugs = {m["id"] for m in data["models"]}
    data["aliases"] = {a: t for a, t in data.get("aliases", {}).items() if t in slugs}
    summary = catalog_load(data=data, simulator_url=sim_url, upstream_api_key=SIM_KEY)
    catalog_snapshot_invalidate()
    return summary


@pytest.fixture(scope="module")
def asgi_url():
    """Our ASGI application served by uvicorn in a thread on a free port:
    real HTTP to the real views, async long-polls included."""
    import threading
    import time

    import uvicorn

    from hypereal_site.asgi import application

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning", loop="asyncio")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def celery_worker_thread():
    """A real Celery worker (threads pool) consuming the memory broker in
    this process: tasks run with their real countdowns and retries."""
    from celery.contrib.testing.worker import start_worker

    from hypereal_site.celery_app import app

    with app.connection() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, shutdown_timeout=30) as worker:
        yield worker


@pytest.fixture
def live(settings, asgi_url, celery_worker_thread, media_catalog):
    """Everything running: server, worker, simulator, catalog. Tests using it
    must be transactional (other threads read what the test writes)."""
    settings.PUBLIC_BASE_URL = asgi_url
    settings.ALLOWED_HOSTS = ["*"]
    return asgi_url


@pytest.fixture
def customer(make_user):
    """A user with 1000 credits and an API key: (user, raw key)."""
    from accounts.services import api_key_mint

    user = make_user(credits=1000)
    return user, api_key_mint(user=user).raw_key
