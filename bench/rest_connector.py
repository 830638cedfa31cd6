"""Records per second through the declarative REST connector, against a bare httpx loop over
the same pages and posts, in one run, per API style. Not part of the test suite.

    .venv/bin/python bench/rest_connector.py [--contacts 1000] [--repeat 3]

Both sides read every CRM contact page by page and POST each one to the ERP, against the
simulator over real HTTP; the ERP is reset between phases, so both create the same records.
The headline is the connector's rate as a ratio of the bare loop's (the target is >= 0.9).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# The simulator runs through manage.py, which needs settings to load.
os.environ.setdefault("SECRET_KEY", "bench-only-throwaway-secret-key")

from connectors.errors import ConnectorError  # noqa: E402
from connectors.rest.client import RestConnector  # noqa: E402
from connectors.simulator.runner import RunningSimulator, start_simulator  # noqa: E402

PAGE_SIZE = 50
# Two styles: the simulator's own keyset API (streamed), and offset/limit with a total, which
# the connector reads as a window and sorts (see connectors/rest/client.py).
STYLES: dict[str, dict] = {
    "keyset (/crm/api)": {"base": "{sim}/crm/api", "settings": {}},
    "offset + total": {
        "base": "{sim}/styles/offset/crm",
        "settings": {
            "auth": {"type": "api_key", "name": "X-API-Key"},
            "records_path": "items",
            "total_path": "total",
            "pagination": {"type": "offset"},
        },
        "token": "sim-api-key",
    },
}


def customer(contact: dict) -> dict:
    # Unique emails, so that every POST creates: the phases compare HTTP and connector work.
    return {
        "given_name": contact["first_name"].strip() or "X",
        "family_name": contact["last_name"].strip() or "X",
        "email": f"{uuid.uuid4().hex[:12]}@bench.example",
        "country_code": "DE",
    }


def bare_loop(sim: RunningSimulator, style: dict) -> int:
    headers = {"X-API-Key": style["token"]} if style.get("token") else {}
    base = style["base"].format(sim=sim.base_url)
    done = 0
    with httpx.Client(headers=headers, timeout=30) as client:
        if style["settings"]:
            offset = 0
            while True:
                params = {"offset": offset, "limit": PAGE_SIZE}
                items = client.get(f"{base}/contacts", params=params).json()["items"]
                for contact in items:
                    client.post(f"{sim.erp_url}/customers", json=customer(contact))
                    done += 1
                if len(items) < PAGE_SIZE:
                    return done
                offset += len(items)
        after: dict = {}
        while True:
            params = {"page_size": PAGE_SIZE, **after}
            results = client.get(f"{base}/contacts", params=params).json()["results"]
            for contact in results:
                client.post(f"{sim.erp_url}/customers", json=customer(contact))
                done += 1
            if len(results) < PAGE_SIZE:
                return done
            last = results[-1]
            after = {"updated_since": last["updated_at"], "after_id": last["id"]}


def connector_loop(sim: RunningSimulator, style: dict) -> int:
    crm = RestConnector(
        style["base"].format(sim=sim.base_url), token=style.get("token"), settings=style["settings"]
    )
    erp = RestConnector(sim.erp_url)
    done = 0
    try:
        for contact in crm.iter_records("contacts", page_size=PAGE_SIZE):
            try:
                erp.create("customers", customer(contact), idempotency_key=uuid.uuid4().hex)
            except ConnectorError:
                pass
            done += 1
    finally:
        crm.close()
        erp.close()
    return done


def timed(run: Callable[[], int], sim: RunningSimulator) -> float:
    httpx.post(f"{sim.base_url}/_control/reset", timeout=10).raise_for_status()
    started = time.perf_counter()
    records = run()
    return records / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="Rounds; the median counts.")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.system()} {platform.machine()}")
    print(f"{'style':<22}{'bare rec/s':>12}{'connector rec/s':>17}{'ratio':>8}")
    with start_simulator(contacts=args.contacts) as sim:
        for name, style in STYLES.items():
            bare, ours = [], []
            for _ in range(args.repeat):
                bare.append(timed(lambda s=style: bare_loop(sim, s), sim))
                ours.append(timed(lambda s=style: connector_loop(sim, s), sim))
            b, c = statistics.median(bare), statistics.median(ours)
            print(f"{name:<22}{b:>12.0f}{c:>17.0f}{c / b:>8.2f}")


if __name__ == "__main__":
    main()
