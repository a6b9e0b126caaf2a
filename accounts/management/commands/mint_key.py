from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import api_key_mint


class Command(BaseCommand):
    help = "Mint an API key for a user and print only the key on stdout."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", default="cli")

    def handle(self, *args, email: str, name: str, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        if not user.is_active:
            raise CommandError(f"User {email!r} is inactive.")
        minted = api_key_mint(user=user, name=name)
        self.stdout.write(minted.raw_key)
