"""Fixtures for the simulator tests: real simulator subprocesses on free loopback ports.

No Django needed: run with ``pytest tests/simulator -p no:django``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-sim-test-key"


def pytest_configure(config):
    config.addinivalue_line("markers", "live: starts real server processes")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.live)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimProcess:
    def __init__(self, env_extra: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.pop("SIM_API_KEY", None)
        env.update(env_extra or {})
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.log = tempfile.NamedTemporaryFile(prefix="sim-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=str(ROOT),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"simulator exited early:\n{Path(self.log.name).read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("simulator did not become healthy in 20 s")
            time.sleep(0.05)

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


@pytest.fixture(scope="session")
def sim_proc():
    p = SimProcess()
    yield p
    logs = p.logs()
    p.stop()
    # Handler exceptions are logged (and answered with 500): none may happen.
    assert "Traceback" not in logs and "handler error" not in logs, logs


@pytest.fixture(scope="session")
def sim(sim_proc) -> str:
    """Base URL of a simulator that accepts any non-empty key."""
    return sim_proc.url


@pytest.fixture(scope="session")
def sim_keyed():
    """Base URL of a simulator started with SIM_API_KEY=API_KEY."""
    p = SimProcess({"SIM_API_KEY": API_KEY})
    yield p.url
    p.stop()


@pytest.fixture
def http():
    with requests.Session() as s:
        s.headers["Authorization"] = "Bearer sk-test"
        yield s
