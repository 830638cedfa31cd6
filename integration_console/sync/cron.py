"""RQ cron configuration: `manage.py rqcron integration_console.sync.cron` runs it.

Every minute RQ enqueues one job that starts the flows whose schedule is due; the schedules
themselves live on the Flow rows, so changing one needs no restart.
"""

from rq import cron

from integration_console.sync.jobs import start_due_flows

cron.register(start_due_flows, queue_name="default", cron="* * * * *")
