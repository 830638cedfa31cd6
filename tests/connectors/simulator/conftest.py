"""A client on the suite's simulator process, shared so that a test pays only for the reset."""

from collections.abc import Iterator

import httpx
import pytest

from connectors.simulator.runner import RunningSimulator


@pytest.fixture(scope="session")
def shared_client(simulator_process: RunningSimulator) -> Iterator[httpx.Client]:
    # One client for all: building an httpx client loads the CA bundle, some 50 ms each time.
    with httpx.Client(base_url=simulator_process.base_url, timeout=5) as client:
        yield client


@pytest.fixture
def client(shared_client: httpx.Client) -> httpx.Client:
    """A client on the simulator, reset to its seeded world (test_server.py has its own)."""
    shared_client.post("/_control/reset").raise_for_status()
    return shared_client
