from django.core.management.base import BaseCommand, CommandError

from integration_console.sync.models import Flow, SyncRun
from integration_console.sync.services import RunNotQueued, sync_run_start, sync_run_wait


class Command(BaseCommand):
    help = "Run a flow (by name or id) and wait for it to finish: on the RQ workers with "
    "REDIS_URL, otherwise in this process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("flow", help="Flow name or id")

    def handle(self, *args, flow: str, **options) -> None:
        lookup = {"pk": int(flow)} if flow.isdigit() else {"name": flow}
        try:
            target = Flow.objects.get(**lookup)
        except Flow.DoesNotExist:
            raise CommandError(f"No flow {flow!r}.") from None
        try:
            started = sync_run_start(flow=target, triggered_by="cli")
        except RunNotQueued as exc:
            raise CommandError(str(exc)) from exc
        run = sync_run_wait(run_id=started.pk)
        self.stdout.write(
            f"Run #{run.pk} {run.get_status_display().lower()}: read {run.read_count}, "
            f"created {run.created_count}, updated {run.updated_count}, "
            f"skipped {run.skipped_count}, failed {run.failed_count}"
        )
        if run.status in SyncRun.ACTIVE_STATUSES:
            raise CommandError(f"Run #{run.pk} has not finished yet; see the console.")
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(run.error)
