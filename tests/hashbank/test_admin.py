"""Staff moderation in Django admin: the review queue, signals, disputes, labels, banks and
the change log, as a moderator and the governance officer use them."""

import base64
import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import grants
from accounts.audit import AuditContext
from accounts.models import AuditEvent, Organisation, User
from hashbank.models import (
    Bank,
    ChangeLogEntry,
    Dispute,
    Label,
    ReviewState,
    Signal,
    Snapshot,
    Submission,
)
from hashbank.services import dispute_appeal, dispute_open
from hashbank.services.snapshots import snapshots_create
from tests.conftest import (
    approve_all,
    assert_no_inline_code,
    sign_in,
    submit,
    view_only_staff,
)

QUEUE = "/admin/hashbank/submission/"
DISPUTES = "/admin/hashbank/dispute/"
BANKS = "/admin/hashbank/bank/"


def staff_client(email="moderator@consortium.example") -> Client:
    return sign_in(Client(), User.objects.get(email=email))


@pytest.fixture
def moderator(cast) -> Client:
    return staff_client()


@pytest.fixture
def officer(cast) -> Client:
    return staff_client("governance@consortium.example")


def start_action(client, changelist, action, objects, **data):
    """The first click, from the changelist: an action with a form answers with its page."""
    selected = [o.pk for o in objects]
    return client.post(
        changelist, {"action": action, "index": 0, "_selected_action": selected, **data}
    )


