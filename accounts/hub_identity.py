"""The hub's own identity: this database's hub id, and the Ed25519 key that signs what the
hub publishes (sync pages, snapshots, checkpoints) so members can verify any copy they hold.

Files the hub generates outside the database belong to one database. The hub id is a row
the migrations create; the signing key and the generated development secret are recorded
in that row by key id and fingerprint at first use, and a `.hub-id` file beside each names
the hub that bound it. A key or secret bound to another database is refused, never used:
a hub signing with a key another hub published would make members trust the wrong list.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status

from accounts.audit import AuditContext, audit_record
from accounts.models import HubInstance, HubKeyStatus, HubKeyTransition, HubSigningKey
from core.errors import ServiceError
from hashfed_wire import ed25519, key_transition, note
from hashfed_wire.ed25519 import key_id_for
from hashfed_wire.files import fsync_directory, write_new_private_key

logger = logging.getLogger(__name__)


class HubStateMismatch(ServiceError):
    """State on disk (a key, a secret) belongs to another database than the one in use."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "hub_state_mismatch"


def hub_instance() -> HubInstance:
    """This database's hub row. The migrations create it; a database emptied since (a test
    flush, a restore of tables without it) gets a new hub id, so nothing generated for the
    old one is taken for its own."""
    instance = HubInstance.objects.filter(pk=1).first()
    if instance is not None:
        return instance
    try:
        with transaction.atomic():
            return HubInstance.objects.create(pk=1, hub_id=uuid.uuid4())
    except IntegrityError:
        # Another process created it first.
        return HubInstance.objects.get(pk=1)


def hub_id() -> str:
    return str(hub_instance().hub_id)


def _owner_file(path: Path) -> Path:
    return path.with_name(path.name + ".hub-id")


def _claim_file(path: Path, *, owner: str, what: str) -> None:
    """Refuse `path` if its owner file names another hub; otherwise write ours beside it.
    A file without an owner (made before hubs were bound, or provided by the operator) is
    adopted by the first database that uses it.

    The owner file is written once the caller's transaction commits: a hub row created or
    bound inside a transaction that rolls back (a request killed mid-way) must not leave
    the file claimed for a hub the database never kept."""
    marker = _owner_file(path)
    try:
        recorded = marker.read_text().strip()
    except FileNotFoundError:
        recorded = ""
    if recorded and recorded != owner:
        raise HubStateMismatch(
            f"{what} {path} belongs to hub {recorded}, not to this database's hub {owner}; "
            f"point the setting at this hub's own file, or remove {path} and {marker} to "
            f"generate a new one"
        )
    if not recorded:

        def record() -> None:
            try:
                marker.write_text(owner + "\n")
            except OSError:
                # A read-only secret mount: the binding recorded in the database still holds.
                logger.warning("could not record the owner of %s in %s", path, marker)

        transaction.on_commit(record)


class _HubPublicKey:
    """How a hub key's public half is written: base64, and the C2SP verifier key string
    for the hub's signed notes."""

    public_key_raw: bytes

    @property
    def public_key_b64(self) -> str:
        return ed25519.public_key_b64(self.public_key_raw)

    @property
    def note_verifier_key(self) -> str:
        """The C2SP verifier key string of this key for the hub's signed notes."""
        return note.verifier_key(note_key_name(), self.public_key_raw)


@dataclass(frozen=True)
class HubIdentity(_HubPublicKey):
    origin: str
    private_key: Ed25519PrivateKey
    public_key_raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_for(self.public_key_raw)


def note_key_name() -> str:
    """The name the hub's key signs notes (every bank's checkpoints) under: the hub's host,
    so one verifier key (`<host>+<key id>+<key>`) checks them all."""
    return str(settings.HUB_ORIGIN).split("://", 1)[-1].rstrip("/")


def signing_key_path(instance: HubInstance) -> Path:
    """The configured key file, or, when none is configured, a key generated for this hub
    alone under the state folder (a new database never finds another one's key there)."""
    if settings.HUB_SIGNING_KEY_FILE:
        return Path(settings.HUB_SIGNING_KEY_FILE)
    return Path(settings.STATE_DIR) / "hubs" / str(instance.hub_id) / "hub-ed25519.pem"


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Two processes starting at once must not each use a different key: the file is
        # created exclusively, and the one that loses reads the winner's key.
        with contextlib.suppress(FileExistsError):
            write_new_private_key(path)
    try:
        return ed25519.load_private_key_pem(path.read_bytes())
    except ed25519.PrivateKeyError as exc:
        raise RuntimeError(f"{path} does not hold an Ed25519 private key") from exc


