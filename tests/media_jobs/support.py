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


class WebhookReceiver:
    """A loopback HTTP server standing in for a customer's webhook endpoint.
    It answers `fail_first` requests with `fail_status`, then 200."""

    def __init__(self, *, fail_first: int = 0, fail_status: int = 503):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict] = []
        self.fail_first = fail_first
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    receiver.received.append(
                        {"headers": dict(self.headers.items()), "body": body, "at": time.monotonic(), "path": self.path}
                    )
                    failing = len(receiver.received) <= receiver.fail_first
                    receiver._cond.notify_all()
                status = fail_status if failing else 200
                payload = b'{"error": "try later"}' if failing else b'{"received": true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook/hypereal"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.received) >= count, timeout), (
                f"got {len(self.received)} webhook request(s), expected {count}"
            )
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(predicate, *, timeout: float = 30.0, what: str = "condition"):
    """Poll a database condition another thread or process will make true."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result
