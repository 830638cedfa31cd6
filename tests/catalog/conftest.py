import pytest

from integration_console.catalog.transforms import forget_alias_tables


@pytest.fixture(autouse=True)
def fresh_alias_tables():
    """Alias tables are cached per process; a test's aliases vanish with its rolled-back
    transaction, which no signal reports, so no test may see another's."""
    forget_alias_tables()
    yield
    forget_alias_tables()
