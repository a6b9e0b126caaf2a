from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import ApiKey, User
from accounts.services import api_key_mint, api_key_revoke, user_create
from billing.models import credits_to_micros, micros_to_credits
from billing.services import credit_account_ensure, ledger_adjust
from catalog.services import catalog_file_read, catalog_load

ADMIN_EMAIL = "admin@example.com"
DEMO_EMAIL = "demo@example.com"
DEMO_CREDITS = 1000
DEMO_KEY_NAME = "demo (make run)"


class Command(BaseCommand):
    help = (
        "Idempotently seed demo data: staff admin@example.com, customer demo@example.com with "
        "1,000 credits, the full catalog with upstreams pointing at the local simulator."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default="hypereal-demo", help="Password for new demo users.")
        parser.add_argument(
            "--print-key",
            action="store_true",
            help="Revoke earlier demo keys, mint a fresh one and print it.",
        )

    @transaction.atomic
    def handle(self, *args, password: str, print_key: bool, **options):
        admin = User.objects.filter(email=ADMIN_EMAIL).first() or user_create(
            email=ADMIN_EMAIL, password=password, name="Admin", is_staff=True
        )
        demo = User.objects.filter(email=DEMO_EMAIL).first() or user_create(
            email=DEMO_EMAIL, password=password, name="Demo customer"
        )
        account = credit_account_ensure(user=demo)
        # One grant ever, by reference, so re-running never adds credits.
        ledger_adjust(
            account_id=account.pk,
            amount_micros=credits_to_micros(DEMO_CREDITS),
            reference=f"demo-grant:{demo.pk}",
            description="Demo credits",
            created_by=admin,
        )
        summary = catalog_load(
            data=catalog_file_read(),
            simulator_url=settings.UPSTREAM_SIMULATOR_URL,
            upstream_api_key=settings.UPSTREAM_SIMULATOR_KEY,
            created_by=admin,
        )
        account.refresh_from_db()
        self.stderr.write(
            f"seed_demo: catalog v{summary.version}: {summary.models} models, {summary.providers} providers, "
            f"{summary.routes} routes, {summary.aliases} aliases, {summary.prices_added} new price rows; "
            f"{DEMO_EMAIL} has {micros_to_credits(account.balance_micros)} credits"
        )
        if print_key:
            for key in ApiKey.objects.filter(user=demo, name=DEMO_KEY_NAME, revoked_at__isnull=True):
                api_key_revoke(api_key=key)
            self.stdout.write(api_key_mint(user=demo, name=DEMO_KEY_NAME).raw_key)
