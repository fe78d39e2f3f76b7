"""The real python-threatexchange CLI, with the hashfed_client.tx extension loaded, against a
live hub: it fetches exactly the bank's list (pages checked against the pinned hub key),
resumes without fetching anything twice, matches a listed and a near PDQ hash and a URL
spelled differently, and a member's opinion given through it reaches the hub."""

import base64
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.audit import AuditContext
from accounts.hub_identity import hub_identity
from accounts.models import User
from hashbank.models import Opinion, Signal, Submission
from hashbank.services import submission_reject
from hashfed_wire.urls import url_digest
from tests.conftest import approve_all, submit

REPO = Path(__file__).resolve().parents[2]
THREATEXCHANGE = Path(sys.executable).parent / "threatexchange"

pytestmark = pytest.mark.skipif(
    not THREATEXCHANGE.exists(), reason="the threatexchange extra is not installed"
)


@pytest.fixture
def hub(live_server, transactional_db, cast):
    return live_server


class TX:
    """The threatexchange command with its state in a temporary HOME."""

    def __init__(self, home: Path, api_key: str) -> None:
        self.env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "client")]),
            "TX_HASHFED_API_KEY": api_key,
        }

    def __call__(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(THREATEXCHANGE), *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
        return done

    def fetched(self) -> dict[tuple[str, str], dict[str, str]]:
        rows = csv.DictReader(io.StringIO(self("dataset", "-P", "--csv").stdout))
        return {(row["signal_type"], row["signal_str"]): row for row in rows}

    def fetch(self) -> int:
        """Fetch; return how many updates the exchange handed over."""
        done = self("-v", "fetch")
        lines = [line for line in done.stderr.splitlines() if "fetch() with" in line]
        return sum(int(line.split("fetch() with ")[1].split()[0]) for line in lines)


def flip_bits(pdq: str, count: int) -> str:
    value = int(pdq, 16)
    for bit in range(count):
        value ^= 1 << (bit * 7)
    return f"{value:064x}"


def tx_listed(bank: str = "TVEC") -> set[tuple[str, str]]:
    names = {
        "pdq": "pdq",
        "md5": "hashfed_md5",
        "sha256": "hashfed_sha256",
        "video_md5": "video_md5",
        "url": "hashfed_url",
    }
    return {
        (names[s.signal_type], s.value)
        for s in Signal.objects.filter(bank__name=bank).exclude(status="removed")
    }


def test_the_threatexchange_cli_follows_a_bank_matches_and_reports(
    hub, cast, alice, bob, signer_for, tmp_path
):
    signer = signer_for("northwind/admin")
    pdq = "f8" * 32
    envelopes = [
        signer.envelope(value=pdq),
        signer.envelope(signal_type="md5", value="ab" * 16),
        signer.envelope(signal_type="sha256", value="cd" * 32),
        signer.envelope(signal_type="video_md5", value="ef" * 16),
        signer.envelope(signal_type="url", value="https://Example.com:443/a/./b?x=1#frag"),
        signer.envelope(value="0f" * 32),
    ]
    other_bank = signer.envelope(bank="HATE", labels=["hate-dehumanisation"], value="12" * 32)
    assert submit(alice, *envelopes, other_bank).status_code == 200
    approve_all()
    # One listing leaves the list again: the fetch must not hold it.
    dropped = Submission.objects.get(submission_id=envelopes[-1]["payload"]["id"])
    staff = User.objects.get(email="moderator@consortium.example")
    submission_reject(submission=dropped, reason="not violating", context=AuditContext(user=staff))

    home = tmp_path / "home"
    home.mkdir()
    tx = TX(home, bob.account.api_key)
    hub_key = base64.b64encode(hub_identity().public_key_raw).decode()
    tx("config", "extensions", "add", "hashfed_client.tx")
    tx(
        "config", "collab", "edit", "hashfed", "hub-tvec", "--create",
        "--hub-url", hub.url, "--bank", "TVEC", "--hub-key", hub_key,
    )  # fmt: skip

    assert tx.fetch() > 0
    fetched = tx.fetched()
    assert set(fetched) == tx_listed() and len(fetched) == 5
    assert ("pdq", "12" * 32) not in fetched, "another bank's signal"
    assert {row["collab"] for row in fetched.values()} == {"hub-tvec"}
    assert "tvec-glorification" in fetched[("pdq", pdq)]["tags"]

    # Resumed from the checkpoint with nothing new: nothing fetched, nothing changed.
    assert tx.fetch() == 0
    assert tx.fetched() == fetched
    # One new listing: only it is fetched.
    submit(alice, signer.envelope(value="3c" * 32))
    approve_all()
    assert tx.fetch() == 1
    assert set(tx.fetched()) == tx_listed() and len(tx_listed()) == 6

    # Matching: the listed PDQ, a near one, a file whose MD5 is listed, a URL spelled
    # another way.
    exact = tx("match", "--hashes", "-S", "pdq", "photo", "--", pdq).stdout
    assert "hub-tvec" in exact and "tvec-glorification" in exact
    near = tx("match", "--hashes", "-S", "pdq", "photo", "--", flip_bits(pdq, 9)).stdout
    assert "hub-tvec" in near
    far = tx("match", "--hashes", "-S", "pdq", "photo", "--", flip_bits(pdq, 36)).stdout
    assert "hub-tvec" not in far
    url = tx("match", "-S", "hashfed_url", "url", "--", "https://example.com/a/b?x=1").stdout
    assert "hub-tvec" in url
    assert url_digest("https://example.com/a/b?x=1") in {v for _, v in tx_listed()}
    elsewhere = tx("match", "-S", "hashfed_url", "url", "--", "https://example.com/a/c").stdout
    assert "hub-tvec" not in elsewhere

    # The CLI's `label` reports a positive opinion: the hub records a true positive.
    listed = Signal.objects.get(value=pdq)
    tx("label", "--as-hash", "pdq", "hub-tvec", "photo", "--", pdq)
    assert Opinion.objects.get(signal=listed, organisation=bob.org).kind == "true_positive"
    # ... and the next fetch carries it as the member's own opinion.
    tx.fetch()
    assert "POSITIVE_CLASS" in tx("match", "--hashes", "-S", "pdq", "photo", "--", pdq).stdout

    # The CLI's `label` sends only positive opinions, its labels as tags: a
    # `false-positive` label makes it a false positive, the other labels its reasons.
    before = Signal.objects.get(pk=listed.pk).confidence
    tx("label", "-H", "pdq", "-l", "false-positive,A news clip", "hub-tvec", "photo", "--", pdq)
    opinion = Opinion.objects.get(signal=listed, organisation=bob.org)
    assert (opinion.kind, opinion.reasons) == ("false_positive", "A news clip")
    assert Signal.objects.get(pk=listed.pk).confidence < before
    # The next fetch carries it: the member's negative against the listing's positive.
    tx.fetch()
    assert "DISPUTED" in tx("match", "--hashes", "-S", "pdq", "photo", "--", pdq).stdout
    tx("label", "-H", "pdq", "-l", "seen", "hub-tvec", "photo", "--", pdq)
    assert Opinion.objects.get(signal=listed, organisation=bob.org).kind == "seen"
    # A value listed in another bank is not this collaboration's to label.
    elsewhere = tx(
        "label", "-H", "pdq", "-l", "seen", "hub-tvec", "photo", "--", "12" * 32, check=False
    )
    assert elsewhere.returncode != 0
    assert not Opinion.objects.filter(signal__value="12" * 32).exists()

    # threatexchange's API (as HMA calls it) takes the reasons as such.
    from hashfed_client.tx import (
        HashfedCollabConfig,
        HashfedCredentials,
        HashfedOpinion,
        HashfedSignalExchangeAPI,
    )
    from threatexchange.exchanges.fetch_state import SignalOpinionCategory
    from threatexchange.signal_type.pdq.signal import PdqSignal

    collab = HashfedCollabConfig(name="hub-tvec", hub_url=hub.url, bank="TVEC", hub_key=hub_key)
    api = HashfedSignalExchangeAPI.for_collab(collab, HashfedCredentials(bob.account.api_key))
    api.report_opinion(
        PdqSignal,
        pdq,
        HashfedOpinion(True, SignalOpinionCategory.NEGATIVE_CLASS, set(), reasons="Satire"),
    )
    opinion = Opinion.objects.get(signal=listed, organisation=bob.org)
    assert (opinion.kind, opinion.reasons) == ("false_positive", "Satire")
    api.report_seen(PdqSignal, pdq)
    assert Opinion.objects.get(signal=listed, organisation=bob.org).kind == "seen"
    with pytest.raises(KeyError):
        api.report_seen(PdqSignal, "12" * 32)  # listed, but in another bank


def test_a_page_not_signed_by_the_pinned_key_is_refused(
    hub, cast, alice, bob, signer_for, tmp_path
):
    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    home = tmp_path / "home"
    home.mkdir()
    tx = TX(home, bob.account.api_key)
    tx("config", "extensions", "add", "hashfed_client.tx")
    wrong_key = base64.b64encode(bytes(range(32))).decode()
    tx(
        "config", "collab", "edit", "hashfed", "hub-tvec", "--create",
        "--hub-url", hub.url, "--bank", "TVEC", "--hub-key", wrong_key,
    )  # fmt: skip
    done = tx("-v", "fetch", check=False)
    assert done.returncode != 0
    assert "bad_signature" in done.stderr
    nothing = tx("dataset", "-P", "--csv", check=False)
    assert nothing.returncode != 0 and "No stored state" in nothing.stderr
