"""Copy-ready quick-start snippets for each client, built from the public
base URL. The base URL each SDK needs differs because each SDK appends its
own path: OpenAI clients add `/chat/completions` to `…/api/v1`, the
Anthropic SDK and Claude Code add `/v1/messages` to `…/api`, the Google
GenAI SDK adds `/v1beta/models/…` to `…/api/v1/gemini`, and Codex CLI adds
`/responses` to `…/api/v1/codex`."""

from dataclasses import dataclass

KEY_ENV = "HYPEREAL_API_KEY"


@dataclass(frozen=True)
class Snippet:
    slug: str
    label: str
    filename: str
    code: str


def base_urls(base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "openai": f"{base}/api/v1",
        "anthropic": f"{base}/api",
        "gemini": f"{base}/api/v1/gemini",
        "codex": f"{base}/api/v1/codex",
    }


def quickstart_snippets(*, base_url: str, key: str = "ck_...") -> list[Snippet]:
    urls = base_urls(base_url)
    return [
        Snippet(
            "curl",
            "cURL",
            "terminal",
            f"""curl {urls["openai"]}/chat/completions \\
  -H "Authorization: Bearer {key}" \\
  -H "Content-Type: application/json" \\
  -d '{{
    "model": "gpt-5.5",
    "messages": [{{"role": "user", "content": "Say hi in one word."}}]
  }}'""",
        ),
        Snippet(
            "openai-python",
            "OpenAI · Python",
            "pip install openai",
            f"""from openai import OpenAI

client = OpenAI(
    base_url="{urls["openai"]}",
    api_key="{key}",
)
reply = client.chat.completions.create(
    model="gpt-5.5",
    messages=[{{"role": "user", "content": "Say hi in one word."}}],
)
print(reply.choices[0].message.content)""",
        ),
        Snippet(
            "openai-node",
            "OpenAI · Node",
            "npm install openai",
            f"""import OpenAI from "openai";

const client = new OpenAI({{
  baseURL: "{urls["openai"]}",
  apiKey: process.env.{KEY_ENV}, // {key}
}});
const reply = await client.chat.completions.create({{
  model: "gpt-5.5",
  messages: [{{ role: "user", content: "Say hi in one word." }}],
}});
console.log(reply.choices[0].message.content);""",
        ),
        Snippet(
            "anthropic",
            "Anthropic SDK",
            "pip install anthropic",
            f"""import anthropic

client = anthropic.Anthropic(
    base_url="{urls["anthropic"]}",
    api_key="{key}",
)
message = client.messages.create(
    model="claude-sonnet-4-6",
    max_tokens=1024,
    messages=[{{"role": "user", "content": "Hello, Claude."}}],
)
print(message.content[0].text)""",
        ),
        Snippet(
            "google",
            "Google GenAI SDK",
            "pip install google-genai",
            f"""from google import genai
from google.genai import types

client = genai.Client(
    api_key="{key}",
    http_options=types.HttpOptions(base_url="{urls["gemini"]}"),
)
response = client.models.generate_content(
    model="gemini-3.1-pro",
    contents="Outline a launch plan in three bullets.",
)
print(response.text)""",
        ),
        Snippet(
            "codex",
            "Codex CLI",
            "~/.codex/config.toml",
            f"""model = "gpt-5-codex"
model_provider = "hypereal"

[model_providers.hypereal]
name = "Hypereal"
base_url = "{urls["codex"]}"
wire_api = "responses"
env_key = "{KEY_ENV}"

# then, in your shell:
#   export {KEY_ENV}="{key}"
#   codex""",
        ),
        Snippet(
            "claude-code",
            "Claude Code",
            "terminal",
            f"""export ANTHROPIC_BASE_URL="{urls["anthropic"]}"
export ANTHROPIC_API_KEY="{key}"
claude""",
        ),
    ]
