"""Change control of field maps: a version is drafted, submitted, approved by someone else, and
only then used; approving it retires the version it replaces. A version that does not fit its
data class is refused at both steps, and a map that does not fit a flow is said so. Resource
contracts (what a source's records look like) change under the same control."""

import re
from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max, Model, QuerySet
from django.utils import timezone

from .models import (
    DataClass,
    FieldMap,
    FieldMapVersion,
    FieldRule,
    ResourceContract,
    System,
    ValueAlias,
    contract_fields_errors,
)
from .signals import version_approved
from .transforms import chain_errors, lookup_tables, needs_source_path

APPROVE_PERMISSION = "catalog.approve_fieldmapversion"
CONTRACT_APPROVE_PERMISSION = "catalog.approve_resourcecontract"


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


def field_map_version_submit(
    *, version: FieldMapVersion, user: AbstractBaseUser
) -> FieldMapVersion:
    """Submit a draft for approval. Submitting a submitted version does nothing. A version
    without rules, or that field_map_version_errors() finds fault with, is refused, naming
    each problem."""
    return _submit(version, refuse=_refuse_broken_version)


def field_map_version_approve(
    *, version: FieldMapVersion, user: AbstractBaseUser
) -> FieldMapVersion:
    """Approve a submitted version: it becomes the map's active version and the one it replaces
    is retired, in one transaction. Its author cannot approve it, and a version that
    field_map_version_errors() finds fault with is refused. Idempotent."""
    return _approve(
        version,
        user=user,
        permission=APPROVE_PERMISSION,
        who_may="Only a business owner or an admin can approve field maps.",
        refuse=_refuse_broken,
        replaced=lambda v: v.field_map.versions.all(),
    )


def rules_are_editable(version: FieldMapVersion | None) -> bool:
    """Only a draft's rules change: what ran, or may run, stays as it was approved."""
    return version is None or version.status == FieldMapVersion.Status.DRAFT


def field_map_version_errors(*, version: FieldMapVersion) -> list[str]:
    """Why ``version`` would fail records whatever they hold, as sentences naming the rule and
    the field; empty when it fits its data class. Reads, never writes."""
    return field_rules_errors(
        rules=list(version.rules.all()), data_class=version.field_map.data_class
    )


# A data-class field, then optionally nested fields and list positions: name, a.b, a[0].b.
_TARGET_PATH = re.compile(r"[A-Za-z_][\w]*(\[\d+\])?(\.[A-Za-z_][\w]*(\[\d+\])?)*")


