from django.core.management.base import BaseCommand

from billing.models import micros_to_credits
from billing.selectors import ledger_audit


class Command(BaseCommand):
    help = "Check balance == sum(entries) and no orphan holds for every account; exit 1 on drift."

    def handle(self, *args, **options):
        report = ledger_audit()
        self.stdout.write(
            f"accounts={report.accounts} entries={report.entries} active_holds={report.active_holds} "
            f"total_balance={micros_to_credits(report.total_balance_micros)} credits"
        )
        for drift in report.drifts:
            for problem in drift.problems:
                self.stderr.write(f"DRIFT account {drift.account_id} ({drift.email}): {problem}")
        if report.clean:
            self.stdout.write("ledger audit: clean")
            return
        self.stderr.write(f"ledger audit: {len(report.drifts)} account(s) drifted")
        raise SystemExit(1)
