"""Background work of peering: the periodic pull from peer hubs."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def pull_from_peers() -> dict[str, int]:
    """Pull every received bank of every active agreement (federation.peering.services);
    safe to run twice: a pull starts where the last verified one stopped."""
    from federation.peering.services import peers_pull

    results = peers_pull()
    return {str(r.received_bank): r.entries for r in results}
