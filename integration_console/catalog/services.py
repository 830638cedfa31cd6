"""Change control of field maps: a version is drafted, submitted, approved by someone else, and
only then used; approving it retires the version it replaces."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import FieldMap, FieldMapVersion

APPROVE_PERMISSION = "catalog.approve_fieldmapversion"


class ChangeControlError(Exception):
    """The version's state or the user's role does not allow the step; said for people."""


@transaction.atomic
def field_map_version_draft(
    *, field_map: FieldMap, user: AbstractBaseUser, copy_from: FieldMapVersion | None = None
) -> FieldMapVersion:
    """A new draft version numbered after the last one, with the rules of ``copy_from``
    (by default the active version) to edit."""
    FieldMap.objects.select_for_update().get(pk=field_map.pk)
    last = field_map.versions.aggregate(last=Max("number"))["last"] or 0
    source = copy_from or field_map.active_version
    draft = FieldMapVersion.objects.create(
        field_map=field_map,
        number=last + 1,
        author=user,
        note=f"Copied from v{source.number}." if source else "",
    )
    if source is not None:
        for rule in source.rules.all():
            rule.pk = None
            rule.version = draft
            rule.save()
    return draft


@transaction.atomic
def field_map_version_submit(
    *, version: FieldMapVersion, user: AbstractBaseUser
) -> FieldMapVersion:
    """Submit a draft for approval. Submitting a submitted version does nothing."""
    version = FieldMapVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == FieldMapVersion.Status.SUBMITTED:
        return version
    if version.status != FieldMapVersion.Status.DRAFT:
        raise ChangeControlError(
            f"{version} is {version.get_status_display().lower()}, not a draft."
        )
    if not version.rules.exists():
        raise ChangeControlError(f"{version} has no field rules to submit.")
    version.status = FieldMapVersion.Status.SUBMITTED
    version.save()
    return version


@transaction.atomic
def field_map_version_approve(
    *, version: FieldMapVersion, user: AbstractBaseUser
) -> FieldMapVersion:
    """Approve a submitted version: it becomes the map's active version and the one it replaces
    is retired, in one transaction. Its author cannot approve it. Idempotent."""
    version = FieldMapVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == FieldMapVersion.Status.ACTIVE:
        return version
    if not user.has_perm(APPROVE_PERMISSION):
        raise ChangeControlError("Only a business owner or an admin can approve field maps.")
    if version.status != FieldMapVersion.Status.SUBMITTED:
        raise ChangeControlError(f"{version} must be submitted before it can be approved.")
    if version.author_id == user.pk:
        raise ChangeControlError(f"You wrote {version}; someone else must approve it.")
    # Saved one by one, not with update(): history records only what save() writes.
    for active in version.field_map.versions.filter(status=FieldMapVersion.Status.ACTIVE):
        active.status = FieldMapVersion.Status.RETIRED
        active.save()
    version.status = FieldMapVersion.Status.ACTIVE
    version.approved_by = user
    version.approved_at = timezone.now()
    version.save()
    return version


def rules_are_editable(version: FieldMapVersion | None) -> bool:
    """Only a draft's rules change: what ran, or may run, stays as it was approved."""
    return version is None or version.status == FieldMapVersion.Status.DRAFT
