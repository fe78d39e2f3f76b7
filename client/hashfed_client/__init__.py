"""Member-side client for a Hashfed hub: a small library and the ``hashfed`` command line.

``docs/client.md`` is the user guide. It talks to the hub only through the public HTTP API
(``docs/api.md``) with the standard library's ``urllib``, signs submissions with
``hashfed_wire`` (``docs/signing.md``) and needs no Django: ``cryptography`` and
``rfc8785`` are all it installs.

- ``HubClient``: one method per API call, raising ``HubError`` with the hub's error body;
- ``parse_csv`` / ``parse_ndjson`` and ``build_envelopes``: rows of a member's file to
  signed envelopes, with every problem reported per line before anything is sent;
- ``SyncState`` and ``sync_list``: a local copy of the shared list kept up to date from
  the change-log feed, resumable after any interruption;
- ``write_atomically``: replace a file so that a crash leaves the old or the new one.
"""

from hashfed_client.cli import main
from hashfed_client.errors import HubError, InputError, SyncError
from hashfed_client.hub import MAX_BATCH, HubClient
from hashfed_client.keys import load_private_key, public_key_b64, write_new_private_key
from hashfed_client.submit import (
    Row,
    RowError,
    build_envelopes,
    parse_created_at,
    parse_csv,
    parse_ndjson,
    row_submission_id,
    utc_now_rfc3339,
)
from hashfed_client.sync import SyncState, hub_public_key_of, sync_list
from hashfed_wire.files import write_atomically

__all__ = [
    "MAX_BATCH",
    "HubClient",
    "HubError",
    "InputError",
    "Row",
    "RowError",
    "SyncError",
    "SyncState",
    "build_envelopes",
    "hub_public_key_of",
    "load_private_key",
    "main",
    "parse_created_at",
    "parse_csv",
    "parse_ndjson",
    "public_key_b64",
    "row_submission_id",
    "sync_list",
    "utc_now_rfc3339",
    "write_atomically",
    "write_new_private_key",
]