def _bind(instance: HubInstance, *, field: str, value: str, what: str, path: Path) -> None:
    """Record `value` in the hub row at first use; afterwards it must stay the same."""
    owner = str(instance.hub_id)
    bound = getattr(instance, field)
    if not bound:
        _claim_file(path, owner=owner, what=what)
        # Conditional update: of two processes binding at once, one value wins for both.
        HubInstance.objects.filter(pk=instance.pk, **{field: ""}).update(**{field: value})
        bound = HubInstance.objects.values_list(field, flat=True).get(pk=instance.pk)
        setattr(instance, field, bound)
    if bound != value:
        raise HubStateMismatch(
            f"{what} {path} is not the one this database's hub {owner} was bound to "
            f"({bound[:16]}…); restore that file or point the setting at it"
        )
    _claim_file(path, owner=owner, what=what)


def secret_key_fingerprint(secret: str) -> str:
    return hashlib.sha256(b"hashfed-secret-key\x00" + secret.encode()).hexdigest()


def development_secret_verify(instance: HubInstance) -> None:
    """The secret generated into the state folder (never one the operator sets) must be this
    database's: sessions, signed links and the webhook secrets' key derive from it."""
    path = getattr(settings, "DEVELOPMENT_SECRET_FILE", None)
    if path is None:
        return
    _bind(
        instance,
        field="secret_key_fingerprint",
        value=secret_key_fingerprint(settings.SECRET_KEY),
        what="the generated secret key",
        path=Path(path),
    )


def next_key_path(current: Path) -> Path:
    """Where the next key waits during a rotation: beside the hub key,
    `hub-ed25519.pem` → `hub-ed25519.next.pem`."""
    return current.with_name(f"{current.stem}.next{current.suffix}")


def _load_existing(path: Path) -> Ed25519PrivateKey | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return ed25519.load_private_key_pem(data)
    except ed25519.PrivateKeyError as exc:
        raise RuntimeError(f"{path} does not hold an Ed25519 private key") from exc


def _identity(private_key: Ed25519PrivateKey) -> HubIdentity:
    return HubIdentity(
        origin=settings.HUB_ORIGIN,
        private_key=private_key,
        public_key_raw=ed25519.public_key_raw(private_key),
    )


@dataclass(frozen=True)
class HubKeys:
    """The keys the hub signs with: the current one and, during a rotation, the next one,
    which signs beside it."""

    current: HubIdentity
    next: HubIdentity | None

    @property
    def signing(self) -> tuple[HubIdentity, ...]:
        return (self.current,) if self.next is None else (self.current, self.next)

    def sign_note(self, body: bytes | str) -> str:
        """A C2SP signed note of `body` under the hub's name: the current key's signature
        line, then, during a rotation, the next key's."""
        signed = note.sign_note(body, name=note_key_name(), private_key=self.current.private_key)
        if self.next is not None:
            signed = note.add_signature(
                signed, name=note_key_name(), private_key=self.next.private_key
            )
        return signed


@lru_cache(maxsize=4)
def _hub_keys_for(hub: str, bound: str, bound_next: str) -> HubKeys:
    """The keys of the hub row as it is (`hub`, `bound`, `bound_next` are only the cache's
    key: a rotation in another process changes them, and the next call loads again)."""
    instance = hub_instance()
    path = signing_key_path(instance)
    upcoming = next_key_path(path)
    current: Ed25519PrivateKey | None = None
    if instance.signing_key_id:
        # Between a rotation's finish and its file moves the key is still at the next path.
        for candidate_path in (path, upcoming):
            candidate = _load_existing(candidate_path)
            if candidate is not None and (
                key_id_for(ed25519.public_key_raw(candidate)) == instance.signing_key_id
            ):
                current, path = candidate, candidate_path
                break
    if current is None:
        current = _load_or_create(path)
    raw = ed25519.public_key_raw(current)
    _bind(instance, field="signing_key_id", value=key_id_for(raw), what="the hub key", path=path)
    development_secret_verify(instance)
    following: HubIdentity | None = None
    if instance.next_signing_key_id:
        next_key = _load_existing(upcoming)
        if next_key is None:
            raise HubStateMismatch(
                f"the next hub key {upcoming} is missing; restore it, or finish or cancel "
                f"the rotation"
            )
        _bind(
            instance,
            field="next_signing_key_id",
            value=key_id_for(ed25519.public_key_raw(next_key)),
            what="the next hub key",
            path=upcoming,
        )
        following = _identity(next_key)
    return HubKeys(current=_identity(current), next=following)


