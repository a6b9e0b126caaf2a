"""The real command-line clients against a live gateway, configured as the
README says: Codex CLI, Claude Code and the Gemini CLI (pinned in
package.json, installed into node_modules by `npm ci`; `make test` runs it
when npm is present).

A recording proxy sits between the gateway and the simulator, so each test
compares what the CLI printed with what the simulator actually answered,
and the usage record and ledger charge with the simulator's token counts.
The CLIs run with a fresh home, and every other host they might call goes
to a proxy that refuses and remembers it: the documented settings must keep
them from calling anyone but the gateway.
"""

import http.client
import http.server
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db.models import Value
from django.db.models.functions import Replace

from catalog.models import Provider
from gateway.models import UsageRecord
from tests.gateway.conftest import ROOT, assert_billed

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

BIN = ROOT / "node_modules" / ".bin"
CLI_TIMEOUT_SECONDS = 240
PROMPT = "Say hello to the gateway."

CODEX_CONFIG = """\
model = "gpt-5-codex"
model_provider = "hypereal"

[model_providers.hypereal]
name = "Hypereal"
base_url = "{base_url}"
wire_api = "responses"
env_key = "HYPEREAL_API_KEY"

[analytics]
enabled = false

[features]
plugins = false
"""

GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
}


def cli(name: str, product: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(
            f"{product} is not installed ({path} is missing): `npm ci` installs the pinned CLIs "
            "from package.json; `make test` does it when npm is on the machine"
        )
    return str(path)


# --- the recording proxy in front of the simulator ------------------------------


@dataclass
class Exchange:
    path: str
    request: dict
    status: int
    body: bytes

    def events(self) -> list[dict]:
        """The JSON `data:` payloads of an event stream."""
        events = []
        for line in self.body.decode().splitlines():
            if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                events.append(json.loads(line[5:]))
        return events


@dataclass
class Recorder:
    url: str = ""
    exchanges: list[Exchange] = field(default_factory=list)

    def take(self, path_part: str) -> list[Exchange]:
        return [e for e in self.exchanges if path_part in e.path]


def _recording_proxy(target: str) -> tuple[http.server.ThreadingHTTPServer, Recorder]:
    recorder = Recorder()
    upstream = urlsplit(target)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "content-length", "connection", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                received = bytearray()
                # Pass the stream on as it comes, chunk by chunk.
                while chunk := response.read1(65536):
                    received += chunk
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                request = json.loads(body) if body else {}
                recorder.exchanges.append(Exchange(self.path, request, response.status, bytes(received)))
            finally:
                connection.close()

        do_GET = do_POST = _forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, recorder


@pytest.fixture(scope="module")
def recorder(simulator):
    server, recorder = _recording_proxy(simulator)
    yield recorder
    server.shutdown()
    server.server_close()


# --- a proxy for every other host: refuses and remembers ---------------------------


class Outside:
    def __init__(self) -> None:
        self.requests: list[str] = []
        outside = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _refuse(self):
                outside.requests.append(f"{self.command} {self.path}")
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_CONNECT = do_GET = do_POST = do_PUT = do_HEAD = _refuse

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        env = {}
        for name in ("HTTPS_PROXY", "HTTP_PROXY"):
            env[name] = env[name.lower()] = self.url
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        return env


@pytest.fixture(scope="module")
def outside():
    outside = Outside()
    yield outside
    outside.server.shutdown()
    outside.server.server_close()


# --- the gateway with its upstream traffic recorded ---------------------------------


@pytest.fixture
def gw(live, recorder, outside):
    """The live gateway whose providers reach the simulator through the recorder."""
    Provider.objects.update(base_url=Replace("base_url", Value(live.simulator), Value(recorder.url)))
    recorder.exchanges.clear()
    outside.requests.clear()
    return live


def run(argv: list[str], *, home: Path, outside: Outside, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A CLI with a fresh home and nothing of the developer's environment but PATH."""
    home.mkdir(exist_ok=True)
    full_env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb", **outside.env()}
    full_env.update(env)
    result = subprocess.run(
        argv,
        cwd=home,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    print(result.stdout, result.stderr, sep="\n--- stderr ---\n")
    return result


def key_records(live, count: int) -> list[UsageRecord]:
    """The key's usage records once `count` are written (a stream settles
    just after its last event, which the CLI may have read a moment before)."""
    deadline = time.monotonic() + 10
    while UsageRecord.objects.filter(api_key_id=live.key_id).count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    records = list(UsageRecord.objects.filter(api_key_id=live.key_id).order_by("id"))
    assert len(records) == count, [(r.endpoint, r.model_served, r.status_code) for r in records]
    return records


# --- what the simulator said ----------------------------------------------------


def anthropic_answer(exchange: Exchange) -> tuple[str, dict]:
    text, usage = [], {}
    for event in exchange.events():
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            text.append(event["delta"]["text"])
        elif event["type"] in ("message_start", "message_delta"):
            usage.update(event.get("usage") or event["message"]["usage"])
    cached = usage.get("cache_read_input_tokens", 0)
    input_tokens = usage["input_tokens"] + cached + usage.get("cache_creation_input_tokens", 0)
    return "".join(text), {"input": input_tokens, "cached": cached, "output": usage["output_tokens"]}


def responses_answer(exchange: Exchange) -> tuple[str, dict]:
    text = "".join(e["delta"] for e in exchange.events() if e["type"] == "response.output_text.delta")
    (done,) = [e["response"] for e in exchange.events() if e["type"] == "response.completed"]
    usage = done["usage"]
    cached = usage["input_tokens_details"]["cached_tokens"]
    return text, {"input": usage["input_tokens"], "cached": cached, "output": usage["output_tokens"]}


def gemini_answer(exchange: Exchange) -> tuple[str, dict]:
    events = exchange.events()
    text = "".join(
        part["text"]
        for event in events
        for part in event["candidates"][0]["content"].get("parts", [])
        if "text" in part and not part.get("thought")
    )
    usage = events[-1]["usageMetadata"]
    # Gemini counts thinking apart from the answer; the gateway bills both as output.
    output = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
    return text, {
        "input": usage["promptTokenCount"],
        "cached": usage.get("cachedContentTokenCount", 0),
        "output": output,
    }


def assert_record_matches(record: UsageRecord, usage: dict) -> None:
    assert (record.input_tokens, record.cached_input_tokens, record.output_tokens) == (
        usage["input"],
        usage["cached"],
        usage["output"],
    )


# --- Codex CLI ----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "endpoint"), [("/api/v1/codex", "codex_responses"), ("/api/v1", "responses")])
def test_codex_exec_answers_through_the_gateway(gw, recorder, outside, tmp_path, path, endpoint):
    codex = cli("codex", "Codex CLI")
    codex_home = tmp_path / "codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(CODEX_CONFIG.format(base_url=gw.url + path))

    result = run(
        [codex, "exec", "--skip-git-repo-check", PROMPT],
        home=tmp_path,
        outside=outside,
        env={"CODEX_HOME": str(codex_home), "HYPEREAL_API_KEY": gw.key},
    )

    assert result.returncode == 0
    (exchange,) = recorder.take("/openai/v1/responses")
    assert exchange.request["model"] == "gpt-5-codex" and exchange.request["stream"] is True
    text, usage = responses_answer(exchange)
    assert text and result.stdout.strip() == text.strip()
    (record,) = key_records(gw, 1)
    assert (record.endpoint, record.model_served, record.stream) == (endpoint, "gpt-5-codex", True)
    assert_record_matches(record, usage)
    assert_billed(record.request_id, stream=True)
    assert outside.requests == []


# --- Claude Code --------------------------------------------------------------------


def claude_env(gw, **extra) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": f"{gw.url}/api",
        "ANTHROPIC_API_KEY": gw.key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        **extra,
    }


# Claude Code's own default (claude-opus-5-5 in 2.1.329) is not in the
# catalog; its model tiers map onto the catalog's Claude models.
TIERS = {
    "ANTHROPIC_DEFAULT_OPUS_MODEL": "claude-opus-4-6",
    "ANTHROPIC_DEFAULT_SONNET_MODEL": "claude-sonnet-4-6",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-4-5",
}


def test_claude_code_print_mode_answers_through_the_gateway(gw, recorder, outside, tmp_path):
    claude = cli("claude", "Claude Code")

    result = run([claude, "-p", PROMPT], home=tmp_path, outside=outside, env=claude_env(gw, **TIERS))

    assert result.returncode == 0
    (exchange,) = recorder.take("/anthropic/v1/messages")
    assert exchange.request["model"] == "claude-opus-4-6" and exchange.request["stream"] is True
    text, usage = anthropic_answer(exchange)
    assert text and result.stdout.strip() == text.strip()
    (record,) = key_records(gw, 1)
    assert (record.endpoint, record.model_served, record.stream) == ("messages", "claude-opus-4-6", True)
    assert_record_matches(record, usage)
    assert_billed(record.request_id, stream=True)
    assert outside.requests == []


def test_claude_code_runs_a_tool_and_answers(gw, recorder, outside, tmp_path):
    """A tool turn: the simulator calls Claude Code's Read tool (for a file
    that is not there), Claude Code sends the result back, then answers."""
    claude = cli("claude", "Claude Code")

    result = run(
        [claude, "--tools", "Read", "-p", "What is the weather in Paris?"],
        home=tmp_path,
        outside=outside,
        env=claude_env(gw, ANTHROPIC_MODEL="claude-sonnet-4-6"),
    )

    assert result.returncode == 0
    first, second = recorder.take("/anthropic/v1/messages")
    (tool_use,) = [
        e["content_block"]
        for e in first.events()
        if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use"
    ]
    assert tool_use["name"] == "Read"
    results = [
        block
        for message in second.request["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert [r["tool_use_id"] for r in results] == [tool_use["id"]]
    text, _ = anthropic_answer(second)
    assert text and result.stdout.strip() == text.strip()
    records = key_records(gw, 2)
    assert [(r.model_served, r.status_code) for r in records] == [("claude-sonnet-4-6", 200)] * 2
    for record, exchange in zip(records, (first, second), strict=True):
        assert_record_matches(record, anthropic_answer(exchange)[1])
        assert_billed(record.request_id, stream=True)
    assert outside.requests == []


def test_claude_code_gives_up_at_once_on_a_wrong_key(gw, recorder, outside, tmp_path):
    """The 401 carries x-should-retry: false, as Anthropic's do; without it
    Claude Code retries ten more times with backoff (minutes of silence)."""
    claude = cli("claude", "Claude Code")
    logs = tmp_path / "logs"
    logs.mkdir()

    result = run(
        [claude, "--debug", "-p", PROMPT],
        home=tmp_path,
        outside=outside,
        env=claude_env(gw, ANTHROPIC_API_KEY="ck_not-a-real-key", CLAUDE_CODE_DEBUG_LOGS_DIR=str(logs), **TIERS),
    )

    assert result.returncode != 0
    assert "401 Invalid, expired or revoked API key." in result.stdout + result.stderr
    log = "".join(p.read_text() for p in logs.glob("*.txt"))
    assert log.count("API error (attempt") == 1
    assert recorder.exchanges == [] and UsageRecord.objects.count() == 0
    assert outside.requests == []


# --- Gemini CLI ---------------------------------------------------------------------


def test_gemini_cli_answers_through_the_gateway(gw, recorder, outside, tmp_path):
    gemini = cli("gemini", "Gemini CLI")
    (tmp_path / ".gemini").mkdir()
    (tmp_path / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS))

    result = run(
        [gemini, "-p", PROMPT],
        home=tmp_path,
        outside=outside,
        env={
            "GOOGLE_GEMINI_BASE_URL": f"{gw.url}/api/v1/gemini",
            "GEMINI_API_KEY": gw.key,
            "GEMINI_MODEL": "gemini-3.1-pro",
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        },
    )

    assert result.returncode == 0
    (exchange,) = recorder.take("/gemini/v1beta/models/")
    assert "/models/gemini-3.1-pro:streamGenerateContent" in exchange.path
    text, usage = gemini_answer(exchange)
    assert text and result.stdout.strip() == text.strip()
    (record,) = key_records(gw, 1)
    assert (record.endpoint, record.model_served, record.stream) == ("gemini", "gemini-3.1-pro", True)
    assert_record_matches(record, usage)
    assert_billed(record.request_id, stream=True)
    assert outside.requests == []
