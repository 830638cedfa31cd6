"""The project's RQ cron module: what `manage.py rqcron integration_console.cron` schedules."""

from redis import Redis
from rq.cron import CronScheduler

from integration_console.ops.jobs import recount_overview_now
from integration_console.sync.jobs import recover_sync_runs, start_due_flows
from review_queue.jobs import escalate_past_sla, prune_by_retention, recover_bulk_actions


def test_the_cron_module_recovers_starts_due_flows_recounts_escalates_and_prunes_daily():
    # A Redis client connects on first use; loading the module never uses it.
    scheduler = CronScheduler(connection=Redis())
    scheduler.load_config_from_file("integration_console.cron")
    schedules = {job.func: job.cron for job in scheduler.get_jobs()}
    assert schedules == {
        recover_sync_runs: "* * * * *",
        start_due_flows: "* * * * *",
        recover_bulk_actions: "* * * * *",
        recount_overview_now: "*/2 * * * *",
        escalate_past_sla: "*/5 * * * *",
        prune_by_retention: "17 3 * * *",
    }