def hub_keys() -> HubKeys:
    """The hub's signing keys, once they are verified to belong to this database. Raises
    HubStateMismatch (the hub refuses to sign) when a key or the generated secret was bound
    to another database. Reads the hub row each time, so a rotation made by the
    management command reaches every running process at its next signature."""
    instance = hub_instance()
    return _hub_keys_for(
        str(instance.hub_id), instance.signing_key_id, instance.next_signing_key_id
    )


class _HubIdentity:
    """`hub_identity()`: the current key (see hub_keys); `hub_identity.cache_clear()`
    forgets the keys loaded so far."""

    def __call__(self) -> HubIdentity:
        return hub_keys().current

    def cache_clear(self) -> None:
        _hub_keys_for.cache_clear()


hub_identity = _HubIdentity()


# The witness key: this hub cosigns the checkpoints of the peer hubs it follows
# (federation/peering/witnessing.py). Bound to this database like the hub key.


def witness_key_name() -> str:
    """The name this hub cosigns under: `<hub host>/witness`."""
    return f"{note_key_name()}/witness"


def witness_key_path(instance: HubInstance) -> Path:
    if settings.HUB_WITNESS_KEY_FILE:
        return Path(settings.HUB_WITNESS_KEY_FILE)
    return Path(settings.STATE_DIR) / "hubs" / str(instance.hub_id) / "witness-ed25519.pem"


@dataclass(frozen=True)
class WitnessKey:
    name: str
    private_key: Ed25519PrivateKey
    public_key_raw: bytes

    @property
    def verifier(self) -> note.Verifier:
        return note.Verifier(self.name, self.public_key_raw, note.COSIGNATURE_ED25519)

    @property
    def verifier_key(self) -> str:
        """The C2SP verifier key (type 0x04) a peer configures this hub as a witness with."""
        return self.verifier.vkey

    def cosignature_line(self, text: str, *, timestamp: int) -> str:
        return note.cosignature_line(
            text, name=self.name, private_key=self.private_key, timestamp=timestamp
        )


@lru_cache(maxsize=4)
def _witness_key_for(hub: str, bound: str) -> WitnessKey:
    instance = hub_instance()
    path = witness_key_path(instance)
    private_key = _load_or_create(path)
    raw = ed25519.public_key_raw(private_key)
    _bind(
        instance, field="witness_key_id", value=key_id_for(raw), what="the witness key", path=path
    )
    return WitnessKey(witness_key_name(), private_key, raw)


def witness_key() -> WitnessKey:
    """This hub's witness key, once verified to belong to this database. Raises
    HubStateMismatch when the key file was bound to another database."""
    instance = hub_instance()
    return _witness_key_for(str(instance.hub_id), instance.witness_key_id)


def hub_state_verify() -> None:
    """Check, without caching, that the keys and secret in use are this database's (the
    health check: a database swapped under a running process shows here). Raises
    HubStateMismatch."""
    hub_identity.cache_clear()
    hub_keys()


def witness_key_verify() -> None:
    """Check, without caching, that the witness key is usable and this database's (the
    health check, as hub_state_verify for the hub key). Raises HubStateMismatch, or
    RuntimeError when the key file holds no Ed25519 private key."""
    _witness_key_for.cache_clear()
    witness_key()


# Rotation: a next key signs beside the current one, then replaces it.


