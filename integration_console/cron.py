"""RQ cron configuration for the whole console: `manage.py rqcron integration_console.cron`
runs it as its own process. Every job is safe to run twice (a second cron process does).

- Every minute: resume the runs (their chunks), the merges and the bulk actions whose worker
  died or whose job was lost, then start the flows whose schedule is due. The schedules live
  on the Flow rows, so changing one needs no restart.
- Every two minutes: count the overview's figures again (about a quarter of a second at a
  million review items), so that no request has to.
- Every five minutes: e-mail the review items past their SLA that nobody was told of yet.
- Daily at 03:17 UTC: prune closed review items and audit entries older than their flow's
  retention. It deletes in chunks that each commit, so a prune cut short by its timeout
  keeps its progress and the next day's goes on.
"""

from rq import cron

from integration_console.ops.jobs import recount_overview_now
from integration_console.sync.jobs import recover_sync_runs, start_due_flows
from review_queue.jobs import escalate_past_sla, prune_by_retention, recover_bulk_actions

cron.register(recover_sync_runs, queue_name="default", cron="* * * * *")
cron.register(start_due_flows, queue_name="default", cron="* * * * *")
cron.register(recover_bulk_actions, queue_name="default", cron="* * * * *")
cron.register(recount_overview_now, queue_name="default", cron="*/2 * * * *")
cron.register(escalate_past_sla, queue_name="default", cron="*/5 * * * *")
cron.register(prune_by_retention, queue_name="default", cron="17 3 * * *", job_timeout=3600)
