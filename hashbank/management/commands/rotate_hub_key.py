"""Rotate the hub's signing key in two steps (docs/operations.md, "Rotating the hub key")."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.audit import AuditContext
from accounts.hub_identity import (
    RotationRefused,
    hub_instance,
    hub_key_rotation_begin,
    hub_key_rotation_finish,
    hub_keys,
    next_key_path,
    signing_key_path,
)
from hashbank.services.snapshots import snapshots_resign


class Command(BaseCommand):
    help = (
        "--begin: a next key signs beside the hub key (checkpoints, sync pages, snapshots) and is "
        "published; --finish: the next key becomes the hub key, the old one is retired "
        "(published, signs nothing more, its private key file deleted); no option: the state."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        step = parser.add_mutually_exclusive_group()
        step.add_argument("--begin", action="store_true")
        step.add_argument("--finish", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        context = AuditContext.system()
        try:
            if options["begin"]:
                following = hub_key_rotation_begin(context=context)
                resigned = snapshots_resign()
                path = next_key_path(signing_key_path(hub_instance()))
                self.stdout.write(
                    f"Rotation begun: the next key {following.key_id} ({path}) signs beside "
                    f"the hub key; {resigned} snapshots signed by both.\n"
                    f"Its note verifier key: {following.note_verifier_key}"
                )
            elif options["finish"]:
                current = hub_key_rotation_finish(context=context)
                resigned = snapshots_resign()
                self.stdout.write(
                    f"Rotation finished: the hub key is {current.key_id} "
                    f"({current.note_verifier_key}); {resigned} snapshots signed again."
                )
                path = signing_key_path(hub_instance())
                if next_key_path(path).exists():
                    self.stderr.write(
                        f"Could not move {next_key_path(path)} to {path}: move it (and its "
                        f".hub-id) yourself; the hub signs with it where it is meanwhile."
                    )
        except RotationRefused as error:
            raise CommandError(error.message) from None
        keys = hub_keys()
        self.stdout.write(f"current: {keys.current.key_id} {keys.current.note_verifier_key}")
        if keys.next is not None:
            self.stdout.write(f"next:    {keys.next.key_id} {keys.next.note_verifier_key}")
