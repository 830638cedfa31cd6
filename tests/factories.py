"""Test data: factories for the console's rows, and helpers for the demo world.

The factories build consistent rows with few arguments: ``FlowFactory()`` is a flow between two
systems of its data class, whose field map has an active version with one rule per field of the
data class's schema; ``ReviewItemFactory(flow=flow)`` is an open item of that flow, as a failure
opens it. Values come from sequences, never from chance, so a failing test fails the same way
every time.
"""

import hashlib

import factory
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Max
from django.utils import timezone
from factory.django import DjangoModelFactory

from integration_console import roles
from integration_console.catalog.models import (
    DataClass,
    FieldMap,
    FieldMapVersion,
    FieldRule,
    System,
)
from integration_console.sync.failures import FailureKind
from integration_console.sync.models import AuditEntry, Flow, RecordLink, SyncRun
from integration_console.sync.services import sync_run_start
from review_queue.models import ReviewItem, ReviewItemEvent

PASSWORD = "password"

CONTACT_SCHEMA = {
    "fields": [
        {"name": "name", "label": "Name", "type": "string", "required": True},
        {
            "name": "email",
            "label": "Email",
            "type": "string",
            "pattern": r"[^@\s]+@[^@\s]+\.[^@\s]+",
        },
        {"name": "country_code", "label": "Country", "type": "string"},
    ]
}


# --- helpers for the demo world -----------------------------------------------------------


def run_flow(flow: Flow, capture) -> SyncRun:
    """Start a run and execute it in this process (``capture`` is
    django_capture_on_commit_callbacks)."""
    with capture(execute=True):
        run = sync_run_start(flow=flow, triggered_by="test")
    run.refresh_from_db()
    return run


def creating_one_at_a_time(flow: Flow) -> Flow:
    """The flow's target without its batch endpoint: runs create one record a request, for
    tests of what happens to a single create (its retries, its lost answer)."""
    target = flow.target_system
    target.settings = {key: value for key, value in target.settings.items() if key != "batch"}
    target.save()
    return flow


def demo_user(username: str) -> User:
    return User.objects.get(username=username)


# --- people ---------------------------------------------------------------------------------


class UserFactory(DjangoModelFactory):
    """``UserFactory(role=roles.OPERATOR)`` holds a role as the demo's users do;
    ``UserFactory(permissions=["review_queue.view_reviewitem"])`` holds just those."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(user: User, create: bool, extracted: str | None, **kwargs) -> None:
        if not extracted:
            return
        user.is_staff = user.is_staff or extracted in roles.STAFF_ROLES
        if create:
            user.save(update_fields=["is_staff"])
            user.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def permissions(user: User, create: bool, extracted: list[str] | None, **kwargs) -> None:
        if not (create and extracted):
            return
        for code in extracted:
            app_label, codename = code.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


# --- catalog --------------------------------------------------------------------------------


class SystemFactory(DjangoModelFactory):
    class Meta:
        model = System

    name = factory.Sequence(lambda n: f"System {n}")
    base_url = factory.Sequence(lambda n: f"http://system-{n}.example/api")


class DataClassFactory(DjangoModelFactory):
    class Meta:
        model = DataClass

    name = factory.Sequence(lambda n: f"contact-{n}")
    label = factory.Sequence(lambda n: f"Contact {n}")
    schema = factory.LazyFunction(lambda: {"fields": [dict(f) for f in CONTACT_SCHEMA["fields"]]})


class FieldMapFactory(DjangoModelFactory):
    class Meta:
        model = FieldMap

    name = factory.Sequence(lambda n: f"Field map {n}")
    data_class = factory.SubFactory(DataClassFactory)
    source_system = factory.SubFactory(SystemFactory)
    target_system = factory.SubFactory(SystemFactory)


def _next_version_number(version: FieldMapVersion) -> int:
    if version.field_map.pk is None:
        return 1
    highest = version.field_map.versions.aggregate(Max("number"))["number__max"]
    return (highest or 0) + 1


class FieldMapVersionFactory(DjangoModelFactory):
    """A draft, numbered after its map's latest version, with one rule per field of the data
    class (``rules=[]`` for none). ``FieldMapVersionFactory(active=True)``: approved, active."""

    class Meta:
        model = FieldMapVersion
        skip_postgeneration_save = True

    class Params:
        active = factory.Trait(
            status=FieldMapVersion.Status.ACTIVE,
            author=factory.SubFactory(UserFactory, role=roles.BUSINESS_OWNER),
            approved_by=factory.SubFactory(UserFactory, role=roles.ADMIN),
            approved_at=factory.LazyFunction(timezone.now),
        )

    field_map = factory.SubFactory(FieldMapFactory)
    number = factory.LazyAttribute(_next_version_number)
    status = FieldMapVersion.Status.DRAFT

    @factory.post_generation
    def rules(version: FieldMapVersion, create: bool, extracted: list | None, **kwargs) -> None:
        if not create or extracted is not None:
            return
        for position, field in enumerate(version.field_map.data_class.fields):
            FieldRuleFactory(
                version=version,
                position=position,
                source_path=field["name"],
                target_path=field["name"],
                required=field.get("required", False),
            )


class FieldRuleFactory(DjangoModelFactory):
    class Meta:
        model = FieldRule

    version = factory.SubFactory(FieldMapVersionFactory, rules=[])
    position = factory.Sequence(lambda n: n)
    source_path = factory.Sequence(lambda n: f"field_{n}")
    target_path = factory.SelfAttribute("source_path")
    transform = "trim"


# --- sync -----------------------------------------------------------------------------------


class FlowFactory(DjangoModelFactory):
    """A live flow whose field map has an active version (``active_version=False``: none)."""

    class Meta:
        model = Flow
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Flow {n}")
    data_class = factory.SubFactory(DataClassFactory)
    source_system = factory.SubFactory(SystemFactory)
    source_resource = "contacts"
    target_system = factory.SubFactory(SystemFactory)
    target_resource = "customers"
    field_map = factory.SubFactory(
        FieldMapFactory,
        data_class=factory.SelfAttribute("..data_class"),
        source_system=factory.SelfAttribute("..source_system"),
        target_system=factory.SelfAttribute("..target_system"),
    )
    mode = Flow.Mode.FULL
    stage = Flow.Stage.LIVE

    @factory.post_generation
    def active_version(flow: Flow, create: bool, extracted: bool | None, **kwargs) -> None:
        if create and extracted is not False and flow.field_map.active_version is None:
            FieldMapVersionFactory(field_map=flow.field_map, active=True)


class SyncRunFactory(DjangoModelFactory):
    """A finished run of its flow's active version."""

    class Meta:
        model = SyncRun

    flow = factory.SubFactory(FlowFactory)
    status = SyncRun.Status.SUCCEEDED
    stage = factory.SelfAttribute("flow.stage")
    field_map_version = factory.LazyAttribute(lambda run: run.flow.field_map.active_version)
    triggered_by = "test"
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.SelfAttribute("started_at")


