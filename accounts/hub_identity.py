"""The hub's own identity: this database's hub id, and the Ed25519 key that signs what the
hub publishes (sync pages, snapshots, checkpoints) so members can verify any copy they hold.

Files the hub generates outside the database belong to one database. The hub id is a row
the migrations create; the signing key and the generated development secret are recorded
in that row by key id and fingerprint at first use, and a `.hub-id` file beside each names
the hub that bound it. A key or secret bound to another database is refused, never used:
a hub signing with a key another hub published would make members trust the wrong list.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework import status

from accounts.models import HubInstance
from core.errors import ServiceError
from hashfed_wire import ed25519
from hashfed_wire.ed25519 import key_id_for
from hashfed_wire.files import write_new_private_key

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
    adopted by the first database that uses it."""
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
        try:
            marker.write_text(owner + "\n")
        except OSError:
            # A read-only secret mount: the binding recorded in the database still holds.
            logger.warning("could not record the owner of %s in %s", path, marker)


@dataclass(frozen=True)
class HubIdentity:
    origin: str
    private_key: Ed25519PrivateKey
    public_key_raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_for(self.public_key_raw)

    @property
    def public_key_b64(self) -> str:
        return ed25519.public_key_b64(self.public_key_raw)


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


@lru_cache(maxsize=1)
def hub_identity() -> HubIdentity:
    """The hub's signing identity, once it is verified to belong to this database. Raises
    HubStateMismatch (the hub refuses to sign) when the key or the generated secret was
    bound to another database."""
    instance = hub_instance()
    path = signing_key_path(instance)
    private_key = _load_or_create(path)
    raw = ed25519.public_key_raw(private_key)
    _bind(instance, field="signing_key_id", value=key_id_for(raw), what="the hub key", path=path)
    development_secret_verify(instance)
    return HubIdentity(origin=settings.HUB_ORIGIN, private_key=private_key, public_key_raw=raw)


def hub_state_verify() -> None:
    """Check, without caching, that the key and secret in use are this database's (the
    health check: a database swapped under a running process shows here). Raises
    HubStateMismatch."""
    hub_identity.cache_clear()
    hub_identity()
