"""The whole customer path in a real browser: sign up, create a key, top up
through (fake) Stripe Checkout and its webhook, see the balance, call the
API with the key, see the request on the usage page, follow media jobs and
their webhook attempts, revoke the key and get 401. Screenshots of each
main page are saved as test artifacts."""

from datetime import timedelta

import openai
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import api_key_mint
from billing.models import LedgerEntry, StripeEvent, TopUp
from billing.selectors import ledger_audit
from gateway.models import UsageRecord
from media_jobs.models import MediaJob, WebhookAttempt, WebhookDelivery
from tests.browser.conftest import PHONE

PASSWORD = "walk-Secret-4242"


def test_customer_walk(browser_context, live_app, stripe_fake, screenshot):
    page = browser_context.new_page()

    # Landing → sign up.
    page.goto("/")
    screenshot(page, "01-landing")
    page.get_by_role("link", name="Create a free account").click()
    page.fill("#id_email", "walker@example.com")
    page.fill("#id_name", "Walker")
    page.fill("#id_password", PASSWORD)
    screenshot(page, "02-signup")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/dashboard/")
    expect(page.get_by_test_id("balance-alert")).to_contain_text("You have 0 credits")
    expect(page.get_by_test_id("balance-alert")).to_contain_text("402 Payment Required")
    expect(page.get_by_test_id("nav-balance")).to_contain_text("0.00 credits")
    screenshot(page, "03-overview-new-account")

    # Create a key; it is shown once, with a working copy button.
    page.locator("#sidebar").get_by_role("link", name="API keys").click()
    page.fill("#id_name", "walk key")
    page.locator("#create button[type=submit]").click()
    raw_key = page.locator("#new-key").inner_text().strip()
    assert raw_key.startswith("ck_")
    copy = page.locator("[data-copy-target='#new-key']")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == raw_key
    screenshot(page, "04-keys-new-key")
    # Reloading re-posts the form: no second key, and the key is not shown again.
    page.reload()
    expect(page.locator(".messages")).to_contain_text("already submitted")
    expect(page.get_by_test_id("keys-table").locator("tbody tr")).to_have_count(1)
    assert raw_key not in page.content()

    client = openai.OpenAI(base_url=f"{live_app.url}/api/v1", api_key=raw_key, max_retries=0, timeout=30)

    def ask():
        return client.chat.completions.create(
            model="gpt-5.5", messages=[{"role": "user", "content": "Say hi in one word."}]
        )

    # With 0 credits the first call is a 402 that says how to top up.
    with pytest.raises(openai.APIStatusError) as refused:
        ask()
    assert refused.value.status_code == 402
    assert "/dashboard/topup/" in refused.value.message

    # Top up $5 through the fake Stripe Checkout; the credits arrive with
    # Stripe's signed webhook, and the success page updates by itself.
    page.get_by_role("banner").get_by_role("link", name="Top up").click()
    page.locator(".amounts button[data-amount='5']").click()
    expect(page.locator("[data-credits-for=id_amount]")).to_have_text("500 credits")
    screenshot(page, "05-topup")
    page.get_by_role("button", name="Continue to secure checkout").click()
    page.wait_for_url(f"{stripe_fake.base_url}/checkout/**")
    expect(page.locator("#amount")).to_have_text("$5.00")
    screenshot(page, "06-stripe-checkout")
    page.locator("#pay").click()
    page.wait_for_url("**/dashboard/topup/success/**")
    expect(page.get_by_test_id("topup-status")).to_contain_text("Credits added", timeout=30_000)
    expect(page.get_by_test_id("nav-balance")).to_contain_text("500.00 credits")
    screenshot(page, "07-topup-success")
    stripe_fake.wait_for_deliveries()
    assert [d.status for d in stripe_fake.deliveries] == [200]
    topup = TopUp.objects.get()
    assert topup.status == "paid" and topup.receipt_url
    assert StripeEvent.objects.get().outcome == "credited"

    page.goto("/dashboard/")
    expect(page.get_by_test_id("balance")).to_contain_text("500.00")
    expect(page.get_by_test_id("balance-alert")).to_have_count(0)

    # Call the API with the key: the gateway answers and bills the call.
    reply = ask()
    assert reply.choices[0].message.content
    record = UsageRecord.objects.get(user__email="walker@example.com")
    assert record.model_served == "gpt-5.5" and record.cost_micros > 0

    # The request is on the usage page; the top-up and the charge are in the
    # billing history, the top-up with its Stripe receipt.
    page.goto("/dashboard/usage/")
    row = page.locator(f"tr[data-request-id='{record.request_id}']")
    expect(row).to_contain_text("gpt-5.5")
    expect(page.get_by_test_id("total-requests")).to_have_text("1")
    screenshot(page, "08-usage")
    page.goto("/dashboard/billing/")
    expect(page.get_by_test_id("topups-table").get_by_role("link", name="Stripe receipt")).to_have_attribute(
        "href", topup.receipt_url
    )
    expect(page.get_by_test_id("ledger-table").locator("tr")).to_have_count(3)  # header, charge, top-up
    screenshot(page, "09-billing-history")

    # Revoke the key (with confirmation); the next call gets 401.
    page.goto("/dashboard/keys/")
    page.get_by_test_id("keys-table").get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading")).to_contain_text("Revoke “walk key”?")
    screenshot(page, "10-revoke-confirm")
    page.get_by_test_id("confirm-revoke").click()
    expect(page.locator(".messages")).to_contain_text("now get 401")
    expect(page.get_by_test_id("keys-table")).to_contain_text("Revoked")
    with pytest.raises(openai.AuthenticationError):
        ask()

    page.goto("/docs/")
    expect(page.get_by_test_id("models-chat")).to_contain_text("gpt-5.5")
    screenshot(page, "11-docs")

    # Media jobs: status, webhook delivery attempts and the signing secret.
    video = MediaJob.objects.create(
        user_id=topup.user_id, type="video", endpoint="videos_generate", operation="text_to_video",
        model="wan2.6-flash", status="completed", webhook_url="https://hooks.example/hypereal",
        deadline_at=timezone.now() + timedelta(hours=1), charged_micros=20_000_000, finished_at=timezone.now(),
    )  # fmt: skip
    delivery = WebhookDelivery.objects.create(
        job=video, event="completed", url=video.webhook_url, payload={"jobId": video.public_id},
        status="delivered", attempts=2, delivered_at=timezone.now(),
    )  # fmt: skip
    WebhookAttempt.objects.create(
        delivery=delivery, number=1, status_code=503, duration_ms=41, error="HTTP 503", signature_timestamp=1
    )
    WebhookAttempt.objects.create(delivery=delivery, number=2, status_code=200, duration_ms=12, signature_timestamp=2)
    MediaJob.objects.create(
        user_id=topup.user_id, type="image", endpoint="images_generate", operation="generate", model="gpt-image-2",
        status="processing", progress=35, deadline_at=timezone.now() + timedelta(hours=1), charged_micros=4_000_000,
    )  # fmt: skip
    page.goto("/dashboard/jobs/")
    expect(page.get_by_test_id("jobs-table").locator("tr[data-job-id]")).to_have_count(2)
    expect(page.get_by_test_id("jobs-live")).to_be_visible()  # a job in flight: the page follows it
    # Pushed updates: the page holds a WebSocket to the app's job channel.
    expect(page.get_by_test_id("jobs-socket")).to_have_attribute("data-ws-state", "open")
    page.get_by_test_id("delivery").locator("summary").click()
    expect(page.get_by_test_id("delivery")).to_contain_text("HTTP 503")
    secret = page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    screenshot(page, "12-jobs")
    # The in-flight job finishes: the page notices and shows it without a click.
    MediaJob.objects.filter(status="processing").update(status="completed", progress=100)
    expect(page.get_by_test_id("jobs-table")).not_to_contain_text("Processing", timeout=15_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("rotate-secret").click()
    expect(page.locator(".messages")).to_contain_text("New webhook signing secret")
    assert page.locator("#webhook-secret").inner_text() not in ("", secret)

    # Everything the pages loaded came from the app itself (or the checkout).
    foreign = [
        url
        for url in browser_context.requested_urls
        if not url.startswith((live_app.url, stripe_fake.base_url, "data:"))
    ]
    assert foreign == []
    assert LedgerEntry.objects.filter(kind="topup").count() == 1
    assert ledger_audit().clean


def test_pages_fit_a_phone(chromium, live_app, make_user, screenshot):
    """Every portal page fits a 390 px wide screen (no sideways scrolling of
    the page itself) and the menu opens from the top bar."""
    user = make_user(email="phone@example.com", credits=1234)
    # The app process uses the production hashers, not the tests' fast one.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    api_key_mint(user=user, name="phone key", allowed_models=["gpt-5.5"])
    context = chromium.new_context(viewport=PHONE, base_url=live_app.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")
    sidebar = page.locator("#sidebar")
    assert not sidebar.is_visible() or sidebar.bounding_box()["x"] < -100
    page.locator("[data-nav-toggle]").click()
    expect(sidebar.get_by_role("link", name="Usage")).to_be_in_viewport()
    page.locator(".scrim").click(position={"x": 370, "y": 400})
    for path, name in [
        ("/dashboard/", "phone-overview"),
        ("/dashboard/keys/", "phone-keys"),
        ("/dashboard/topup/", "phone-topup"),
        ("/dashboard/billing/", "phone-billing"),
        ("/dashboard/usage/", "phone-usage"),
        ("/dashboard/jobs/", "phone-jobs"),
        ("/docs/", "phone-docs"),
        ("/", "phone-landing"),
    ]:
        page.goto(path)
        # (A mobile browser widens its layout viewport to wide content, so
        # compare with the phone's width, not window.innerWidth.)
        overflow = page.evaluate("document.documentElement.scrollWidth") - PHONE["width"]
        assert overflow <= 1, f"{path} is {overflow}px wider than the phone"
        # Content cards use the width of the screen instead of being squeezed into columns.
        narrow = page.evaluate(
            "[...document.querySelectorAll('.card:not(.stat)')].map(c => c.getBoundingClientRect().width)"
            ".filter(w => w > 0 && w < 300)"
        )
        assert narrow == [], f"{path} has cards squeezed to {narrow}px"
        screenshot(page, name)
    context.close()
