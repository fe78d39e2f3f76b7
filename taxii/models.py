from django.db import models

from hashbank.models import Bank, Signal


class IndicatorId(models.Model):
    """Which signal, in which of its listings, a served indicator id stands for. Ids are
    UUIDv5 hashes (taxii.stix), so finding one object by its id needs this index; a periodic
    task (taxii.tasks.index_indicator_ids) keeps it close to the change log's head, and a
    lookup brings it the rest of the way."""

    # The UUID of `indicator--<uuid>`.
    uuid = models.UUIDField(unique=True)
    bank = models.ForeignKey(Bank, on_delete=models.CASCADE, related_name="+")
    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="+")
    listing = models.IntegerField()

    def __str__(self) -> str:
        return f"indicator--{self.uuid}"


class IndexedUpTo(models.Model):
    """How far into the change log the ids of a bank's indicators are indexed: every entry
    numbered below `sequence`."""

    bank = models.OneToOneField(Bank, on_delete=models.CASCADE, related_name="+")
    sequence = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.bank_id} below {self.sequence}"