class RotationRefused(ServiceError):
    """A rotation step that does not apply now (none in progress, one already begun)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "rotation_refused"


def _key_row(identity: HubIdentity, **values: object) -> HubSigningKey:
    row, _ = HubSigningKey.objects.update_or_create(
        key_id=identity.key_id,
        defaults={"public_key": identity.public_key_b64, **values},
    )
    return row


def hub_key_rotation_begin(*, context: AuditContext) -> HubIdentity:
    """Start signing with a next key beside the current one: every checkpoint and sync page
    from now on carries both signatures, and /.well-known/hashfed lists the next key. The
    key is the file at `next_key_path` if the operator put one there (not another hub's),
    else a new one generated there. Raises RotationRefused during a rotation."""
    instance = hub_instance()
    if instance.next_signing_key_id:
        raise RotationRefused("a rotation is in progress: finish it first")
    current = hub_keys().current
    path = next_key_path(signing_key_path(instance))
    private_key = _load_existing(path)
    if private_key is None:
        with contextlib.suppress(FileExistsError):
            write_new_private_key(path)
        private_key = _load_or_create(path)
    following = _identity(private_key)
    if following.key_id == current.key_id:
        raise RotationRefused(f"{path} holds the current key; put a new key there or remove it")
    with transaction.atomic():
        _claim_file(path, owner=str(instance.hub_id), what="the next hub key")
        updated = HubInstance.objects.filter(
            pk=instance.pk, signing_key_id=current.key_id, next_signing_key_id=""
        ).update(next_signing_key_id=following.key_id)
        if not updated:
            raise RotationRefused("the hub's keys changed meanwhile; look again")
        if not HubSigningKey.objects.filter(key_id=current.key_id).exists():
            _key_row(current, status=HubKeyStatus.CURRENT, valid_from=instance.created_at)
        now = timezone.now()
        _key_row(following, status=HubKeyStatus.NEXT, valid_from=now)
        # The old key names the new one, and the new one signs too (proof of possession):
        # a member that pinned the old key follows this statement to the new one.
        HubKeyTransition.objects.create(
            old_key_id=current.key_id,
            new_key_id=following.key_id,
            issued_at=now,
            note=key_transition.sign_transition(
                name=note_key_name(),
                old=current.private_key,
                new=following.private_key,
                time=int(now.timestamp()),
            ),
        )
        audit_record(
            action="hub.key.rotation_begun",
            context=context,
            detail={"current": current.key_id, "next": following.key_id, "file": str(path)},
        )
    return following


def hub_key_rotation_finish(*, context: AuditContext) -> HubIdentity:
    """Make the next key the hub key: the old one signs nothing more, stays published as
    retired, and its private key file is deleted; the next key's file takes the hub key's
    path. Raises RotationRefused when no rotation is in progress."""
    instance = hub_instance()
    if not instance.next_signing_key_id:
        raise RotationRefused("no rotation is in progress: begin one first")
    keys = hub_keys()
    assert keys.next is not None
    old, new = keys.current, keys.next
    now = timezone.now()
    with transaction.atomic():
        updated = HubInstance.objects.filter(
            pk=instance.pk, signing_key_id=old.key_id, next_signing_key_id=new.key_id
        ).update(signing_key_id=new.key_id, next_signing_key_id="")
        if not updated:
            raise RotationRefused("the hub's keys changed meanwhile; look again")
        _key_row(old, status=HubKeyStatus.RETIRED, valid_until=now)
        _key_row(new, status=HubKeyStatus.CURRENT)
        audit_record(
            action="hub.key.rotation_finished",
            context=context,
            detail={"retired": old.key_id, "current": new.key_id},
        )
    # Until the files move, the new key is found at the next path (hub_keys).
    path = signing_key_path(instance)
    upcoming = next_key_path(path)
    try:
        path.unlink(missing_ok=True)
        _owner_file(path).unlink(missing_ok=True)
        os.replace(upcoming, path)
        with contextlib.suppress(FileNotFoundError):
            os.replace(_owner_file(upcoming), _owner_file(path))
        fsync_directory(path.parent)
    except OSError as error:
        # A read-only mount: the hub signs with the key at the next path meanwhile.
        logger.warning("could not move %s to %s (%s); move it yourself", upcoming, path, error)
    hub_identity.cache_clear()
    return new


@dataclass(frozen=True)
class PublishedKey(_HubPublicKey):
    key_id: str
    public_key_raw: bytes
    status: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None


def hub_keys_published() -> list[PublishedKey]:
    """Every key the hub signs or signed with: the current key, the next one during a
    rotation, then the retired ones, newest first."""
    keys = hub_keys()
    rows = {row.key_id: row for row in HubSigningKey.objects.all()}
    # The hub's first key has no row until a rotation: it signs since the hub's identity
    # was created (it is bound at its first use, no earlier).
    first_used = hub_instance().created_at
    out = []
    for identity, key_status in (
        (keys.current, HubKeyStatus.CURRENT),
        (keys.next, HubKeyStatus.NEXT),
    ):
        if identity is None:
            continue
        row = rows.get(identity.key_id)
        out.append(
            PublishedKey(
                identity.key_id,
                identity.public_key_raw,
                str(key_status),
                row.valid_from if row and row.valid_from else first_used,
                None,
            )
        )
    for row in sorted(
        (r for r in rows.values() if r.status == HubKeyStatus.RETIRED),
        key=lambda r: r.valid_until or dt.datetime.min.replace(tzinfo=dt.UTC),
        reverse=True,
    ):
        out.append(
            PublishedKey(
                row.key_id,
                base64.b64decode(row.public_key),
                HubKeyStatus.RETIRED,
                row.valid_from or first_used,
                row.valid_until,
            )
        )
    return out


def hub_key_transitions() -> list[HubKeyTransition]:
    """Every key-transition statement the hub signed, oldest first."""
    return list(HubKeyTransition.objects.order_by("issued_at", "id"))
