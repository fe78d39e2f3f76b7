"""A python-threatexchange SignalExchangeAPI for a Hashfed hub.

One collaboration follows one bank of one hub: ``fetch`` reads the hub's change log
(``GET /api/v1/sync/?bank=…``, ``docs/sync.md``), checks the hub's Ed25519 signature on every
page against the key pinned in the collaboration, and hands threatexchange each signal's
listing, or its removal. ``report_opinion`` and ``report_seen`` record the member's opinion
(``PUT /api/v1/signals/<id>/opinion/``).

This module must not use ``from __future__ import annotations``: threatexchange's CLI reads the
collaboration dataclass's field types to build its ``config collab edit`` options.
"""

import base64
import binascii
import datetime as dt
import typing as t
from dataclasses import dataclass, field

from threatexchange.exchanges import auth, signal_exchange_api
from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.collab_config import CollaborationConfigWithDefaults
from threatexchange.signal_type.signal_base import SignalType

from hashfed_client.errors import HubError
from hashfed_client.hub import MAX_SYNC_LIMIT, HubClient
from hashfed_client.tx.signals import HUB_TO_TX, TX_TO_HUB

API_NAME = "hashfed"
ENV_VARIABLE = "TX_HASHFED_API_KEY"
KEY_FILE = "~/.tx_hashfed_api_key"
DEFAULT_PAGE_SIZE = 1000

RecordKey = tuple[str, str]


@dataclass
class _HashfedCollabRequiredFields:
    hub_url: str = field(metadata={"help": "the hub's address, e.g. https://hub.example.org"})
    bank: str = field(metadata={"help": "the bank to follow (one collaboration per bank)"})
    hub_key: str = field(
        metadata={
            "help": "the hub's Ed25519 public key, base64, as published at "
            '/.well-known/hashfed ("public_key"): every page must be signed with it'
        }
    )


