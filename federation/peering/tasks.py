"""Background work of peering: the periodic pull from peer hubs, and witnessing their logs.
Safe to run twice: each step starts where the last one stopped."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def pull_from_peers() -> dict[str, int]:
    """Pull every received bank of every active agreement (federation.peering.services);
    safe to run twice: a pull starts where the last verified one stopped."""
    from federation.peering.services import peers_pull

    results = peers_pull()
    return {str(r.received_bank): r.entries for r in results}


@shared_task(acks_late=True)
def witness_peer_logs() -> dict[str, str]:
    """Cosign the latest checkpoint of every log this hub follows."""
    from federation.peering.witnessing import peer_logs_witness

    return peer_logs_witness()


@shared_task(acks_late=True)
def forward_disputes() -> dict[str, str]:
    """Forward disputes of received hashes to their origin hubs, fetch their decisions and
    apply them here."""
    from federation.peering.forwarding import forwarded_disputes_advance

    return forwarded_disputes_advance()
