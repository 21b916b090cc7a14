from django.core.management.base import BaseCommand, CommandError

from bench.seed import seed_bench


class Command(BaseCommand):
    help = "Fill the database with realistic bench data fast (COPY on PostgreSQL): two years, ~10 % open."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=100_000)
        parser.add_argument("--departments", type=int, default=12)
        parser.add_argument("--buyers", type=int, default=60)
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same data.")

    def handle(self, *args, requests, departments, buyers, seed, **options):
        if requests < 1 or departments < 1 or buyers < 1:
            raise CommandError("--requests, --departments and --buyers must be at least 1.")
        counts = seed_bench(requests=requests, departments=departments, buyers=buyers, seed=seed, log=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['requests']:,} requests ({counts['open']:,} open), {counts['events']:,} events, "
                f"{counts['comments']:,} replies, {counts['clocks']:,} SLA clocks in {counts['seconds']} s."
            )
        )
