import orjson
import pytest

from gateway.errors import ApiError, WireFormat


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 405, 413, 422])
def test_anthropic_errors_a_retry_cannot_fix_say_so(status):
    response = ApiError(status, "no").response(WireFormat.ANTHROPIC, request_id="req_1")
    assert response["x-should-retry"] == "false"
    assert orjson.loads(response.content)["type"] == "error"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_anthropic_errors_worth_retrying_leave_it_to_the_client(status):
    assert "x-should-retry" not in ApiError(status, "busy").response(WireFormat.ANTHROPIC)


def test_a_long_rate_limit_wait_still_says_do_not_retry():
    error = ApiError(429, "wait an hour", headers={"x-should-retry": "false", "Retry-After": "3600"})
    assert error.response(WireFormat.ANTHROPIC)["x-should-retry"] == "false"


@pytest.mark.parametrize("wire", [WireFormat.OPENAI, WireFormat.GEMINI, WireFormat.MEDIA])
def test_other_formats_are_unchanged(wire):
    assert "x-should-retry" not in ApiError(401, "who?").response(wire)
