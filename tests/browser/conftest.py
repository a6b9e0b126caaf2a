"""Live tests (marker `live`) and browser tests (marker `browser`, added to
every test that uses Chromium): Debian's Chromium (never a downloaded browser) driven by
Playwright, against the real app under uvicorn on the test database, the
upstream simulator and the local fake Stripe. Screenshots of the main pages
go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.billing.fake_stripe import FakeStripe
from tests.browser.servers import ROOT, start_app, start_simulator

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.live)
            if "chromium" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread, which makes
    # Django refuse ORM calls from the test body; the loop never runs
    # concurrently with them, so the check is relaxed for these tests only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def simulator(tmp_path_factory):
    server = start_simulator(tmp_path_factory.mktemp("simulator"))
    yield server
    server.stop()


@pytest.fixture
def live_catalog(transactional_db, simulator):
    from catalog.services import catalog_file_read, catalog_load

    return catalog_load(data=catalog_file_read(), simulator_url=simulator.url, upstream_api_key="sim-browser-key")


@pytest.fixture
def stripe_fake():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def live_app(transactional_db, live_catalog, stripe_fake, tmp_path):
    """The app under uvicorn with Stripe pointed at the fake, whose webhooks
    go back to the app over HTTP."""
    app = start_app(
        log_dir=tmp_path,
        extra_env={
            "STRIPE_SECRET_KEY": stripe_fake.secret_key,
            "STRIPE_WEBHOOK_SECRET": stripe_fake.webhook_secret,
            "STRIPE_API_BASE": stripe_fake.base_url,
        },
    )
    stripe_fake.webhook_url = app.url + "/billing/stripe/webhook/"
    yield app
    stripe_fake.wait_for_deliveries()
    app.stop()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def browser_context(chromium, live_app):
    """A desktop browser context that records every URL it requests."""
    context = chromium.new_context(viewport=DESKTOP, base_url=live_app.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.url)
    context.requested_urls = []
    context.on("request", lambda request: context.requested_urls.append(request.url))
    context.set_default_timeout(15_000)
    yield context
    context.close()
