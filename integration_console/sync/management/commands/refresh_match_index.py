from django.core.management.base import BaseCommand, CommandError

from connectors.errors import ConnectorError
from integration_console.sync.models import Flow
from integration_console.sync.services.matching import MatchingOff, match_index_refresh


class Command(BaseCommand):
    help = (
        "Read a flow's target records into the index that matching looks duplicates up in "
        "(every flow whose data class has matching, without a flow)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("flow", nargs="?", help="Flow name or id")

    def handle(self, *args, flow: str | None = None, **options) -> None:
        if flow is None:
            flows = [f for f in Flow.objects.select_related("data_class") if f.data_class.matching]
        else:
            lookup = {"pk": int(flow)} if flow.isdigit() else {"name": flow}
            try:
                flows = [Flow.objects.get(**lookup)]
            except Flow.DoesNotExist:
                raise CommandError(f"No flow {flow!r}.") from None
        for each in flows:
            try:
                read = match_index_refresh(flow=each)
            except (MatchingOff, ConnectorError) as exc:
                raise CommandError(f"{each}: {exc}") from exc
            self.stdout.write(
                f"{each}: {read} {each.target_system} {each.target_resource} indexed for matching."
            )
