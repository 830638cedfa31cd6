"""Systems of record, data classes, ownership rules, versioned field maps, and the alias
tables that transforms read."""

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from connectors.registry import connector_kind_choices, connector_settings_errors
from integration_console.matching.spec import MatchSpec, MatchSpecError

from .schema import schema_errors
from .transforms import alias_shadow_error, alias_value_error, normalise_alias, unknown_transforms


def auth_env_var_error(name: str) -> str | None:
    """Why ``name`` may not be a system's token variable, or None. Only names matching the
    CONNECTOR_SECRET_ENV_PATTERN setting are allowed: otherwise a system's settings could send
    any secret of this server (SECRET_KEY, DATABASE_URL) to that system as its token."""
    if not name:
        return None
    pattern = settings.CONNECTOR_SECRET_ENV_PATTERN
    try:
        allowed = re.fullmatch(pattern, name)
    except re.error as exc:
        raise ImproperlyConfigured(
            f"CONNECTOR_SECRET_ENV_PATTERN {pattern!r} is not a regular expression: {exc}."
        ) from None
    if allowed:
        return None
    return (
        f"{name!r} cannot be a token variable: its name must match {pattern} "
        "(the CONNECTOR_SECRET_ENV_PATTERN setting), so that no other secret of this server "
        "can be sent to a system."
    )


class System(models.Model):
    """An external system of record, reached through a connector."""

    name = models.CharField(max_length=100, unique=True)
    # Kinds come from connectors.registry, plug-in packages included, hence a callable.
    connector = models.CharField(max_length=50, choices=connector_kind_choices, default="rest")
    base_url = models.URLField(max_length=500)
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Connection settings of the connector kind (checked when saved). Never "
        "secrets: those stay in environment variables.",
    )
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
    max_concurrent_writes = models.PositiveSmallIntegerField(
        "writes at once",
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(32)],
        help_text="How many records a run writes to this system at the same time, per worker. "
        "The rate limit still holds across them.",
    )
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        error = auth_env_var_error(self.auth_env_var)
        if error:
            raise ValidationError({"auth_env_var": error})
        problems = connector_settings_errors(self.connector, self.settings or {})
        if problems:
            raise ValidationError({"settings": problems})


class DataClass(models.Model):
    """A kind of business record and its canonical schema.

    ``schema`` is ``{"fields": [{"name", "type", "required", "allowed_values", "pattern",
    "label"}]}``; it is the stable internal contract that payloads are validated against.
    """

    name = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    schema = models.JSONField(default=dict)
    matching = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "How a record of this class is matched against the target's records before it is "
            "created: roles, blocking keys, fields with their method and weight, and the "
            "auto-link and review thresholds. Empty: no matching (a record link is the only "
            "identity)."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "data classes"

    def __str__(self) -> str:
        return self.label

    @property
    def fields(self) -> list[dict]:
        return list(self.schema.get("fields", []))

    @property
    def field_labels(self) -> dict[str, str]:
        """Field name -> the label people read (the name where the schema gives none)."""
        return {f["name"]: f.get("label") or f["name"] for f in self.fields}

    def clean(self) -> None:
        errors = schema_errors(self.schema)
        if errors:
            raise ValidationError({"schema": errors})
        if self.matching:
            try:
                MatchSpec.from_config(self.matching)
            except MatchSpecError as exc:
                raise ValidationError({"matching": str(exc)}) from exc

    @property
    def match_spec(self) -> MatchSpec | None:
        """The matching this class asks for, or None. A stored config that no longer parses
        counts as none: clean() keeps bad ones out, and the engine must not stop on one."""
        if not self.matching:
            return None
        try:
            return MatchSpec.from_config(self.matching)
        except MatchSpecError:
            return None


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


