"""The quick-start snippets the dashboard shows are run as they are, with a
real key, against the app under uvicorn: each SDK reaches the gateway with
the base URL the snippet gives it."""

import contextlib
import io
import subprocess

import pytest

from accounts.services import api_key_mint
from dashboard.snippets import base_urls, quickstart_snippets


@pytest.fixture
def funded_key(live_app, make_user):
    user = make_user(email="snippets@example.com", credits=1000)
    return api_key_mint(user=user, name="snippets").raw_key


def snippet(live_app, key, slug) -> str:
    return {s.slug: s.code for s in quickstart_snippets(base_url=live_app.url, key=key)}[slug]


@pytest.mark.parametrize("slug", ["openai-python", "anthropic", "google"])
def test_python_sdk_snippets_run_as_shown(live_app, funded_key, slug):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(snippet(live_app, funded_key, slug), {})
    assert out.getvalue().strip()


def test_curl_snippet_runs_as_shown(live_app, funded_key):
    result = subprocess.run(
        ["bash", "-c", snippet(live_app, funded_key, "curl") + " --silent --fail-with-body"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"choices"' in result.stdout


def test_codex_and_claude_code_base_urls(live_app, funded_key):
    """Codex CLI adds /responses to its base_url; Claude Code adds
    /v1/messages to ANTHROPIC_BASE_URL and sends the key as x-api-key."""
    import anthropic
    import openai

    urls = base_urls(live_app.url)
    codex = openai.OpenAI(base_url=urls["codex"], api_key=funded_key, max_retries=0)
    assert codex.responses.create(model="gpt-5-codex", input="Write hello world in Python.").output_text
    claude = anthropic.Anthropic(base_url=urls["anthropic"], api_key=funded_key, max_retries=0)
    reply = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
    )
    assert reply.content[0].text
