from django.db import models

from hashbank.models import Bank, ChangeLogEntry, Signal


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


class StoredVersion(models.Model):
    """One version of an indicator (the one its change-log entry makes) as the stix2 library
    built and validated it, written as served. Building takes about 2 ms an object, too slow
    for a page of thousands; a periodic task (taxii.tasks.index_indicator_ids) builds the
    versions of new entries, a read builds those it finds missing. The incident disclosed
    beside an entry is not stored here: the retention policy may erase it, so it is added
    as the entry's disclosure says when served."""

    entry = models.OneToOneField(
        ChangeLogEntry,
        to_field="sequence",
        db_column="sequence",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    stix = models.TextField()

    def __str__(self) -> str:
        return f"version of #{self.entry_id}"
