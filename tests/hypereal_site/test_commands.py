import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, User
from accounts.selectors import api_key_authenticate
from billing.models import CreditAccount, LedgerEntry

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_mint_key_prints_only_the_key(user):
    out, _ = run("mint_key", "--email", user.email.upper(), "--name", "ci")
    key = out.strip()
    assert out.count("\n") <= 1 and key.startswith("ck_")
    assert api_key_authenticate(raw_key=key).user_id == user.pk
    assert ApiKey.objects.get(user=user).name == "ci"


def test_mint_key_unknown_email_fails_and_changes_nothing(db):
    with pytest.raises(CommandError, match="No user"):
        run("mint_key", "--email", "ghost@example.com")
    assert ApiKey.objects.count() == 0


def test_grant_credits(user):
    out, _ = run("grant_credits", "--email", user.email, "--credits", "250.5", "--reason", "promo")
    assert "balance 1250.5 credits" in out
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert entry.amount_micros == 250_500_000
    assert "promo" in entry.description


@pytest.mark.parametrize(
    "args,message",
    [
        (["--email", "ghost@example.com", "--credits", "5", "--reason", "x"], "No user"),
        (["--credits", "abc", "--reason", "x"], "must be a number"),
        (["--credits", "0", "--reason", "x"], "not be zero"),
        (["--credits", "0.0000001", "--reason", "x"], "must be a number"),
        (["--credits", "5", "--reason", "  "], "reason"),
    ],
)
def test_grant_credits_errors_change_nothing(user, args, message):
    if "--email" not in args:
        args = ["--email", user.email, *args]
    before = LedgerEntry.objects.count()
    with pytest.raises(CommandError, match=message):
        run("grant_credits", *args)
    assert LedgerEntry.objects.count() == before


def test_ledger_audit_command(user):
    out, _ = run("ledger_audit")
    assert "ledger audit: clean" in out
    CreditAccount.objects.filter(user=user).update(balance_micros=0)
    with pytest.raises(SystemExit) as exc:
        run("ledger_audit")
    assert exc.value.code == 1


def test_seed_demo_is_idempotent(db):
    run("seed_demo")
    first = (User.objects.count(), LedgerEntry.objects.count())
    out, _ = run("seed_demo", "--print-key")
    assert (User.objects.count(), LedgerEntry.objects.count()) == first
    demo = User.objects.get(email="demo@example.com")
    assert CreditAccount.objects.get(user=demo).balance_micros == 1000 * 1_000_000
    assert User.objects.get(email="admin@example.com").is_staff
    assert api_key_authenticate(raw_key=out.strip()).user_id == demo.pk
    # A second --print-key revokes the first demo key.
    out2, _ = run("seed_demo", "--print-key")
    assert api_key_authenticate(raw_key=out.strip()) is None
    assert api_key_authenticate(raw_key=out2.strip()) is not None


def test_check_deploy_is_clean_in_production_env(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "SECRET_KEY": "x" * 64 + "production-like-secret-key-for-the-check",
        "ALLOWED_HOSTS": "gateway.example.com",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = {"PATH": os.environ["PATH"], "DEBUG": "0", "VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
