"""What goes wrong, by whose fault (hashfed_wire.errors, shared with the hub's peering)."""

from hashfed_wire.errors import HubError, InputError, SyncError

__all__ = ["HubError", "InputError", "SyncError"]