class RecordLinkFactory(DjangoModelFactory):
    class Meta:
        model = RecordLink

    flow = factory.SubFactory(FlowFactory)
    data_class = factory.SelfAttribute("flow.data_class")
    source_system = factory.SelfAttribute("flow.source_system")
    source_id = factory.Sequence(lambda n: f"source-{n}")
    target_system = factory.SelfAttribute("flow.target_system")
    target_id = factory.Sequence(lambda n: f"target-{n}")
    payload_hash = factory.LazyAttribute(
        lambda link: hashlib.sha256(link.source_id.encode()).hexdigest()
    )


class AuditEntryFactory(DjangoModelFactory):
    """A record created by a run; ``AuditEntryFactory(failed=True)``: one that failed."""

    class Meta:
        model = AuditEntry

    class Params:
        failed = factory.Trait(
            outcome=AuditEntry.Outcome.FAILED,
            target_id="",
            failure_kind=FailureKind.INVALID,
            failure_reason="email: Enter a valid email address.",
            field_errors={"email": ["Enter a valid email address."]},
        )

    flow = factory.SubFactory(FlowFactory)
    run = factory.SubFactory(SyncRunFactory, flow=factory.SelfAttribute("..flow"))
    source_id = factory.Sequence(lambda n: f"source-{n}")
    target_id = factory.Sequence(lambda n: f"target-{n}")
    action = AuditEntry.Action.CREATE
    outcome = AuditEntry.Outcome.SUCCEEDED
    payload_version = factory.LazyAttribute(
        lambda entry: entry.run.field_map_version if entry.run else None
    )
    payload = factory.LazyAttribute(lambda entry: {"name": f"Contact {entry.source_id}"})
    actor = factory.LazyAttribute(lambda entry: f"job:run-{entry.run.pk}" if entry.run else "test")


# --- review queue ---------------------------------------------------------------------------


class ReviewItemEventFactory(DjangoModelFactory):
    class Meta:
        model = ReviewItemEvent

    item = factory.SubFactory("tests.factories.ReviewItemFactory", opened=None)
    action = ReviewItemEvent.Action.COMMENTED
    actor = "test"


class ReviewItemFactory(DjangoModelFactory):
    """An open ``invalid`` item, with the 'opened' event a failure gives it."""

    class Meta:
        model = ReviewItem
        skip_postgeneration_save = True

    flow = factory.SubFactory(FlowFactory)
    source_id = factory.Sequence(lambda n: f"source-{n}")
    kind = FailureKind.INVALID
    reason = "email: Enter a valid email address."
    field_errors = factory.LazyFunction(lambda: {"email": ["Enter a valid email address."]})
    source_snapshot = factory.LazyAttribute(
        lambda item: {"id": item.source_id, "name": "Ada Lovelace", "email": "ada@"}
    )
    payload = factory.LazyAttribute(
        lambda item: {"name": "Ada Lovelace", "email": item.source_snapshot.get("email")}
    )
    fingerprint = factory.LazyAttribute(
        lambda item: ReviewItem.fingerprint_for(item.flow.pk, item.kind, item.field_errors)
    )
    opened = factory.RelatedFactory(
        ReviewItemEventFactory,
        factory_related_name="item",
        action=ReviewItemEvent.Action.OPENED,
        actor="job:test",
        note=factory.SelfAttribute("..reason"),
    )
