"""A flow's settings are checked where an admin edits them: its map must fit its systems and
data class, and a limited flow needs its limit."""

import pytest
from django.core.exceptions import ValidationError

from integration_console.sync.models import Flow
from tests.factories import FieldMapFactory, SystemFactory

pytestmark = pytest.mark.django_db


def test_a_flow_refuses_a_field_map_of_other_systems(demo_flow):
    demo_flow.field_map = FieldMapFactory(
        data_class=demo_flow.data_class,
        source_system=SystemFactory(name="Support desk"),
        target_system=demo_flow.target_system,
    )
    with pytest.raises(ValidationError) as refused:
        demo_flow.full_clean()

    assert "reads records of Support desk" in str(refused.value.message_dict["field_map"])


def test_a_limited_flow_needs_a_write_limit(demo_flow):
    demo_flow.stage, demo_flow.write_limit = Flow.Stage.LIMITED, None
    with pytest.raises(ValidationError) as refused:
        demo_flow.full_clean()

    assert "write_limit" in refused.value.message_dict
