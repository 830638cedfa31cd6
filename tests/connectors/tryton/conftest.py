"""A real Tryton for the connector's tests: one per test session, started by server.py."""

from collections.abc import Iterator

import pytest

from connectors.tryton.client import TrytonConnector

from .server import RunningTryton, TrytonUnavailable, start_tryton


@pytest.fixture(scope="session")
def tryton() -> Iterator[RunningTryton]:
    try:
        server = start_tryton()
    except TrytonUnavailable as exc:
        pytest.skip(f"No Tryton server for these tests: {exc}")
    with server:
        yield server


@pytest.fixture
def connector(tryton: RunningTryton) -> Iterator[TrytonConnector]:
    erp = TrytonConnector(
        tryton.base_url, token=tryton.password, timeout=30.0, settings=tryton.settings
    )
    yield erp
    erp.close()
