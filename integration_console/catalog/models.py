"""Systems of record, data classes, ownership rules and versioned field maps."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "datetime")


class System(models.Model):
    """An external system of record, reached through a connector."""

    class ConnectorKind(models.TextChoices):
        REST = "rest", "REST (JSON, page-numbered)"

    name = models.CharField(max_length=100, unique=True)
    connector = models.CharField(max_length=20, choices=ConnectorKind, default=ConnectorKind.REST)
    base_url = models.URLField(max_length=500)
    # The *name* of an environment variable holding the API token: the secret itself is never
    # stored here, so it cannot leak into history, audit rows or logs.
    auth_env_var = models.CharField(
        "auth token variable",
        max_length=100,
        blank=True,
        help_text="Name of the environment variable that holds this system's API token.",
    )
    timeout_seconds = models.FloatField(default=10.0)
    rate_limit_per_second = models.PositiveIntegerField(
        null=True, blank=True, help_text="Leave empty for no limit."
    )
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DataClass(models.Model):
    """A kind of business record and its canonical schema.

    ``schema`` is ``{"fields": [{"name", "type", "required", "allowed_values", "pattern",
    "label"}]}``; it is the stable internal contract that payloads are validated against.
    """

    name = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    schema = models.JSONField(default=dict)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "data classes"

    def __str__(self) -> str:
        return self.label

    @property
    def fields(self) -> list[dict]:
        return list(self.schema.get("fields", []))

    def clean(self) -> None:
        from .schema import schema_errors

        errors = schema_errors(self.schema)
        if errors:
            raise ValidationError({"schema": errors})


class OwnershipRule(models.Model):
    """Which system is the source of truth for a data class, or for one of its fields."""

    data_class = models.ForeignKey(DataClass, on_delete=models.CASCADE, related_name="ownership")
    field = models.CharField(
        max_length=100, blank=True, help_text="Empty: the rule covers the whole data class."
    )
    owner = models.ForeignKey(System, on_delete=models.PROTECT, related_name="owned")
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["data_class", "field"], name="one_owner_per_field"),
        ]
        ordering = ["data_class", "field"]

    def __str__(self) -> str:
        target = f"{self.data_class.name}.{self.field}" if self.field else self.data_class.name
        return f"{self.owner} owns {target}"


class FieldMap(models.Model):
    """How records of a data class in one system become payloads for another."""

    name = models.CharField(max_length=150, unique=True)
    data_class = models.ForeignKey(DataClass, on_delete=models.PROTECT, related_name="field_maps")
    source_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    target_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def active_version(self) -> "FieldMapVersion | None":
        return self.versions.filter(status=FieldMapVersion.Status.ACTIVE).first()


class FieldMapVersion(models.Model):
    """One version of a field map; only one version of a map is active at a time."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        ACTIVE = "active", "Approved (active)"
        RETIRED = "retired", "Retired"

    field_map = models.ForeignKey(FieldMap, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status, default=Status.DRAFT)
    note = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["field_map", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["field_map", "number"], name="version_number_unique"),
            models.UniqueConstraint(
                fields=["field_map"],
                condition=models.Q(status="active"),
                name="one_active_version_per_map",
            ),
        ]
        permissions = [("approve_fieldmapversion", "Can approve field map versions")]

    def __str__(self) -> str:
        return f"{self.field_map} v{self.number}"

    def clean(self) -> None:
        if self.approved_by_id and self.approved_by_id == self.author_id:
            raise ValidationError("The author of a field map version cannot approve it.")


class FieldRule(models.Model):
    """One field of a field map version: its source, its transforms, its target."""

    class ConflictRule(models.TextChoices):
        SOURCE_WINS = "source_wins", "Source wins"
        OWNER_WINS = "owner_wins", "Owner wins"
        NEWEST_WINS = "newest_wins", "Newest wins"
        ASK = "ask", "Ask a person"

    class Direction(models.TextChoices):
        SOURCE_TO_TARGET = "source_to_target", "Source → target"
        BOTH = "both", "Both ways"

    version = models.ForeignKey(FieldMapVersion, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    source_path = models.CharField(max_length=200, help_text="Dotted path in the source record.")
    target_path = models.CharField(max_length=200, help_text="Field of the target data class.")
    transform = models.CharField(
        max_length=200,
        blank=True,
        help_text="Transforms applied left to right, separated by '|', e.g. 'trim|lower'.",
    )
    required = models.BooleanField(default=False)
    conflict_rule = models.CharField(
        max_length=20, choices=ConflictRule, default=ConflictRule.SOURCE_WINS
    )
    direction = models.CharField(
        max_length=20, choices=Direction, default=Direction.SOURCE_TO_TARGET
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["version", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "target_path"], name="one_rule_per_target"),
        ]

    def __str__(self) -> str:
        chain = f" [{self.transform}]" if self.transform else ""
        return f"{self.source_path} → {self.target_path}{chain}"

    def clean(self) -> None:
        from .transforms import unknown_transforms

        unknown = unknown_transforms(self.transform)
        if unknown:
            raise ValidationError({"transform": f"Unknown transform: {', '.join(unknown)}."})