def apply_action(client, changelist, action, objects, **data):
    """Submitting an action's intermediate page."""
    selected = [o.pk for o in objects]
    return client.post(
        changelist, {"action": action, "apply": "1", "_selected_action": selected, **data}
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def listed(response) -> list:
    return list(response.context["cl"].result_list)


def pending_submissions(actor, signer, count=1, **overrides) -> list[Submission]:
    envelopes = [signer.envelope(**overrides) for _ in range(count)]
    submit(actor, *envelopes)
    ids = [e["payload"]["id"] for e in envelopes]
    return list(Submission.objects.filter(submission_id__in=ids).order_by("received_at"))


def listed_signal(alice, bob, signer_for) -> Signal:
    pending_submissions(alice, signer_for("northwind/admin"))
    approve_all()
    return Signal.objects.get()


def open_dispute(bob, signal, kind="signal", **extra) -> Dispute:
    return dispute_open(
        organisation=bob.org,
        signal=signal,
        kind=kind,
        grounds=extra.pop("grounds", "This is a news report."),
        context=AuditContext(user=bob.user, organisation=bob.org),
        **extra,
    )


def test_the_queue_lists_pending_submissions_oldest_first(moderator, alice, signer_for):
    first, second = pending_submissions(alice, signer_for("northwind/admin"), count=2)
    Submission.objects.filter(pk=first.pk).update(
        received_at=timezone.now() - dt.timedelta(hours=3)
    )
    response = moderator.get(QUEUE)
    assert response.status_code == 200
    assert listed(response) == [first, second]
    assert "awaiting post-review" in response.content.decode()


def test_the_queue_filters_by_state_age_label_and_post_review(moderator, alice, bob, signer_for):
    old, fresh = pending_submissions(alice, signer_for("northwind/admin"), count=2)
    Submission.objects.filter(pk=old.pk).update(received_at=timezone.now() - dt.timedelta(days=9))
    # Lakeside is a trusted contributor: approved on arrival, still to be looked at.
    (auto,) = pending_submissions(
        bob, signer_for("lakeside/admin"), bank="HATE", labels=["hate-dehumanisation"]
    )
    assert auto.review_state == ReviewState.APPROVED
    label = Label.objects.get(slug="hate-dehumanisation")

    def ids(query):
        return {s.pk for s in listed(moderator.get(QUEUE + query))}

    assert ids("?review_state=pending") == {old.pk, fresh.pk}
    assert ids("?review_state=approved") == {auto.pk}
    assert ids("?review_state=all&age=1h") == {fresh.pk, auto.pk}
    assert ids("?review_state=all&age=older") == {old.pk}
    assert ids(f"?review_state=all&labels__id__exact={label.pk}") == {auto.pk}
    assert ids("?review_state=all&post_review=awaiting") == {auto.pk}
    assert ids("?post_review=awaiting") == {auto.pk}, "no pending default hides them"
    assert ids(f"?review_state=all&organisation__id__exact={bob.org.pk}") == {auto.pk}
    assert ids("?review_state=all&incident__isempty=0") == set()


def test_the_queue_finds_a_submission_by_its_value_or_id(moderator, alice, signer_for):
    wanted, other = pending_submissions(alice, signer_for("northwind/admin"), count=2)

    def found(term):
        return listed(moderator.get(QUEUE, {"q": term}))

    assert found(wanted.value) == [wanted]
    assert found(wanted.value[:12]) == [wanted]
    assert found(wanted.value[:12].upper()) == [wanted]
    assert found(str(other.submission_id)) == [other]
    assert found("not-a-hash") == []


def test_the_detail_page_shows_a_verified_signature_and_the_track_record(
    moderator, alice, signer_for
):
    (submission,) = pending_submissions(alice, signer_for("northwind/admin"))
    response = moderator.get(f"{QUEUE}{submission.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "✔ verified" in page
    assert "NOT VERIFIED" not in page
    assert submission.signing_key.key_id in page
    assert "&quot;audience&quot;: &quot;hub.test&quot;" in page, "the payload, pretty-printed"
    assert "approved 0 · rejected 0 · pending 1 · disputed 0" in page
    assert 'name="_save"' not in page, "nothing of a signed statement is editable"


def test_the_detail_page_flags_a_tampered_signature(moderator, alice, signer_for):
    (submission,) = pending_submissions(alice, signer_for("northwind/admin"))
    forged = base64.b64encode(bytes(64)).decode("ascii")
    Submission.objects.filter(pk=submission.pk).update(signature=forged)
    page = moderator.get(f"{QUEUE}{submission.pk}/change/").content.decode()
    assert "NOT VERIFIED" in page
    assert "does not match" in page
    assert "✔ verified" not in page


def test_a_signature_by_a_key_compromised_before_signing_is_flagged(moderator, alice, signer_for):
    signer = signer_for("northwind/admin")
    (submission,) = pending_submissions(alice, signer)
    signer.key.revoked_at = timezone.now()
    signer.key.revocation_reason = "compromised"
    signer.key.compromised_since = submission.created_at - dt.timedelta(minutes=1)
    signer.key.save()
    page = moderator.get(f"{QUEUE}{submission.pk}/change/").content.decode()
    assert "NOT VERIFIED" in page
    assert "revoked (Key compromised)" in page


def test_bulk_approve_puts_the_signals_on_the_list_and_logs_them(moderator, alice, signer_for):
    submissions = pending_submissions(alice, signer_for("northwind/admin"), count=2)
    response = start_action(moderator, QUEUE, "approve_selected", submissions)
    assert response.status_code == 302
    assert {s.review_state for s in Submission.objects.all()} == {ReviewState.APPROVED}
    assert Signal.objects.filter(status="active").count() == 2
    assert list(ChangeLogEntry.objects.values_list("op", flat=True)) == ["add", "add"]
    moderator_user = User.objects.get(email="moderator@consortium.example")
    assert set(Submission.objects.values_list("reviewed_by", flat=True)) == {moderator_user.pk}
    assert AuditEvent.objects.filter(action="hashbank.submission.approved").count() == 2


def test_approving_an_auto_approved_submission_marks_it_post_reviewed(moderator, bob, signer_for):
    (auto,) = pending_submissions(bob, signer_for("lakeside/admin"))
    assert (auto.auto_approved, auto.post_reviewed) == (True, False)
    # The selection is taken from the list shown: here the approved ones.
    start_action(moderator, QUEUE + "?review_state=approved", "approve_selected", [auto])
    auto.refresh_from_db()
    assert auto.post_reviewed
    assert ChangeLogEntry.objects.count() == 1, "confirming changes nothing on the list"


def test_bulk_reject_asks_for_a_reason_then_tells_the_submitter(
    moderator, alice, signer_for, mailoutbox, django_capture_on_commit_callbacks
):
    (submission,) = pending_submissions(alice, signer_for("northwind/admin"))
    page = start_action(moderator, QUEUE, "reject_with_reason", [submission])
    assert page.status_code == 200
    assert 'name="reason"' in page.content.decode()
    assert Submission.objects.get().review_state == ReviewState.PENDING

    empty = apply_action(moderator, QUEUE, "reject_with_reason", [submission], reason="  ")
    assert empty.status_code == 200
    assert empty.context["form"].errors["reason"]
    assert Submission.objects.get().review_state == ReviewState.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        done = apply_action(
            moderator,
            QUEUE,
            "reject_with_reason",
            [submission],
            reason="A news report, not glorification.",
        )
    assert done.status_code == 302
    submission.refresh_from_db()
    assert submission.review_state == ReviewState.REJECTED
    assert submission.review_reason == "A news report, not glorification."
    assert len(mailoutbox) == 1
    assert "A news report, not glorification." in mailoutbox[0].body
    assert mailoutbox[0].to == ["admin@northwind.example"]
    assert mailoutbox[0].subject == "[Hashfed] 1 submission rejected"
    assert messages_of(done) == [
        "1 submission rejected. The submitting organisation is told why in one email."
    ]


def test_a_conflict_is_reported_per_item_not_as_an_error_page(moderator, alice, signer_for):
    rejected, fine = pending_submissions(alice, signer_for("northwind/admin"), count=2)
    apply_action(moderator, QUEUE, "reject_with_reason", [rejected], reason="Unrelated content.")
    everything = QUEUE + "?review_state=all"
    response = start_action(moderator, everything, "approve_selected", [rejected, fine])
    assert response.status_code == 302
    short = str(rejected.submission_id)[:8]
    assert (
        f"Submission {short} from Northwind Video was left as it was: "
        "this submission is rejected." in messages_of(response)
    )
    assert Submission.objects.get(pk=fine.pk).review_state == ReviewState.APPROVED
    again = apply_action(moderator, everything, "reject_with_reason", [rejected], reason="Twice.")
    assert any("this submission is rejected" in m for m in messages_of(again))


def test_the_queue_opens_on_pending_with_a_link_to_all(moderator, alice, bob, signer_for):
    (pending,) = pending_submissions(alice, signer_for("northwind/admin"))
    (auto,) = pending_submissions(bob, signer_for("lakeside/admin"))
    assert auto.review_state == ReviewState.APPROVED
    response = moderator.get(QUEUE)
    assert listed(response) == [pending]
    page = response.content.decode()
    assert 'href="?review_state=all"' in page
    assert {s.pk for s in listed(moderator.get(QUEUE + "?review_state=all"))} == {
        pending.pk,
        auto.pk,
    }


def test_each_row_is_short_and_names_the_organisation(moderator, alice, signer_for):
    (submission,) = pending_submissions(
        alice, signer_for("northwind/admin"), labels=["tvec-recruitment", "tvec-radicalisation"]
    )
    page = moderator.get(QUEUE).content.decode()
    row = page[page.index("<tbody>") : page.index("</tbody>")]
    assert "Northwind Video" in row
    assert f">{submission}<" not in row, "no slug:uuid"
    assert f">{submission.submission_id}<" not in row, "the id is cut short"
    assert str(submission.submission_id)[:8] in row
    assert "+1" in row, "a second label is counted, not listed"
    assert "✔ verified" in row


def test_signature_status_is_a_column_and_a_filter(moderator, alice, signer_for):
    good, forged = pending_submissions(alice, signer_for("northwind/admin"), count=2)
    signature = base64.b64encode(bytes(64)).decode("ascii")
    Submission.objects.filter(pk=forged.pk).update(signature=signature)
    response = moderator.get(QUEUE)
    page = response.content.decode()
    assert page.count("✔ verified") == 1 and page.count("✘ failed") == 1
    assert listed(moderator.get(QUEUE + "?signature=failed")) == [forged]
    assert listed(moderator.get(QUEUE + "?signature=verified")) == [good]


def detail(submission) -> str:
    return f"{QUEUE}{submission.pk}/change/"


def test_the_detail_page_approves_and_moves_to_the_next_pending(moderator, alice, signer_for):
    first, second = pending_submissions(alice, signer_for("northwind/admin"), count=2)
    page = moderator.get(detail(first)).content.decode()
    approve = f"{QUEUE}{first.pk}/approve/"
    assert f'action="{approve}"' in page
    assert f'href="{detail(second)}"' in page, "the next pending submission"
    assert_no_inline_code(page)
    assert 'name="_save"' not in page

    response = moderator.post(approve)
    assert response.status_code == 302
    assert response["Location"] == detail(second)
    first.refresh_from_db()
    assert first.review_state == ReviewState.APPROVED
    assert first.reviewed_by.email == "moderator@consortium.example"
    short = str(first.submission_id)[:8]
    assert messages_of(response) == [f"Submission {short} from Northwind Video approved."]

    last = moderator.post(f"{QUEUE}{second.pk}/approve/")
    assert last["Location"] == QUEUE, "back to the queue once nothing is pending"
    page = moderator.get(detail(second)).content.decode()
    assert "/approve/" not in page, "an approved submission offers no approval"
    assert "No other submission is pending." in page


def test_the_detail_page_rejects_with_a_reason(
    moderator, alice, signer_for, mailoutbox, django_capture_on_commit_callbacks
):
    (submission,) = pending_submissions(alice, signer_for("northwind/admin"))
    reject = f"{QUEUE}{submission.pk}/reject/"
    assert 'name="reason"' in moderator.get(detail(submission)).content.decode()
    empty = moderator.post(reject, {"reason": " "})
    assert empty["Location"] == detail(submission)
    assert messages_of(empty) == ["A rejection needs a reason."]
    assert Submission.objects.get().review_state == ReviewState.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        done = moderator.post(reject, {"reason": "Satire."})
    assert done["Location"] == QUEUE
    submission.refresh_from_db()
    assert (submission.review_state, submission.review_reason) == (ReviewState.REJECTED, "Satire.")
    assert [m.to for m in mailoutbox] == [["admin@northwind.example"]]
    again = moderator.post(reject, {"reason": "Twice."})
    assert any("this submission is rejected" in m for m in messages_of(again))


def test_the_moderation_buttons_need_the_moderation_permission(cast, alice, signer_for):
    (submission,) = pending_submissions(alice, signer_for("northwind/admin"))
    viewer = sign_in(Client(), view_only_staff())
    page = viewer.get(detail(submission))
    assert page.status_code == 200, "staff who only look still see the statement"
    assert "/approve/" not in page.content.decode()
    assert "/reject/" not in page.content.decode()
    assert viewer.post(f"{QUEUE}{submission.pk}/approve/").status_code == 403
    assert viewer.post(f"{QUEUE}{submission.pk}/reject/", {"reason": "No."}).status_code == 403

    member = sign_in(Client(), alice.user)
    refused = member.post(f"{QUEUE}{submission.pk}/approve/")
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]
    assert Submission.objects.get().review_state == ReviewState.PENDING


def test_the_moderation_buttons_take_only_a_post_with_its_csrf_token(alice, signer_for):
    (submission,) = pending_submissions(alice, signer_for("northwind/admin"))
    moderator = sign_in(
        Client(enforce_csrf_checks=True), User.objects.get(email="moderator@consortium.example")
    )
    approve = f"{QUEUE}{submission.pk}/approve/"
    assert moderator.get(approve).status_code == 405
    assert moderator.post(approve).status_code == 403
    assert Submission.objects.get().review_state == ReviewState.PENDING


def test_bulk_rejection_writes_once_to_each_organisation(
    moderator, alice, bob, signer_for, mailoutbox, django_capture_on_commit_callbacks
):
    northwind = pending_submissions(alice, signer_for("northwind/admin"), count=3)
    lakeside = pending_submissions(bob, signer_for("lakeside/admin"), count=2)
    with django_capture_on_commit_callbacks(execute=True):
        done = apply_action(
            moderator,
            QUEUE + "?review_state=all",
            "reject_with_reason",
            [*northwind, *lakeside],
            reason="Not the content the labels say.",
        )
    assert messages_of(done) == [
        "5 submissions rejected. The 2 submitting organisations are told why, in one email each."
    ]
    expected = {
        "admin@northwind.example": northwind,
        "admin@lakeside.example": lakeside,
    }
    assert sorted(tuple(m.to) for m in mailoutbox) == sorted((a,) for a in expected)
    for message in mailoutbox:
        (recipient,) = message.to
        mine = {str(s.submission_id) for s in expected[recipient]}
        others = {str(s.submission_id) for s in [*northwind, *lakeside]} - mine
        assert all(i in message.body for i in mine)
        assert not any(i in message.body for i in others), "no other member's submissions"
        assert message.body.count("Not the content the labels say.") == len(mine)
    assert {m.subject for m in mailoutbox} == {
        "[Hashfed] 3 submissions rejected",
        "[Hashfed] 2 submissions rejected",
    }


def test_approval_messages_count_in_words(moderator, alice, signer_for):
    one, two, three = pending_submissions(alice, signer_for("northwind/admin"), count=3)
    single = start_action(moderator, QUEUE, "approve_selected", [one])
    assert messages_of(single) == ["1 submission approved."]
    both = start_action(moderator, QUEUE, "approve_selected", [two, three])
    assert messages_of(both)[-1] == "2 submissions approved."
    again = start_action(moderator, QUEUE + "?review_state=all", "approve_selected", [one])
    assert messages_of(again)[-1:] == [
        "1 submission was approved already; if it was approved on arrival, it is now marked "
        "post-reviewed."
    ]


def test_model_names_read_well_in_the_plural(officer):
    assert ChangeLogEntry._meta.verbose_name_plural == "change log entries"
    assert "Change log entries" in officer.get("/admin/").content.decode()


def test_submissions_cannot_be_added_or_deleted_in_admin(officer):
    assert officer.get(QUEUE + "add/").status_code == 403
    actions = officer.get(QUEUE).context["action_form"].fields["action"].choices
    assert "delete_selected" not in {name for name, _ in actions}


def test_deciding_a_dispute_overturned_removes_the_signal(moderator, alice, bob, signer_for):
    signal = listed_signal(alice, bob, signer_for)
    dispute = open_dispute(bob, signal)
    page = start_action(moderator, DISPUTES, "decide", [dispute])
    assert page.status_code == 200
    assert "This is a news report." in page.content.decode(), "the grounds are shown"

    refused = apply_action(moderator, DISPUTES, "decide", [dispute], outcome="overturned")
    assert refused.context["form"].errors["reason"]

    apply_action(moderator, DISPUTES, "decide", [dispute], outcome="overturned", reason="News use.")
    dispute.refresh_from_db()
    assert (dispute.state, dispute.outcome) == ("decided", "overturned")
    assert dispute.decided_by.email == "moderator@consortium.example"
    assert Signal.objects.get().status == "removed"
    assert ChangeLogEntry.objects.order_by("-sequence").first().op == "remove"


def test_a_relabel_decision_sets_the_chosen_labels(moderator, alice, bob, signer_for):
    signal = listed_signal(alice, bob, signer_for)
    dispute = open_dispute(bob, signal, kind="labels", proposed_labels=["tvec-recruitment"])
    without_labels = apply_action(
        moderator, DISPUTES, "decide", [dispute], outcome="relabelled", reason="Agreed."
    )
    assert without_labels.context["form"].errors["labels"]
    apply_action(
        moderator,
        DISPUTES,
        "decide",
        [dispute],
        outcome="relabelled",
        reason="Agreed.",
        labels=["tvec-recruitment", "tvec-radicalisation"],
    )
    signal.refresh_from_db()
    assert sorted(signal.labels.values_list("slug", flat=True)) == [
        "tvec-radicalisation",
        "tvec-recruitment",
    ]
    assert signal.status == "active"


def test_an_appeal_goes_to_another_reviewer(moderator, officer, alice, bob, signer_for):
    signal = listed_signal(alice, bob, signer_for)
    dispute = open_dispute(bob, signal)
    apply_action(moderator, DISPUTES, "decide", [dispute], outcome="overturned", reason="Satire.")
    dispute_appeal(
        dispute=dispute,
        organisation=alice.org,
        grounds="It is the attack video.",
        context=AuditContext(user=alice.user, organisation=alice.org),
    )

    same = apply_action(
        moderator, DISPUTES, "decide_appeal", [dispute], outcome="upheld", reason="Fine."
    )
    assert same.status_code == 302
    assert any("different reviewer" in m for m in messages_of(same))
    assert Dispute.objects.get().state == "appealed"

    apply_action(officer, DISPUTES, "decide_appeal", [dispute], outcome="upheld", reason="It is.")
    dispute.refresh_from_db()
    assert (dispute.state, dispute.appeal_outcome) == ("closed", "upheld")
    assert Signal.objects.get().status == "active"


def test_marking_a_dispute_in_review_is_audited(moderator, alice, bob, signer_for):
    dispute = open_dispute(bob, listed_signal(alice, bob, signer_for))
    start_action(moderator, DISPUTES, "mark_in_review", [dispute])
    assert Dispute.objects.get().state == "in_review"
    event = AuditEvent.objects.get(action="hashbank.dispute.in_review")
    assert event.actor_email == "moderator@consortium.example"
    again = start_action(moderator, DISPUTES, "mark_in_review", [dispute])
    assert any("in review" in m for m in messages_of(again))


def test_overdue_disputes_are_flagged(moderator, alice, bob, cast, signer_for):
    signal = listed_signal(alice, bob, signer_for)
    late = open_dispute(bob, signal)
    on_time = open_dispute(cast["pebble/admin"], signal, grounds="Satire.")
    Dispute.objects.filter(pk=late.pk).update(deadline=timezone.now() - dt.timedelta(days=2))

    overdue = moderator.get(DISPUTES + "?overdue=yes")
    assert listed(overdue) == [late]
    assert "overdue by 2" in overdue.content.decode()
    assert listed(moderator.get(DISPUTES + "?overdue=no")) == [on_time]


def test_an_appeal_past_its_deadline_is_overdue(moderator, alice, bob, signer_for):
    dispute = open_dispute(bob, listed_signal(alice, bob, signer_for))
    apply_action(moderator, DISPUTES, "decide", [dispute], outcome="upheld", reason="Stands.")
    dispute_appeal(
        dispute=dispute,
        organisation=bob.org,
        grounds="Please look again.",
        context=AuditContext(user=bob.user, organisation=bob.org),
    )
    assert listed(moderator.get(DISPUTES + "?overdue=yes")) == []
    Dispute.objects.update(appeal_deadline=timezone.now() - dt.timedelta(hours=1))
    assert listed(moderator.get(DISPUTES + "?overdue=yes")) == [dispute]


def test_only_the_reviewer_of_a_dispute_can_be_changed(moderator, alice, bob, signer_for):
    dispute = open_dispute(bob, listed_signal(alice, bob, signer_for))
    reviewer = User.objects.get(email="governance@consortium.example")
    response = moderator.post(
        f"{DISPUTES}{dispute.pk}/change/",
        {"reviewer": reviewer.pk, "state": "closed", "grounds": "rewritten"},
    )
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.reviewer == reviewer
    assert (dispute.state, dispute.grounds) == ("open", "This is a news report.")
    assert AuditEvent.objects.filter(action="hashbank.dispute.reviewer_assigned").exists()


def test_a_bank_is_granted_and_revoked_through_an_organisation_choice(officer, cast):
    csam = Bank.objects.get(name="CSAM")
    lakeside = Organisation.objects.get(slug="lakeside")
    page = start_action(officer, BANKS, "grant_access", [csam])
    assert 'name="organisation"' in page.content.decode()

    granted = apply_action(officer, BANKS, "grant_access", [csam], organisation=lakeside.pk)
    assert "Lakeside Social may now read and contribute to 1 bank." in messages_of(granted)
    for permission in ("hashbank.read_bank", "hashbank.contribute_bank"):
        assert grants.has_grant(organisation=lakeside, permission=permission, obj=csam)
    assert AuditEvent.objects.filter(action="hashbank.bank.granted").count() == 1
    assert "Lakeside Social" in officer.get(f"{BANKS}{csam.pk}/change/").content.decode()

    revoked = apply_action(officer, BANKS, "revoke_access", [csam], organisation=lakeside.pk)
    assert messages_of(revoked)[-1] == (
        "Lakeside Social's grant to read and contribute is revoked on 1 bank."
    )
    assert not grants.has_grant(organisation=lakeside, permission="hashbank.read_bank", obj=csam)
    assert AuditEvent.objects.filter(action="hashbank.bank.grant_revoked").count() == 1


def test_a_change_to_a_bank_is_audited(officer, cast):
    hate = Bank.objects.get(name="HATE")
    response = officer.post(
        f"{BANKS}{hate.pk}/change/",
        {
            "name": "HATE",
            "title": hate.title,
            "purpose": hate.purpose,
            "read_access": "full_members",
            "contribute_access": hate.contribute_access,
            "show_contributors": "on",
        },
    )
    assert response.status_code == 302, response.content
    assert Bank.objects.get(name="HATE").read_access == "full_members"
    event = AuditEvent.objects.get(action="hashbank.bank.changed")
    assert event.detail == {"fields": ["read_access"]}


def test_moderators_moderate_but_do_not_administer_banks_or_labels(moderator, cast):
    hate = Bank.objects.get(name="HATE")
    page = moderator.get(f"{BANKS}{hate.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert moderator.post(f"{BANKS}{hate.pk}/change/", {"name": "X"}).status_code == 403
    assert "grant_access" not in moderator.get(BANKS).content.decode()


def test_staff_edit_a_labels_wording_not_its_identity(officer, cast):
    label = Label.objects.get(slug="tvec-recruitment")
    response = officer.post(
        f"/admin/hashbank/label/{label.pk}/change/",
        {
            "slug": "renamed",
            "name": "Recruitment",
            "severity": 4,
            "active": "on",
            "description": "Recruiting for a violent group.",
        },
    )
    assert response.status_code == 302, response.content
    label.refresh_from_db()
    assert (label.slug, label.name, label.severity) == ("tvec-recruitment", "Recruitment", 4)
    assert officer.get("/admin/hashbank/label/add/").status_code == 403


@pytest.fixture
def everything(cast, alice, bob, signer_for, settings, tmp_path):
    """One of each hash bank record, so every admin page has something to show."""
    settings.MEDIA_ROOT = tmp_path
    signal = listed_signal(alice, bob, signer_for)
    open_dispute(bob, signal)
    snapshots_create()
    assert ChangeLogEntry.objects.exists() and Snapshot.objects.exists()
    return {
        "submission": Submission.objects.first(),
        "signal": signal,
        "dispute": Dispute.objects.first(),
        "label": Label.objects.first(),
        "bank": Bank.objects.first(),
        "changelogentry": ChangeLogEntry.objects.first(),
        "snapshot": Snapshot.objects.first(),
    }


@pytest.mark.parametrize("email", ["governance@consortium.example", "moderator@consortium.example"])
def test_every_hashbank_admin_page_renders_for_staff(email, everything):
    officer = staff_client(email)
    for name, obj in everything.items():
        changelist = reverse(f"admin:hashbank_{name}_changelist")
        assert officer.get(changelist).status_code == 200, changelist
        detail = reverse(f"admin:hashbank_{name}_change", args=[obj.pk])
        assert officer.get(detail).status_code == 200, detail
    entry = everything["changelogentry"]
    page = officer.get(reverse("admin:hashbank_changelogentry_change", args=[entry.pk]))
    assert "&quot;op&quot;: &quot;add&quot;" in page.content.decode(), "the entry, decoded"


def test_a_platform_user_is_sent_to_the_login_page_everywhere(alice, everything):
    client = Client()
    client.force_login(alice.user)
    for name, obj in everything.items():
        for url in (
            reverse(f"admin:hashbank_{name}_changelist"),
            reverse(f"admin:hashbank_{name}_change", args=[obj.pk]),
        ):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url


def test_the_grouped_rejection_email_is_in_the_recipients_language(
    moderator, alice, signer_for, mailoutbox, django_capture_on_commit_callbacks
):
    User.objects.filter(email="admin@northwind.example").update(language="fr")
    submissions = pending_submissions(alice, signer_for("northwind/admin"), count=2)
    with django_capture_on_commit_callbacks(execute=True):
        apply_action(moderator, QUEUE, "reject_with_reason", submissions, reason="Satire.")
    (message,) = mailoutbox
    assert message.subject == "[Hashfed] 2 soumissions rejetées"
    assert "Le consortium a rejeté 2 soumissions de votre organisation\u00a0:" in message.body
    assert message.body.count("Motif :") == 2
