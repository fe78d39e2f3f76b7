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
