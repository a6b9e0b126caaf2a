"""Real server processes for the browser tests: the app under uvicorn
(ASGI, as in production) on the test database, and the upstream simulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_of_test_run() -> str:
    """The URL of the database pytest-django created for this run."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class ServerProcess:
    def __init__(self, name: str, args: list[str], *, port: int, env: dict[str, str], log_dir: Path, health: str):
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        # Generous: a loaded CI machine can take a while to import Django.
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.url + health, timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not become healthy in {STARTUP_SECONDS} s:\n{self.logs()}")
            time.sleep(0.1)

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def start_simulator(log_dir: Path) -> ServerProcess:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SIM_API_KEY", None)
    return ServerProcess(
        "simulator",
        ["-m", "simulator", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        env=env,
        log_dir=log_dir,
        health="/healthz",
    )


def start_app(*, log_dir: Path, extra_env: dict[str, str]) -> ServerProcess:
    """The whole Django app under uvicorn, on the test database (and the
    test run's Redis database when REDIS_URL is set)."""
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url_of_test_run(),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "VAR_DIR": str(log_dir / "var"),
        "DJANGO_SETTINGS_MODULE": "hypereal_site.settings",
        "PYTHONPATH": str(ROOT),
        **extra_env,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return ServerProcess(
        "app",
        [
            "-m",
            "uvicorn",
            "hypereal_site.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
        ],
        port=port,
        env=env,
        log_dir=log_dir,
        health="/healthz",
    )