@dataclass
class HashfedCollabConfig(CollaborationConfigWithDefaults, _HashfedCollabRequiredFields):
    """One bank of one hub, and the hub key its pages must be signed with."""

    api: str = field(init=False, default=API_NAME)

    def hub_public_key(self) -> bytes:
        """The pinned key as 32 raw bytes; ValueError if it is not one."""
        try:
            raw = base64.b64decode(self.hub_key.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("hub_key is not base64") from exc
        if len(raw) != 32:
            raise ValueError("hub_key is not an Ed25519 public key (32 bytes)")
        return raw


@dataclass
class HashfedCredentials(auth.CredentialHelper):
    """The member's API key for the hub, from ``TX_HASHFED_API_KEY`` or
    ``~/.tx_hashfed_api_key`` (as threatexchange's own exchanges find theirs)."""

    ENV_VARIABLE: t.ClassVar[str] = ENV_VARIABLE
    FILE_NAME: t.ClassVar[str] = KEY_FILE

    api_key: str

    @classmethod
    def _from_str(cls, s: str) -> "HashfedCredentials":
        return cls(api_key=s.strip())

    def _are_valid(self) -> bool:
        return bool(self.api_key) and not any(char.isspace() for char in self.api_key)


def _epoch_seconds(at: object) -> int | None:
    """An entry's ``at`` (``2026-11-25T12:00:00.000000Z``) as whole seconds since 1970."""
    if not isinstance(at, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@dataclass
class HashfedCheckpoint(state.FetchCheckpointBase):
    """Where the hub's change log was read up to: ``cursor`` is the hub's ``next_cursor``, so
    a resumed fetch asks only for what follows; ``entry_time`` the time of the last entry
    read (seconds since 1970), which never goes back."""

    cursor: int
    entry_time: int

    def get_progress_timestamp(self) -> int | None:
        return self.entry_time

    def is_stale(self) -> bool:
        # The change log is append-only: a cursor stays good however long it waited.
        return False


@dataclass
class HashfedSignalMetadata(state.FetchedSignalMetadata):
    """A listed signal as the hub's change log last described it."""

    signal_id: int
    bank: str
    labels: list[str]
    status: str
    confidence: float
    contributors: list[str] | None = None
    # The member organisation's own opinion (seen, true_positive, false_positive,
    # disagree_labels) as of the page that carried the signal, or None.
    own_opinion: str | None = None

    def get_as_opinions(self) -> t.Sequence[state.SignalOpinion]:
        """One positive opinion per contributor (one for the hub's listing when the bank
        does not name them), the labels as tags; a negative one while the signal is
        disputed, so the aggregate reads DISPUTED; and the member's own opinion, if it has
        one that is a true or false positive."""
        tags = set(self.labels)
        opinions = [
            state.SignalOpinion(False, state.SignalOpinionCategory.POSITIVE_CLASS, set(tags))
            for _ in range(max(1, len(self.contributors or ())))
        ]
        if self.status == "disputed":
            opinions.append(
                state.SignalOpinion(False, state.SignalOpinionCategory.NEGATIVE_CLASS, set())
            )
        if self.own_opinion in OWN_OPINION_CATEGORIES:
            opinions.append(
                state.SignalOpinion(True, OWN_OPINION_CATEGORIES[self.own_opinion], set(tags))
            )
        return opinions

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} signal={self.signal_id} bank={self.bank} confidence={self.confidence}"


OWN_OPINION_CATEGORIES: dict[str, state.SignalOpinionCategory] = {
    "true_positive": state.SignalOpinionCategory.POSITIVE_CLASS,
    "false_positive": state.SignalOpinionCategory.NEGATIVE_CLASS,
}


@dataclass
class HashfedOpinion(state.SignalOpinion):
    """An opinion with the reasons the hub asks of a false positive."""

    reasons: str = ""


DEFAULT_FALSE_POSITIVE_REASON = "Reviewed as not violating (reported through python-threatexchange)"


# The threatexchange CLI's `label` command can only send a positive opinion, with its
# `--labels` as tags (python-threatexchange 1.2: no `--false-positive`, whatever its help
# says). A label naming another kind of opinion makes it that kind, so the real command
# reports what the hub records.
FALSE_POSITIVE_LABELS = frozenset({"false-positive", "false_positive"})
SEEN_LABELS = frozenset({"seen"})


def hub_opinion(opinion: state.SignalOpinion) -> tuple[str, str]:
    """The hub's opinion kind and reasons for a threatexchange opinion: a positive is a
    ``true_positive``, a negative a ``false_positive`` (the hub requires reasons: the
    opinion's ``reasons`` if it is a HashfedOpinion, else its tags, else a fixed text), an
    investigation seed ``seen``. A positive tagged ``false-positive`` (``false_positive``)
    is a false positive, its other tags the reasons; one tagged ``seen`` is ``seen``."""
    category = state.SignalOpinionCategory(opinion.category)
    tags = set(opinion.tags or ())
    if category == state.SignalOpinionCategory.POSITIVE_CLASS:
        if tags & FALSE_POSITIVE_LABELS:
            category = state.SignalOpinionCategory.NEGATIVE_CLASS
            tags -= FALSE_POSITIVE_LABELS
        elif tags & SEEN_LABELS:
            return "seen", ""
        else:
            return "true_positive", ""
    if category == state.SignalOpinionCategory.NEGATIVE_CLASS:
        reasons = getattr(opinion, "reasons", "") or ", ".join(sorted(tags))
        return "false_positive", reasons or DEFAULT_FALSE_POSITIVE_REASON
    return "seen", ""


def delta_for_entry(
    entry: t.Mapping[str, t.Any], own_opinions: t.Mapping[str, str]
) -> tuple[RecordKey, HashfedSignalMetadata | None] | None:
    """The threatexchange update for one change-log entry: ((type, value), metadata), with
    None for a removal; None for an entry of a type threatexchange has no name for."""
    tx_type = HUB_TO_TX.get(str(entry.get("signal_type")))
    if tx_type is None:
        return None
    key = (tx_type, str(entry["value"]))
    if entry.get("op") == "remove":
        return key, None
    signal_id = int(entry["signal"])
    contributors = entry.get("contributors")
    return key, HashfedSignalMetadata(
        signal_id=signal_id,
        bank=str(entry["bank"]),
        labels=[str(label) for label in entry.get("labels") or []],
        status=str(entry.get("status", "active")),
        confidence=float(entry.get("confidence") or 0.0),
        contributors=[str(c) for c in contributors] if isinstance(contributors, list) else None,
        own_opinion=own_opinions.get(str(signal_id)),
    )


class HashfedSignalExchangeAPI(
    auth.SignalExchangeWithAuth[HashfedCollabConfig, HashfedCredentials],
    signal_exchange_api.SignalExchangeAPIWithSimpleUpdates[
        HashfedCollabConfig, HashfedCheckpoint, HashfedSignalMetadata
    ],
):
    """A bank of a Hashfed hub as a threatexchange collaboration."""

    def __init__(
        self, collab: HashfedCollabConfig, client: HubClient, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> None:
        super().__init__()
        self.collab = collab
        self.client = client
        self.page_size = max(1, min(page_size, MAX_SYNC_LIMIT))
        self.hub_public_key = collab.hub_public_key()

    @classmethod
    def get_name(cls) -> str:
        return API_NAME

    @staticmethod
    def get_config_cls() -> type[HashfedCollabConfig]:
        return HashfedCollabConfig

    @staticmethod
    def get_checkpoint_cls() -> type[HashfedCheckpoint]:
        return HashfedCheckpoint

    @staticmethod
    def get_record_cls() -> type[HashfedSignalMetadata]:
        return HashfedSignalMetadata

    @staticmethod
    def get_credential_cls() -> type[HashfedCredentials]:
        return HashfedCredentials

    @classmethod
    def for_collab(
        cls,
        collab: HashfedCollabConfig,
        credentials: HashfedCredentials | None = None,
    ) -> "HashfedSignalExchangeAPI":
        credentials = credentials or HashfedCredentials.get(cls)
        return cls(collab, HubClient(collab.hub_url, credentials.api_key))

    def fetch_iter(
        self,
        _supported_signal_types: t.Sequence[type[SignalType]],
        checkpoint: HashfedCheckpoint | None,
    ) -> t.Iterator[state.FetchDelta[RecordKey, HashfedSignalMetadata, HashfedCheckpoint]]:
        """One delta per page of the change log after the checkpoint's cursor, each page's
        hub signature checked first (HubError ``bad_signature`` otherwise): every listed
        signal's metadata, or None for a removal. Stops at the head of the log."""
        cursor = checkpoint.cursor if checkpoint else 0
        entry_time = checkpoint.entry_time if checkpoint else 0
        while True:
            page = self.client.sync(
                cursor,
                self.page_size,
                hub_public_key=self.hub_public_key,
                banks=[self.collab.bank],
            )
            entries = page["entries"]
            next_cursor = int(page["next_cursor"])
            if entries and next_cursor <= cursor:
                raise HubError(200, "bad_response", f"the cursor did not advance past {cursor}")
            own_opinions = page.get("own_opinions")
            if not isinstance(own_opinions, dict):
                own_opinions = {}
            updates: dict[RecordKey, HashfedSignalMetadata | None] = {}
            for entry in entries:
                if str(entry.get("bank")) != self.collab.bank:
                    raise HubError(200, "bad_response", "the page holds another bank's entry")
                at = _epoch_seconds(entry.get("at"))
                if at is not None:
                    entry_time = max(entry_time, at)
                delta = delta_for_entry(entry, own_opinions)
                if delta is not None:
                    # Entries come in order: a later one for the same value replaces it.
                    updates[delta[0]] = delta[1]
            if next_cursor != cursor:
                yield state.FetchDelta(updates, HashfedCheckpoint(next_cursor, entry_time))
            cursor = next_cursor
            if not entries or next_cursor >= int(page["head"]):
                return

    def _signal_id(self, s_type: type[SignalType], signal: str) -> int:
        """The hub's id of the listed signal of this bank with this exact value."""
        hub_type = TX_TO_HUB.get(s_type.get_name())
        if hub_type is None:
            raise ValueError(f"the hub has no signal type for {s_type.get_name()}")
        query: dict[str, t.Any] = {"signal_type": hub_type, "value": signal}
        if hub_type == "pdq":
            query["max_distance"] = 0
        (result,) = self.client.lookup([query])
        if result.get("error"):
            raise ValueError(f"the hub refused {signal!r}: {result['error']}")
        for match in result.get("matches") or []:
            if match.get("bank") == self.collab.bank and match.get("value") == signal:
                return int(match["signal"])
        raise KeyError(f"{s_type.get_name()} {signal} is not listed in {self.collab.bank}")

    def report_opinion(
        self, s_type: type[SignalType], signal: str, opinion: state.SignalOpinion
    ) -> None:
        """Record the member's opinion of a listed signal (see ``hub_opinion``). KeyError if
        the value is not listed in the collaboration's bank."""
        kind, reasons = hub_opinion(opinion)
        signal_id = self._signal_id(s_type, s_type.validate_signal_str(signal))
        self.client.opinion_record(signal=signal_id, kind=kind, reasons=reasons)

    def report_seen(self, s_type: type[SignalType], signal: str, _metadata: object = None) -> None:
        """Record that the member saw this listed signal (the hub's ``seen``)."""
        self.report_opinion(
            s_type,
            signal,
            state.SignalOpinion(True, state.SignalOpinionCategory.INVESTIGATION_SEED, set()),
        )
