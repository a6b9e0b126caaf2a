"""A live gateway for the tests: the upstream simulator and the gateway (uvicorn,
the real ASGI app) as subprocesses, against the test database.

Tests that use them are transactional (the server process must see
committed rows) and load the catalog with the simulator's address. The
server re-reads the catalog on every request (CATALOG_SNAPSHOT_*=0), so a
test can add routes and models and call them at once.
"""

import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from accounts.services import api_key_mint
from billing.models import CreditAccount
from catalog.models import AiModel, ModelPrice, Provider, Route
from catalog.services import catalog_file_read, catalog_load
from gateway.ratelimit import rate_limit_reset_local

ROOT = Path(__file__).resolve().parents[2]
PING_SECONDS = 0.4
MAX_BODY_BYTES = 1_000_000
_names = itertools.count(1)
# The catalog's models the live tests call (loading all of them for every
# test would double the suite's time on PostgreSQL).
LIVE_MODELS = frozenset(
    {
        "gpt-5.4-mini",
        "gpt-5.4-nano",
        "gpt-5.5",
        "gpt-5.5-pro",
        "deepseek-v3.2",
        "claude-opus-4-6",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "gpt-5-codex",
        "gpt-5.1-codex",
        "gemini-3.1-pro",
        "gemini-3.1-fast",
        "gemini-3.1-thinking",
        "gemini-3-flash-official",
    }
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def simulator():
    port = _free_port()
    env = {**os.environ, "SIM_API_KEY": "sim-test-key"}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/healthz", process)
        yield url
    finally:
        _stop(process)


def _database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


@pytest.fixture(scope="session")
def gateway_url(django_db_setup, django_db_blocker, simulator):
    """The gateway under uvicorn, sharing the test database (and Redis, when set)."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "UPSTREAM_SIMULATOR_URL": simulator,
        "CATALOG_SNAPSHOT_CHECK_SECONDS": "0",
        "CATALOG_SNAPSHOT_MAX_AGE_SECONDS": "0",
        "GATEWAY_SSE_PING_SECONDS": str(PING_SECONDS),
        "GATEWAY_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "ROUTE_FAILURES_BEFORE_COOLDOWN": "2",
        "ROUTE_COOLDOWN_SECONDS": "60",
        "DB_POOL_MAX": "60",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "hypereal_site.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/healthz", process)
        yield url
    finally:
        _stop(process)


@dataclass
class Live:
    """A user with credits and a key, the catalog loaded, the servers up."""

    url: str
    simulator: str
    user: object
    key: str
    key_id: int

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def account(self) -> CreditAccount:
        return CreditAccount.objects.get(user=self.user)

    def balance_micros(self) -> int:
        return self.account().balance_micros

    def mint(self, **kwargs) -> str:
        return api_key_mint(user=self.user, **kwargs).raw_key

    def provider(self, *, protocol: str, path: str, priority: int = 5, timeout_seconds: int = 600, **kw) -> Provider:
        return Provider.objects.create(
            slug=f"test-{next(_names)}",
            name="test provider",
            protocol=protocol,
            base_url=path if path.startswith("http") else f"{self.simulator}{path}",
            api_key="sim-test-key",
            priority=priority,
            timeout_seconds=timeout_seconds,
            **kw,
        )

    def model(self, *, like: str, slug: str | None = None, routes: list[tuple[Provider, str]] | None = None) -> AiModel:
        """A copy of a catalog model (same endpoints and prices) with its own routes."""
        base = AiModel.objects.get(slug=like)
        price = base.prices.order_by("-effective_from").first()
        model = AiModel.objects.create(
            slug=slug or f"{like}-test-{next(_names)}",
            display_name="test model",
            kind=base.kind,
            family=base.family,
            endpoints=base.endpoints,
            pricing_unit=base.pricing_unit,
            max_output_tokens=base.max_output_tokens,
            context_window=base.context_window,
        )
        ModelPrice.objects.create(
            model=model,
            effective_from=price.effective_from,
            **{k: v for k, v in price.rates().items() if k != "price_id"},
        )
        for provider, upstream_model in routes or ():
            Route.objects.create(model=model, provider=provider, upstream_model=upstream_model)
        return model


@pytest.fixture
def live(gateway_url, simulator, make_user, transactional_db):
    data = catalog_file_read()
    data = {**data, "models": [m for m in data["models"] if m["id"] in LIVE_MODELS]}
    catalog_load(data=data, simulator_url=simulator, upstream_api_key="sim-test-key")
    user = make_user(credits=1000)
    minted = api_key_mint(user=user)
    rate_limit_reset_local()
    return Live(url=gateway_url, simulator=simulator, user=user, key=minted.raw_key, key_id=minted.api_key.pk)


def expected_cost(record) -> int:
    """The cost of a usage record from its tokens and the price it was billed at."""
    price = ModelPrice.objects.filter(model__slug=record.model_served).order_by("-effective_from").first()
    cached = record.cached_input_tokens
    scaled = (
        (record.input_tokens - cached) * price.input_per_mtok_micros
        + cached * price.cached_input_per_mtok_micros
        + record.output_tokens * price.output_per_mtok_micros
    )
    return -(-scaled // 1_000_000)


def wait_record(request_id: str | None = None, seconds: float = 10.0, **filters):
    """The usage record of a request (by id or other fields). A stream is
    settled right after its last event, which a client may have read a
    moment before; the server process writes it, so this polls."""
    from gateway.models import UsageRecord

    if request_id is not None:
        filters["request_id"] = request_id
    deadline = time.monotonic() + seconds
    while True:
        record = UsageRecord.objects.filter(**filters).first()
        if record is not None or time.monotonic() > deadline:
            assert record is not None, f"no usage record for {filters}"
            return record
        time.sleep(0.02)


def assert_billed(request_id: str, *, outcome: str = "done", estimated: bool = False, stream: bool | None = None):
    """The request's usage record, ledger charge and hold agree, exactly."""
    from billing.models import Hold, LedgerEntry
    from billing.selectors import ledger_audit

    record = wait_record(request_id)
    assert record.outcome == outcome, (record.outcome, record.error)
    assert record.estimated is estimated
    if stream is not None:
        assert record.stream is stream
    assert record.cost_micros == expected_cost(record)
    hold = Hold.objects.get(reference=request_id)
    assert hold.status == Hold.Status.SETTLED
    charges = list(LedgerEntry.objects.filter(reference=request_id))
    if record.cost_micros:
        assert [c.amount_micros for c in charges] == [-record.cost_micros]
        assert charges[0].kind == "charge"
        assert charges[0].metadata["usage"]["output_tokens"] == record.output_tokens
    else:
        assert charges == []
    assert ledger_audit().clean
    return record


class CountingUpstream:
    """A stand-in upstream that always answers one status and counts calls,
    to see which routes the gateway actually tried."""

    def __init__(self, status: int = 503) -> None:
        import http.server
        import threading

        self.calls = 0
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream.calls += 1
                body = b'{"error": {"message": "down for the test", "type": "server_error"}}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_upstream():
    upstream = CountingUpstream()
    yield upstream
    upstream.close()
