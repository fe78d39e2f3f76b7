"""Per-object grants to organisations (a restricted bank shared with named members, a lawful
request visible to its parties), behind one small interface.

django-guardian grants permissions to users or groups; an organisation is represented by
one Group of its own (`org:<slug>`), so a grant survives people joining and leaving.
Nothing outside this module talks to guardian.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import models
from guardian.shortcuts import (
    assign_perm,
    get_groups_with_perms,
    get_objects_for_group,
    remove_perm,
)

from accounts.models import Organisation


def organisation_group(organisation: Organisation) -> Group:
    group, _ = Group.objects.get_or_create(name=f"org:{organisation.slug}")
    return group


def _permissions_by_group(obj: models.Model) -> dict[Group, list[str]]:
    """Each group holding a permission on `obj`, with the codenames it holds."""
    groups = get_groups_with_perms(obj, attach_perms=True)
    assert isinstance(groups, dict)  # attach_perms=True answers a mapping
    return groups


def grant(*, organisation: Organisation, permission: str, obj: models.Model) -> None:
    assign_perm(permission, organisation_group(organisation), obj)


def revoke(*, organisation: Organisation, permission: str, obj: models.Model) -> None:
    remove_perm(permission, organisation_group(organisation), obj)


def has_grant(*, organisation: Organisation, permission: str, obj: models.Model) -> bool:
    group = Group.objects.filter(name=f"org:{organisation.slug}").first()
    if group is None:
        return False
    codename = permission.split(".")[-1]
    return codename in _permissions_by_group(obj).get(group, [])


def objects_granted(
    *, organisation: Organisation, permission: str, queryset: models.QuerySet
) -> models.QuerySet:
    group = Group.objects.filter(name=f"org:{organisation.slug}").first()
    if group is None:
        return queryset.none()
    return get_objects_for_group(group, permission, klass=queryset, accept_global_perms=False)


def organisations_granted(*, permission: str, obj: models.Model) -> list[Organisation]:
    codename = permission.split(".")[-1]
    slugs = [
        g.name.removeprefix("org:")
        for g, perms in _permissions_by_group(obj).items()
        if codename in perms and g.name.startswith("org:")
    ]
    return list(Organisation.objects.filter(slug__in=slugs))