class ChangeControlled(models.Model):
    """What goes through change control (catalog/services.py): numbered, drafted by an author,
    submitted, approved by someone else (active), retired by the next one."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        ACTIVE = "active", "Approved (active)"
        RETIRED = "retired", "Retired"

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

    class Meta:
        abstract = True

    def clean(self) -> None:
        if self.approved_by_id and self.approved_by_id == self.author_id:
            raise ValidationError(f"The author of a {self._meta.verbose_name} cannot approve it.")


class FieldMapVersion(ChangeControlled):
    """One version of a field map; only one version of a map is active at a time."""

    field_map = models.ForeignKey(FieldMap, on_delete=models.CASCADE, related_name="versions")
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


# The JSON types a source's field may hold, as a resource contract names them. "null": the field
# was only ever seen empty, so its values are not checked.
CONTRACT_TYPES = ("string", "integer", "number", "boolean", "object", "list", "null")


def contract_fields_errors(fields: Any) -> list[str]:
    """Problems with a resource contract's ``fields``, as sentences; empty when well formed:
    ``{name: {"type": one of CONTRACT_TYPES, "required": bool, "values": [allowed values]}}``,
    "values" only for a field whose values form a closed set, and optionally
    ``"sensitive": true`` for a field whose values must never be repeated in a reason."""
    if not isinstance(fields, dict):
        return ['The fields must be an object: {"name": {"type": ..., "required": ...}}.']
    errors = []
    for name, spec in fields.items():
        if not isinstance(spec, dict):
            errors.append(f"Field {name!r} must be an object with a type.")
            continue
        if spec.get("type") not in CONTRACT_TYPES:
            errors.append(
                f"Field {name!r} has the type {spec.get('type')!r}, not one of "
                f"{', '.join(CONTRACT_TYPES)}."
            )
        if not isinstance(spec.get("required", False), bool):
            errors.append(f'Field {name!r}: "required" must be true or false.')
        if not isinstance(spec.get("sensitive", False), bool):
            errors.append(f'Field {name!r}: "sensitive" must be true or false.')
        values = spec.get("values")
        if values is not None and (not isinstance(values, list) or not values):
            errors.append(f'Field {name!r}: "values" must be a non-empty list when given.')
        unknown = spec.keys() - {"type", "required", "values", "sensitive"}
        if unknown:
            errors.append(f"Field {name!r} has unknown keys: {', '.join(sorted(unknown))}.")
    return errors


class ResourceContract(ChangeControlled):
    """What the records of one resource of a system look like: each field's JSON type, whether
    every record has it, and for some fields the closed set of values they take. Inferred from
    a sample of records and confirmed by a person, or declared. Like a field map version it is
    drafted, submitted and approved by someone other than its author; one contract per
    (system, resource) is active, and the pipeline checks each source record against it."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="contracts")
    resource = models.CharField(max_length=100, help_text="e.g. contacts")
    fields = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per field: {"type": "string", "required": true, "values": [...]}; '
        '"values" lists the allowed values of a field that takes only a few.',
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["system", "resource", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "resource", "number"], name="contract_number_unique"
            ),
            models.UniqueConstraint(
                fields=["system", "resource"],
                condition=models.Q(status="active"),
                name="one_active_contract_per_resource",
            ),
        ]
        permissions = [("approve_resourcecontract", "Can approve resource contracts")]

    def __str__(self) -> str:
        return f"{self.system}'s {self.resource} contract v{self.number}"

    def clean(self) -> None:
        super().clean()
        errors = contract_fields_errors(self.fields)
        if errors:
            raise ValidationError({"fields": errors})


class FieldRule(models.Model):
    """One field of a field map version: its source, its transforms, its target."""

    class ConflictRule(models.TextChoices):
        SOURCE_WINS = "source_wins", "Source wins"
        OWNER_WINS = "owner_wins", "Owner wins"
        NEWEST_WINS = "newest_wins", "Newest wins"
        ASK = "ask", "Ask a person"

    version = models.ForeignKey(FieldMapVersion, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    source_path = models.CharField(
        max_length=200,
        blank=True,
        help_text="Dotted path in the source record; empty when the transform makes the value "
        "itself (template:, concat:, constant:).",
    )
    target_path = models.CharField(max_length=200, help_text="Field of the target data class.")
    transform = models.CharField(
        max_length=200,
        blank=True,
        help_text="Transforms applied left to right, separated by '|', e.g. 'trim|lower'.",
    )
    required = models.BooleanField(default=False)
    create_only = models.BooleanField(
        "sent on create only",
        default=False,
        help_text="Written when the target record is created, never on later updates (an "
        "account number the target assigns from then on, say).",
    )
    conflict_rule = models.CharField(
        max_length=20, choices=ConflictRule, default=ConflictRule.SOURCE_WINS
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
        unknown = unknown_transforms(self.transform)
        if unknown:
            raise ValidationError({"transform": f"Unknown transform: {', '.join(unknown)}."})


class ValueAlias(models.Model):
    """One entry of a people-edited alias table: in ``table``, the text ``alias`` means
    ``value`` ("country": "uk" -> "GB"). Transforms read these (``country_iso`` the "country"
    table, ``lookup:<table>`` any table) instead of guessing.

    ``alias`` is stored normalised (case folded, whitespace collapsed), the form transforms
    compare in, so "UK" and " uk " are one alias."""

    table = models.SlugField(max_length=50, help_text='Which table, e.g. "country".')
    alias = models.CharField(
        max_length=200, help_text="The text as systems send it; case and spacing do not matter."
    )
    value = models.CharField(max_length=200, help_text='What it means, e.g. "GB" for a country.')
    note = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["table", "alias"]
        constraints = [
            models.UniqueConstraint(fields=["table", "alias"], name="one_value_per_alias"),
        ]
        verbose_name_plural = "value aliases"

    def __str__(self) -> str:
        return f"{self.table}: {self.alias} → {self.value}"

    def save(self, *args, **kwargs) -> None:
        self.alias = normalise_alias(self.alias)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # Normalised here too, not only in save(): the unique check that follows clean() in
        # full_clean() must compare the stored form.
        self.alias = normalise_alias(self.alias)
        errors = {}
        if not self.alias:
            errors["alias"] = "An alias needs some text."
        elif shadowed := alias_shadow_error(table=self.table, alias=self.alias):
            errors["alias"] = shadowed
        if value_error := alias_value_error(table=self.table, value=self.value):
            errors["value"] = value_error
        if errors:
            raise ValidationError(errors)
