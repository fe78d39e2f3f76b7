"""The permission matrix: which role of which kind of organisation may take which action.

This module is the single source of truth. Every API view declares the action each of its
methods needs (`HubApiView.actions`), `DeclaredActionPermission` checks it here, the tests
walk every URL pattern against it, and `manage.py permission_matrix` renders
docs/permissions.md from it. Broad rights are roles on a membership; per-object grants
(restricted banks, lawful requests) sit on top, through `accounts.grants`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from accounts.models import OrganisationKind as Kind
from accounts.models import Role

ROLES_BY_KIND: dict[str, tuple[str, ...]] = {
    Kind.PLATFORM: (Role.ADMIN, Role.ANALYST, Role.VIEWER),
    Kind.AUTHORITY: (Role.LIAISON,),
    Kind.RESEARCH: (Role.RESEARCHER,),
    Kind.CONSORTIUM: (Role.MODERATOR, Role.GOVERNANCE_OFFICER),
    Kind.PEER_HUB: (Role.PEER,),
}

# The same roles, highest first: what a person or key may hand on. Nobody creates a
# credential (API key, membership) with a role above their own (`roles_at_most`).
ROLE_ORDER_BY_KIND: dict[str, tuple[str, ...]] = {
    Kind.PLATFORM: (Role.ADMIN, Role.ANALYST, Role.VIEWER),
    Kind.AUTHORITY: (Role.LIAISON,),
    Kind.RESEARCH: (Role.RESEARCHER,),
    Kind.CONSORTIUM: (Role.GOVERNANCE_OFFICER, Role.MODERATOR),
    Kind.PEER_HUB: (Role.PEER,),
}
if {k: sorted(v) for k, v in ROLE_ORDER_BY_KIND.items()} != {
    k: sorted(v) for k, v in ROLES_BY_KIND.items()
}:
    raise ValueError("every role of every kind is ranked exactly once")


def roles_at_most(kind: str, role: str) -> tuple[str, ...]:
    """The roles of `kind` that someone holding `role` there may grant: their own and the
    ones below it. None for a role the kind does not have."""
    order = ROLE_ORDER_BY_KIND.get(kind, ())
    return order[order.index(role) :] if role in order else ()


Grant = tuple[str, str]  # (organisation kind, role)


def _grants(*pairs: Grant) -> frozenset[Grant]:
    for kind, role in pairs:
        if role not in ROLES_BY_KIND[kind]:
            raise ValueError(f"{role} is not a role of a {kind} organisation")
    return frozenset(pairs)


PLATFORM_ADMIN: Grant = (Kind.PLATFORM, Role.ADMIN)
AUTHORITY_LIAISON: Grant = (Kind.AUTHORITY, Role.LIAISON)
PEER_HUB: Grant = (Kind.PEER_HUB, Role.PEER)
PLATFORM_ALL = (
    PLATFORM_ADMIN,
    (Kind.PLATFORM, Role.ANALYST),
    (Kind.PLATFORM, Role.VIEWER),
)
PLATFORM_WRITERS = (PLATFORM_ADMIN, (Kind.PLATFORM, Role.ANALYST))
# Who holds an organisation's signing keys: a platform's admins, a peer hub.
SIGNING_KEY_HOLDERS = (PLATFORM_ADMIN, PEER_HUB)
EVERY_MEMBER = tuple((kind, role) for kind, roles in ROLES_BY_KIND.items() for role in roles)
# Whoever administers an organisation's own access: its admins, and for kinds with a single
# role, that role.
ORGANISATION_ADMINS = (
    PLATFORM_ADMIN,
    AUTHORITY_LIAISON,
    (Kind.RESEARCH, Role.RESEARCHER),
    (Kind.CONSORTIUM, Role.GOVERNANCE_OFFICER),
    PEER_HUB,
)

# Kinds of organisation that must learn nothing of the hash bank, not even through
# side channels: whatever they can read is built only from their own activity.
HASH_BANK_FIREWALLED_KINDS = frozenset({Kind.AUTHORITY, Kind.RESEARCH})


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    grants: frozenset[Grant] = field(default_factory=frozenset)
    # Public actions need no credentials at all.
    public: bool = False
    # Writes are refused to read-only API keys.
    write: bool = False
    # Most actions stop while the organisation is suspended; these few keep working so a
    # suspended member can see why.
    while_suspended: bool = False


ACTIONS: dict[str, Action] = {}


def register(action: Action) -> Action:
    if action.name in ACTIONS:
        raise ValueError(f"action {action.name} registered twice")
    ACTIONS[action.name] = action
    return action


for _action in [
    Action("hub.meta.read", "Read the hub's public identity, API schema and health", public=True),
    Action(
        "accounts.me.read",
        "See one's own identity, organisation and role",
        _grants(*EVERY_MEMBER),
        while_suspended=True,
    ),
    Action(
        "accounts.membership.list",
        "List the people of one's organisation and their roles",
        _grants(*ORGANISATION_ADMINS),
    ),
    Action(
        "accounts.apikey.list", "List one's organisation's API keys", _grants(*ORGANISATION_ADMINS)
    ),
    Action(
        "accounts.apikey.issue",
        "Issue an API key for one's organisation",
        _grants(*ORGANISATION_ADMINS),
        write=True,
    ),
    Action(
        "accounts.apikey.revoke",
        "Revoke one of one's organisation's API keys",
        _grants(*ORGANISATION_ADMINS),
        write=True,
    ),
    Action(
        "accounts.signingkey.list",
        "List one's organisation's signing keys",
        _grants(*PLATFORM_ALL, PEER_HUB),
    ),
    Action(
        "accounts.signingkey.register",
        "Register an Ed25519 public key for one's organisation",
        _grants(*SIGNING_KEY_HOLDERS),
        write=True,
    ),
    Action(
        "accounts.signingkey.revoke",
        "Revoke one of one's organisation's signing keys",
        _grants(*SIGNING_KEY_HOLDERS),
        write=True,
    ),
    Action("hashbank.label.list", "Read the label taxonomy", _grants(*EVERY_MEMBER)),
    Action(
        "hashbank.bank.list",
        "List the banks one may read or contribute to",
        _grants(*PLATFORM_ALL, PEER_HUB),
    ),
    Action(
        "hashbank.submission.create",
        "Submit signed hashes (full and probation members, banks they may contribute to)",
        _grants(*PLATFORM_WRITERS),
        write=True,
    ),
    Action("hashbank.submission.list", "Follow one's own submissions", _grants(*PLATFORM_ALL)),
    Action(
        "hashbank.submission.withdraw",
        "Withdraw one's own submission",
        _grants(*PLATFORM_WRITERS),
        write=True,
    ),
    Action(
        "hashbank.sync.read",
        "Sync the change log and download snapshots of the banks one may read",
        _grants(*PLATFORM_ALL, PEER_HUB),
    ),
    Action(
        "hashbank.log.read",
        "Read the signed checkpoints and Merkle proofs of the banks one may read",
        _grants(*PLATFORM_ALL, PEER_HUB),
    ),
    Action(
        "hashbank.log.cosign",
        "Post a witness's cosignature of a bank's checkpoint (the witnesses one runs, "
        "configured by staff)",
        _grants(PEER_HUB),
        write=True,
    ),
    Action(
        "hashbank.signal.read", "Read one listed signal of a readable bank", _grants(*PLATFORM_ALL)
    ),
    Action(
        "hashbank.keys.read",
        "Read every member's public signing keys, to verify the envelopes behind listed hashes",
        _grants(*PLATFORM_ALL, PEER_HUB),
    ),
    Action(
        "hashbank.envelope.read",
        "Fetch a signed envelope: one's own, or one behind a listed hash of a readable bank "
        "that shows its contributors",
        _grants(*PLATFORM_ALL, PEER_HUB),
    ),
    Action(
        "hashbank.opinion.record",
        "Record one's opinion of a signal (seen, true/false positive, disagree with labels)",
        _grants(*PLATFORM_WRITERS),
        write=True,
    ),
    Action(
        "hashbank.lookup",
        "Look up hashes against the banks one may read (rate-limited per organisation)",
        _grants(*PLATFORM_ALL),
    ),
    Action(
        "hashbank.media.hash",
        "Have the hub hash an uploaded image (hosted hashing), optionally matching it",
        _grants(*PLATFORM_ALL),
    ),
    Action("hashbank.dispute.list", "Follow disputes one is a party to", _grants(*PLATFORM_ALL)),
    Action(
        "hashbank.dispute.open",
        "Dispute a signal or its labels",
        _grants(*PLATFORM_WRITERS),
        write=True,
    ),
    Action(
        "hashbank.dispute.appeal",
        "Appeal a dispute decision once",
        _grants(PLATFORM_ADMIN),
        write=True,
    ),
    Action(
        "accounts.audit.list",
        "Read the audit trail of one's own organisation",
        _grants(*ORGANISATION_ADMINS),
    ),
    Action(
        "authorities.request.file",
        "File a lawful request (removal order, notice, preservation, information)",
        _grants(AUTHORITY_LIAISON),
        write=True,
    ),
    Action(
        "authorities.request.list",
        "Follow the lawful requests one filed or that address one's platform (reads logged)",
        _grants(AUTHORITY_LIAISON, *PLATFORM_WRITERS),
    ),
    Action(
        "authorities.request.answer",
        "Acknowledge and answer a lawful request addressed to one's platform",
        _grants(*PLATFORM_WRITERS),
        write=True,
    ),
    Action(
        "incidents.incident.list",
        "Follow crisis incidents (platforms: all; authorities: those naming them)",
        _grants(*PLATFORM_ALL, AUTHORITY_LIAISON),
    ),
    Action(
        "incidents.webhook.list",
        "List one's organisation's webhook endpoints and every delivery attempt",
        _grants(*PLATFORM_WRITERS, AUTHORITY_LIAISON),
    ),
    Action(
        "incidents.webhook.manage",
        "Register or disable a webhook endpoint of one's organisation",
        _grants(PLATFORM_ADMIN, AUTHORITY_LIAISON),
        write=True,
    ),
    Action(
        "transparency.statistics.read",
        "Query aggregate statistics (small cells suppressed; no hashes, no member names)",
        _grants((Kind.RESEARCH, Role.RESEARCHER), (Kind.CONSORTIUM, Role.GOVERNANCE_OFFICER)),
    ),
]:
    register(_action)


def get_action(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        raise KeyError(f"no action {name!r} in the permission matrix") from None


def is_granted(action_name: str, *, kind: str, role: str) -> bool:
    action = get_action(action_name)
    return action.public or (kind, role) in action.grants


def all_roles() -> Iterable[Grant]:
    return ((kind, role) for kind, roles in ROLES_BY_KIND.items() for role in roles)


def role_belongs_to_kind(role: str, kind: str) -> bool:
    return role in ROLES_BY_KIND.get(kind, ())
