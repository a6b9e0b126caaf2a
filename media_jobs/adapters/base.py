"""What every media adapter speaks: the job it is given, what it returns,
how it fails, and the HTTP plumbing they share.

Adapters run in Celery workers, so they are synchronous (requests with a
pooled session per thread). An adapter either finishes within `submit`
(OpenAI Images, Gemini, Fish Audio answer in one call) or returns the
upstream's job id, which the worker then `poll`s with backoff.
"""

import base64
import binascii
import re
import threading
from dataclasses import dataclass, field

import requests
from django.conf import settings

from catalog.selectors import RouteView
from media_jobs.netguard import FetchFailed, UnsafeUrl, safe_request

_local = threading.local()


@dataclass(frozen=True)
class JobSpec:
    """The part of a job an adapter needs, normalised by the endpoint."""

    job_id: str
    type: str
    operation: str
    model: str
    input: dict
    quantity: int


@dataclass
class UpstreamOutput:
    """A produced file: a URL to copy from, or the bytes themselves."""

    url: str = ""
    data: bytes | None = None
    content_type: str = ""


@dataclass
class Submitted:
    """Finished now (outputs and/or a result), or running upstream as `upstream_id`."""

    outputs: list[UpstreamOutput] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    upstream_id: str = ""
    upstream_status: str = ""
    done: bool = True


@dataclass
class Polled:
    state: str  # pending | completed | failed
    outputs: list[UpstreamOutput] = field(default_factory=list)
    error: str = ""
    upstream_status: str = ""
    progress: int = 0
    retry_after: float | None = None


class UpstreamError(Exception):
    """The upstream refused or failed. Retryable errors (connection, timeout,
    429, 5xx) move on to the next route; others fail the job."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


class InputError(Exception):
    """The client's input turned out unusable once fetched (an unreachable
    URL, audio too short). The job fails, is refunded, and a synchronous
    caller gets a 400 naming the field."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


def session() -> requests.Session:
    s = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        s.headers["User-Agent"] = "Hypereal/1.0"
        _local.session = s
    return s


def timeout_for(route: RouteView) -> tuple[float, float]:
    return (10.0, float(route.timeout_seconds or 600))


def upstream_error_from(response: requests.Response, provider: str) -> UpstreamError:
    status = response.status_code
    message = _error_message(response) or response.reason or "error"
    return UpstreamError(
        f"{provider} returned HTTP {status}: {message}"[:900],
        status=status,
        retryable=status == 429 or status == 408 or status >= 500,
    )


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)
        if error:
            return str(error)
        return str(body.get("message") or body.get("detail") or "")[:300]
    return str(body)[:300]


def request(method: str, url: str, *, route: RouteView, provider: str, **kwargs) -> requests.Response:
    """One upstream call; connection trouble becomes a retryable UpstreamError."""
    headers = {**route.extra_headers, **kwargs.pop("headers", {})}
    try:
        return session().request(method, url, headers=headers, timeout=timeout_for(route), **kwargs)
    except requests.Timeout:
        raise UpstreamError(f"{provider} timed out", retryable=True) from None
    except requests.RequestException as exc:
        raise UpstreamError(f"{provider} unreachable: {type(exc).__name__}", retryable=True) from None


_DATA_URI = re.compile(r"^data:([\w/+.-]+)?(;base64)?,(.*)$", re.DOTALL)


def input_fetch(value: str, *, param: str) -> tuple[bytes, str]:
    """The bytes of a client's input (an http(s) URL or a data: URI). Client
    URLs go through the SSRF guard."""
    if not isinstance(value, str) or not value:
        raise InputError(param, "is required")
    match = _DATA_URI.match(value)
    if match:
        try:
            data = base64.b64decode(match.group(3), validate=True) if match.group(2) else match.group(3).encode()
        except (binascii.Error, ValueError):
            raise InputError(param, "is not valid base64 data") from None
        if len(data) > settings.MEDIA_INPUT_MAX_BYTES:
            raise InputError(param, f"is larger than {settings.MEDIA_INPUT_MAX_BYTES} bytes")
        return data, match.group(1) or "application/octet-stream"
    try:
        response = safe_request(
            "GET",
            value,
            allow_private=settings.MEDIA_FETCH_ALLOW_PRIVATE_URLS,
            timeout=60.0,
            max_bytes=settings.MEDIA_INPUT_MAX_BYTES,
        )
    except UnsafeUrl as exc:
        raise InputError(param, f"URL refused: it {exc}") from None
    except FetchFailed as exc:
        raise InputError(param, f"could not be downloaded ({exc})") from None
    if response.status != 200:
        raise InputError(param, f"could not be downloaded (HTTP {response.status})")
    if not response.body:
        raise InputError(param, "is empty")
    return response.body, response.headers.get("content-type", "application/octet-stream").split(";")[0]


def input_images(spec: JobSpec) -> list[str]:
    images = spec.input.get("images") or []
    return [i for i in images if isinstance(i, str) and i]
