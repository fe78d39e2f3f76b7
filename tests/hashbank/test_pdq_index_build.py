"""The PDQ index built from the database, as the background job and the matcher build it."""

from __future__ import annotations

import json

from hashbank.matching import matcher as matcher_module
from hashbank.matching.matcher import MANIFEST, index_root, pdq_index_build
from hashbank.matching.pdq_index import PdqIndex, hashes_from_hex
from hashbank.models import Signal
from tests.conftest import approve_all, submit


def test_the_index_is_built_from_the_database_a_chunk_at_a_time(alice, signer_for, monkeypatch):
    # Chunks of 2 for 5 signals: two full chunks and a partial one.
    monkeypatch.setattr(matcher_module, "_BUILD_CHUNK", 2)
    signer = signer_for("northwind/admin")
    values = [f"{i:02x}" * 32 for i in range(1, 6)]
    submit(alice, *(signer.envelope(value=value) for value in values))
    approve_all()
    generation = pdq_index_build()
    built = PdqIndex.load(generation)
    listed = dict(Signal.objects.filter(signal_type="pdq").values_list("value", "pk"))
    assert len(built) == len(listed) == 5
    for value in values:
        assert built.search(hashes_from_hex([value])[0], 0) == [(listed[value], 0)]
    assert json.loads((generation / MANIFEST).read_text())["size"] == 5
    assert (index_root() / "current").resolve() == generation


def test_an_empty_list_builds_an_empty_index(db):
    assert len(PdqIndex.load(pdq_index_build())) == 0
