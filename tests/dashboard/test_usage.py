import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_key_mint
from dashboard.charts import bar_chart, compact, nice_ceiling
from gateway.models import UsageRecord

pytestmark = pytest.mark.django_db

_ids = iter(range(1, 10_000))


def record(
    user,
    *,
    key=None,
    days_ago=0,
    model="gpt-5.5",
    served=None,
    endpoint="chat_completions",
    status=200,
    cost=1_000_000,
    **extra,
):
    return UsageRecord.objects.create(
        request_id=f"req_{next(_ids)}",
        user=user,
        api_key=key,
        endpoint=endpoint,
        model_requested=model,
        model_served=model if served is None else served,
        status_code=status,
        cost_micros=cost,
        input_tokens=extra.pop("input_tokens", 100),
        output_tokens=extra.pop("output_tokens", 20),
        latency_ms=extra.pop("latency_ms", 321),
        created_at=timezone.now() - timedelta(days=days_ago),
        **extra,
    )


@pytest.fixture
def data(make_user):
    me, other = make_user(email="me@example.com"), make_user(email="other@example.com")
    key_a = api_key_mint(user=me, name="alpha").api_key
    key_b = api_key_mint(user=me, name="beta").api_key
    record(me, key=key_a, model="gpt-5.5", cost=2_500_000)
    record(me, key=key_a, model="gpt-5.5", cost=500_000, days_ago=1)
    record(me, key=key_b, model="claude-sonnet-4-6", endpoint="messages", cost=4_000_000, days_ago=2)
    record(
        me,
        key=key_b,
        model="claude-sonnet-4-6",
        endpoint="messages",
        status=502,
        cost=0,
        outcome="upstream_error",
        error="upstream failed",
    )
    record(me, key=key_a, model="gpt-5.5", cost=9_000_000, days_ago=40)  # outside the default 30 days
    record(other, model="secret-model-of-other", cost=77_000_000)
    return me, other, key_a, key_b


def test_usage_page_totals_charts_and_table(client, data):
    me, _, key_a, _ = data
    client.force_login(me)
    body = client.get(reverse("dashboard:usage")).content.decode()
    assert 'data-testid="total-requests">4<' in body
    assert 'data-testid="total-spend">7.00 <small>credits' in body
    assert "1 failed" in body
    # One bar per day of the default 30-day range, on both charts.
    assert body.count('<rect class="bar"') == 60
    assert "1 request</title>" in body and "4.00 credits</title>" in body
    spend_by_model = body.split('data-testid="spend-by-model"', 1)[1].split("</div></div></div>\n    </div>", 1)[0]
    assert spend_by_model.index("claude-sonnet-4-6") < spend_by_model.index("gpt-5.5")  # by spend
    table = body.split('data-testid="usage-table"', 1)[1]
    assert table.count("<tr data-request-id=") == 4
    assert key_a.masked in table
    assert "secret-model-of-other" not in body


@pytest.mark.parametrize(
    "query,expected",
    [
        ({"model": "gpt-5.5"}, 2),
        ({"endpoint": "messages"}, 2),
        ({"status": "error"}, 1),
        ({"status": "ok"}, 3),
        ({"start": "2000-01-01"}, 5),
        ({"model": "secret-model-of-other"}, 0),
    ],
)
def test_usage_filters(client, data, query, expected):
    me = data[0]
    client.force_login(me)
    body = client.get(reverse("dashboard:usage"), query).content.decode()
    assert f'data-testid="total-requests">{expected}<' in body


def test_filter_by_key_only_matches_own_keys(client, data, make_user):
    me, other, _, key_b = data
    other_key = api_key_mint(user=other).api_key
    record(other, key=other_key)
    client.force_login(me)
    assert (
        'data-testid="total-requests">1<'
        in client.get(reverse("dashboard:usage"), {"key": key_b.pk, "status": "ok"}).content.decode()
    )
    # Someone else's key id matches none of my rows, and theirs are never shown.
    assert (
        'data-testid="total-requests">0<'
        in client.get(reverse("dashboard:usage"), {"key": other_key.pk}).content.decode()
    )


def test_malformed_filters_fall_back_to_defaults(client, data):
    client.force_login(data[0])
    response = client.get(reverse("dashboard:usage"), {"start": "yesterday", "key": "abc"})
    assert response.status_code == 200
    assert 'data-testid="total-requests">4<' in response.content.decode()


def test_usage_csv_export(client, data):
    me = data[0]
    record(me, model='=HYPERLINK("http://evil")', served="", cost=1, error="+cmd")
    client.force_login(me)
    response = client.get(reverse("dashboard:usage_csv"), {"status": "ok"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="hypereal-usage-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 4
    assert {r["model_requested"] for r in rows} == {"gpt-5.5", "claude-sonnet-4-6", '\'=HYPERLINK("http://evil")'}
    by_cost = {r["cost_credits"] for r in rows}
    assert {"2.5", "0.5", "4", "0.000001"} == by_cost
    evil = next(r for r in rows if r["cost_credits"] == "0.000001")
    assert evil["error"] == "'+cmd" and evil["model_served"] == ""
    first = next(r for r in rows if r["cost_credits"] == "2.5")
    assert datetime.fromisoformat(first["time_utc"]).tzinfo == UTC
    assert first["key"].startswith("ck_") and first["status_code"] == "200" and first["stream"] == "false"
    assert all("secret-model-of-other" not in r["model_requested"] for r in rows)


def test_usage_pages_need_login(client, db):
    for name in ("dashboard:usage", "dashboard:usage_csv"):
        assert client.get(reverse(name)).status_code == 302


def test_nice_ceiling_and_compact_labels():
    values = (0, 1, 3, 7, 10, 11, 49, 51, 999, 1001)
    assert [nice_ceiling(v) for v in values] == [1, 1, 5, 10, 10, 20, 50, 100, 1000, 2000]
    assert [str(nice_ceiling(Decimal(v))) for v in ("0.0362", "0.2", "0.21", "1.5")] == ["0.05", "0.2", "0.5", "2"]
    assert compact(1500) == "1.5k" and compact(2_000_000) == "2M" and compact(12) == "12" and compact(0) == "0"


def test_bar_chart_escapes_and_scales():
    day = datetime(2026, 3, 1).date()
    svg = bar_chart(
        [(day, 0), (day + timedelta(days=1), 3_000_000)], label="<b>", scale=1_000_000, tooltip=lambda v: f"{v}<x>"
    )
    assert "&lt;b&gt;" in svg and "3000000&lt;x&gt;" in svg and "<b>" not in svg
    assert svg.count('<rect class="bar"') == 2
    assert ">5<" in svg  # the axis rounds 3 credits up to 5


def test_bar_chart_axis_fits_small_spends():
    day = datetime(2026, 3, 1).date()
    svg = bar_chart([(day, 0), (day + timedelta(days=1), 36_200)], label="spend", scale=1_000_000)
    assert ">0.05<" in svg and ">0.025<" in svg
