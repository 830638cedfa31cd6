from django.core.management.base import BaseCommand, CommandError

from integration_console.sync.models import Flow, SyncRun
from integration_console.sync.services import sync_run_start


class Command(BaseCommand):
    help = "Queue a run of a flow (by name or id); without REDIS_URL it runs right here."

    def add_arguments(self, parser) -> None:
        parser.add_argument("flow", help="Flow name or id")

    def handle(self, *args, flow: str, **options) -> None:
        lookup = {"pk": int(flow)} if flow.isdigit() else {"name": flow}
        try:
            target = Flow.objects.get(**lookup)
        except Flow.DoesNotExist:
            raise CommandError(f"No flow {flow!r}.") from None
        run = SyncRun.objects.get(pk=sync_run_start(flow=target, triggered_by="cli").pk)
        self.stdout.write(
            f"Run #{run.pk} {run.get_status_display().lower()}: read {run.read_count}, "
            f"created {run.created_count}, updated {run.updated_count}, "
            f"skipped {run.skipped_count}, failed {run.failed_count}"
        )
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(run.error)
