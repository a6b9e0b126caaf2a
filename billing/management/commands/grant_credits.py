import uuid
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing.models import credits_to_micros, micros_to_credits
from billing.services import credit_account_ensure, ledger_adjust


class Command(BaseCommand):
    help = "Grant (or with a negative number, remove) credits as a recorded adjustment."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--credits", required=True)
        parser.add_argument("--reason", required=True)

    def handle(self, *args, email: str, credits: str, reason: str, **options):
        try:
            amount = credits_to_micros(Decimal(credits))
        except (InvalidOperation, ValueError) as exc:
            raise CommandError(f"--credits must be a number of credits, got {credits!r}.") from exc
        if amount == 0:
            raise CommandError("--credits must not be zero.")
        if not reason.strip():
            raise CommandError("--reason must not be empty.")
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        account = credit_account_ensure(user=user)
        entry = ledger_adjust(
            account_id=account.pk,
            amount_micros=amount,
            reference=f"grant:{uuid.uuid4()}",
            description=f"grant_credits: {reason.strip()}",
        )
        self.stdout.write(
            f"{user.email}: {micros_to_credits(entry.amount_micros):+} credits, "
            f"balance {micros_to_credits(entry.balance_after_micros)} credits"
        )