def _top_field(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def field_rules_errors(*, rules: list[FieldRule], data_class: DataClass) -> list[str]:
    """field_map_version_errors() for rules that need not be saved: every target is a field of
    ``data_class`` and is filled once, every source path is a dotted path (or empty where the
    first transform makes the value: constant, template, concat), every transform is known
    with a well-formed argument and every lookup table has entries, and every required field
    of ``data_class`` is filled by some rule. Source paths are not checked against the source:
    its fields are not described anywhere."""
    fields = {field.get("name") for field in data_class.fields}
    errors = []
    filled_by: dict[str, int] = {}
    wanted = {table for rule in rules for table in lookup_tables(rule.transform)}
    tables = set(ValueAlias.objects.filter(table__in=wanted).values_list("table", flat=True))
    for number, rule in enumerate(rules, start=1):
        where = f"Rule {number} ({rule.source_path} -> {rule.target_path})"
        if not rule.source_path.strip():
            if needs_source_path(rule.transform):
                errors.append(f"{where}: the source path is empty.")
        elif not _DOTTED_PATH.fullmatch(rule.source_path):
            errors.append(
                f"{where}: the source path {rule.source_path!r} is not a dotted path "
                "such as 'address.city'."
            )
        if not _TARGET_PATH.fullmatch(rule.target_path):
            errors.append(
                f"{where}: the target path {rule.target_path!r} is not a field or a path such "
                "as 'addresses[0].city'."
            )
        elif _top_field(rule.target_path) not in fields:
            errors.append(
                f"{where}: the {data_class.label} data class has no field "
                f"{_top_field(rule.target_path)!r}."
            )
        elif rule.target_path in filled_by:
            errors.append(
                f"{where}: rule {filled_by[rule.target_path]} already fills {rule.target_path!r}."
            )
        else:
            filled_by[rule.target_path] = number
        for problem in chain_errors(rule.transform):
            errors.append(f"{where}: {problem}")
        for table in lookup_tables(rule.transform):
            if table not in tables:
                errors.append(f"{where}: the lookup table {table!r} has no entries.")
    filled = {_top_field(path) for path in filled_by}
    for field in data_class.fields:
        if field.get("required") and field.get("name") not in filled:
            errors.append(
                f"No rule fills {field.get('name')!r}, which the {data_class.label} data class "
                "requires."
            )
    return errors


def field_map_fit_errors(
    *,
    field_map: FieldMap,
    data_class: DataClass | None,
    source_system: System | None,
    target_system: System | None,
) -> list[str]:
    """Why ``field_map`` does not fit a flow of ``data_class`` from ``source_system`` to
    ``target_system``, as sentences; empty when it fits. Arguments that are None (not chosen
    yet) are not compared. Reads, never writes."""
    errors = []
    if data_class is not None and field_map.data_class_id != data_class.pk:
        errors.append(
            f"The field map {field_map} is for {field_map.data_class.label} records, "
            f"not {data_class.label}."
        )
    if source_system is not None and field_map.source_system_id != source_system.pk:
        errors.append(
            f"The field map {field_map} reads records of {field_map.source_system}, "
            f"not of {source_system}."
        )
    if target_system is not None and field_map.target_system_id != target_system.pk:
        errors.append(
            f"The field map {field_map} writes to {field_map.target_system}, "
            f"not to {target_system}."
        )
    return errors


# Non-empty names joined by dots; a name may hold spaces ("First Name") but not start or end
# with them, which is almost always a typing slip.
_DOTTED_PATH = re.compile(r"[^.\s](?:[^.]*[^.\s])?(?:\.[^.\s](?:[^.]*[^.\s])?)*")


# --- the steps every change-controlled thing goes through ----------------------------------

Status = FieldMapVersion.Status


@transaction.atomic
def _submit[M: Model](draft: M, *, refuse: Callable[[M, str], None]) -> M:
    """draft -> submitted, unless ``refuse`` raises; a submitted one stays as it is."""
    draft = type(draft).objects.select_for_update().get(pk=draft.pk)
    if draft.status == Status.SUBMITTED:
        return draft
    if draft.status != Status.DRAFT:
        raise ChangeControlError(f"{draft} is {draft.get_status_display().lower()}, not a draft.")
    refuse(draft, "submitted")
    draft.status = Status.SUBMITTED
    draft.save()
    return draft


@transaction.atomic
def _approve[M: Model](
    submitted: M,
    *,
    user: AbstractBaseUser,
    permission: str,
    who_may: str,
    refuse: Callable[[M, str], None],
    replaced: Callable[[M], QuerySet],
) -> M:
    """submitted -> active, by a holder of ``permission`` other than its author, retiring the
    active one among ``replaced``; an active one stays as it is."""
    submitted = type(submitted).objects.select_for_update().get(pk=submitted.pk)
    if submitted.status == Status.ACTIVE:
        return submitted
    if not user.has_perm(permission):
        raise ChangeControlError(who_may)
    if submitted.status != Status.SUBMITTED:
        raise ChangeControlError(f"{submitted} must be submitted before it can be approved.")
    if submitted.author_id == user.pk:
        raise ChangeControlError(f"You wrote {submitted}; someone else must approve it.")
    refuse(submitted, "approved")
    # Saved one by one, not with update(): history records only what save() writes.
    for active in replaced(submitted).filter(status=Status.ACTIVE):
        active.status = Status.RETIRED
        active.save()
    submitted.status = Status.ACTIVE
    submitted.approved_by = user
    submitted.approved_at = timezone.now()
    submitted.save()
    version_approved.send(sender=type(submitted), version=submitted, user=user)
    return submitted


def _refuse_broken_version(version: FieldMapVersion, step: str) -> None:
    if not version.rules.exists():
        raise ChangeControlError(f"{version} has no field rules to submit.")
    _refuse_broken(version, step=step)


def _refuse_broken(version: FieldMapVersion, step: str) -> None:
    errors = field_map_version_errors(version=version)
    if errors:
        raise ChangeControlError(f"{version} cannot be {step}: {' '.join(errors)}")


# --- resource contracts ---------------------------------------------------------------------


@transaction.atomic
def resource_contract_draft(
    *, system: System, resource: str, fields: dict, user: AbstractBaseUser, note: str = ""
) -> ResourceContract:
    """A new draft contract for ``resource`` of ``system``, numbered after its last one."""
    # The system's row serialises numbering, as the field map's row does for its versions.
    System.objects.select_for_update().get(pk=system.pk)
    return ResourceContract.objects.create(
        system=system,
        resource=resource,
        number=next_contract_number(system=system, resource=resource),
        fields=fields,
        author=user,
        note=note,
    )


def next_contract_number(*, system: System, resource: str) -> int:
    last = ResourceContract.objects.filter(system=system, resource=resource).aggregate(
        last=Max("number")
    )["last"]
    return (last or 0) + 1


def contract_is_editable(contract: ResourceContract | None) -> bool:
    """Only a draft changes: what is checked, or may be, stays as it was approved."""
    return contract is None or contract.status == ResourceContract.Status.DRAFT


def resource_contract_submit(
    *, contract: ResourceContract, user: AbstractBaseUser
) -> ResourceContract:
    """Submit a draft contract for approval. Submitting a submitted contract does nothing; a
    contract without fields, or with malformed ones, is refused, naming each problem."""
    return _submit(contract, refuse=_refuse_broken_contract)


def resource_contract_approve(
    *, contract: ResourceContract, user: AbstractBaseUser
) -> ResourceContract:
    """Approve a submitted contract: it becomes the one records of its resource are checked
    against, and the contract it replaces is retired, in one transaction. Only a holder of
    CONTRACT_APPROVE_PERMISSION other than its author may approve it. Idempotent. Records
    that drifted earlier are not re-run: their next attempt is checked against it."""
    return _approve(
        contract,
        user=user,
        permission=CONTRACT_APPROVE_PERMISSION,
        who_may="Only a business owner or an admin can approve resource contracts.",
        refuse=_refuse_broken_contract,
        replaced=lambda c: ResourceContract.objects.filter(system=c.system, resource=c.resource),
    )


def _refuse_broken_contract(contract: ResourceContract, step: str) -> None:
    if not contract.fields:
        raise ChangeControlError(f"{contract} has no fields to check records against.")
    errors = contract_fields_errors(contract.fields)
    if errors:
        raise ChangeControlError(f"{contract} cannot be {step}: {' '.join(errors)}")
