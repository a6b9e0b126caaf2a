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

    app.conf.broker_url = "memory://"
    app.conf.broker_transport_options = {}
    yield


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

    summary = catalog_load(data=catalog_file_read(), simulator_url=sim_url, upstream_api_key=SIM_KEY)
    catalog_snapshot_invalidate()
    return summary
