from io import StringIO

from django.core.management import call_command

from hashbank.models import ChangeLogEntry, Signal, Submission


def test_the_demo_loads_twice_without_changing_the_list(db, settings):
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "hf_" in out.getvalue() and "governance@consortium.example" in out.getvalue()
    listed = Signal.objects.exclude(status="removed").count()
    assert listed > 0
    assert Submission.objects.filter(review_state="pending").exists()
    entries = ChangeLogEntry.objects.count()
    call_command("load_demo", stdout=StringIO())
    assert Signal.objects.exclude(status="removed").count() == listed
    assert ChangeLogEntry.objects.count() == entries


def test_the_demo_prints_a_second_factor_that_opens_admin(db):
    import re

    from django.test import Client

    out = StringIO()
    call_command("load_demo", stdout=out)
    printed = out.getvalue()
    code = re.search(r"recovery codes: (\w+)", printed).group(1)
    key = re.search(r"authenticator key: ([A-Z2-7]+)", printed).group(1)
    assert len(key) >= 32
    client = Client()
    client.post(
        "/admin/login/", {"username": "governance@consortium.example", "password": "hashfed-demo"}
    )
    assert client.get("/admin/").status_code == 302
    client.post("/portal/two-factor/", {"token": code})
    assert client.get("/admin/").status_code == 200


def test_the_demo_list_is_covered_by_signed_checkpoints_and_the_hub_is_healthy(db):
    """`./dev serve` runs no beat: the demo signs its banks' checkpoints itself, so the
    inclusion promise holds from the start."""
    from django.test import Client

    from hashbank.models import Bank
    from hashbank.services import transparency

    call_command("load_demo", stdout=StringIO())
    banks = [bank for bank in Bank.objects.all() if transparency.tree_size(bank.pk)]
    assert banks
    for bank in banks:
        last = transparency.checkpoint_last(bank)
        assert last is not None and last.size == transparency.tree_size(bank.pk), bank.name
    health = Client().get("/healthz").json()
    assert health["status"] == "ok", health
