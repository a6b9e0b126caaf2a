"""Helpers shared by the media job tests."""

import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SIM_KEY = "sim-test-key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log_path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{Path(log_path).read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=0.5).status_code < 500:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up:\n{Path(log_path).read_text()[-4000:]}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def route_upstream_set(model: str, upstream_model: str, *, variant: str = "standard") -> None:
    """Point a model's route at a simulator model name carrying fault options
    (e.g. "wan2.6::duration_ms=50,poll_429=2")."""
    from catalog.models import Route
    from catalog.selectors import catalog_snapshot_invalidate

    assert Route.objects.filter(model__slug=model, variant=variant).update(upstream_model=upstream_model)
    catalog_snapshot_invalidate()


def model_view(slug: str):
    from catalog.selectors import catalog_snapshot

    model = catalog_snapshot().resolve(slug)
    assert model is not None, slug
    return model
