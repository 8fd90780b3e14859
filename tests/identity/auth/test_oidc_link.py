"""The linking rule: an identity joins an account only with a verified e-mail and a logged-in confirmation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.identity.auth.oidc import ExternalIdentity, LinkOutcome, link_decision
from appliance.kernel.ids import SequentialIds, UserId

_ids = SequentialIds(seed=7)
ADA, BOB = _ids.new(UserId), _ids.new(UserId)


def identity(*, verified: bool) -> ExternalIdentity:
    return ExternalIdentity(
        provider="keycloak",
        issuer="https://idp.example",
        subject="s-1",
        email="ada@example.test",
        email_verified=verified,
        name="Ada",
    )


def test_an_unverified_email_is_never_linked_even_when_confirmed() -> None:
    """A logged-in user cannot attach an identity whose e-mail the provider has not verified."""
    decision = link_decision(
        identity=identity(verified=False),
        linked_user_id=None,
        email_owner_id=ADA,
        logged_in_user_id=ADA,
        confirmed=True,
    )
    assert decision.outcome is LinkOutcome.REFUSED
    assert "not verified" in decision.reason


def test_a_verified_identity_needs_the_users_confirmation_first() -> None:
    """Verified, logged in, not yet confirmed: ask; confirmed: link to the logged-in account."""
    ask = link_decision(
        identity=identity(verified=True),
        linked_user_id=None,
        email_owner_id=None,
        logged_in_user_id=ADA,
        confirmed=False,
    )
    assert (ask.outcome, ask.user_id) == (LinkOutcome.CONFIRM, ADA)
    link = link_decision(
        identity=identity(verified=True),
        linked_user_id=None,
        email_owner_id=None,
        logged_in_user_id=ADA,
        confirmed=True,
    )
    assert (link.outcome, link.user_id) == (LinkOutcome.LINK, ADA)


def test_a_matching_email_alone_never_logs_in() -> None:
    """Not logged in and not linked: an account with the same verified e-mail is not entered, nor named."""
    decision = link_decision(
        identity=identity(verified=True),
        linked_user_id=None,
        email_owner_id=ADA,
        logged_in_user_id=None,
        confirmed=True,
    )
    assert (decision.outcome, decision.user_id) == (LinkOutcome.LOG_IN_TO_LINK, None)


def test_a_linked_identity_signs_in_its_account() -> None:
    """Once linked, the identity logs its account in, verified e-mail or not (the link was checked then)."""
    for verified in (True, False):
        decision = link_decision(
            identity=identity(verified=verified),
            linked_user_id=ADA,
            email_owner_id=None,
            logged_in_user_id=None,
            confirmed=False,
        )
        assert (decision.outcome, decision.user_id) == (LinkOutcome.SIGN_IN, ADA)


def test_an_identity_linked_elsewhere_cannot_be_taken_over() -> None:
    """A logged-in user cannot link an identity that belongs to another account."""
    decision = link_decision(
        identity=identity(verified=True), linked_user_id=BOB, email_owner_id=None, logged_in_user_id=ADA, confirmed=True
    )
    assert (decision.outcome, decision.user_id) == (LinkOutcome.REFUSED, None)


def test_nothing_matching_means_no_account() -> None:
    """No link, no e-mail match, not logged in: the workflow may offer signup (its decision, not this one)."""
    decision = link_decision(
        identity=identity(verified=False),
        linked_user_id=None,
        email_owner_id=None,
        logged_in_user_id=None,
        confirmed=False,
    )
    assert (decision.outcome, decision.user_id) == (LinkOutcome.NO_ACCOUNT, None)


_maybe_user = st.sampled_from([None, ADA, BOB])


@given(
    verified=st.booleans(),
    linked=_maybe_user,
    email_owner=_maybe_user,
    logged_in=_maybe_user,
    confirmed=st.booleans(),
)
def test_linking_happens_only_under_the_rule(
    verified: bool, linked: UserId | None, email_owner: UserId | None, logged_in: UserId | None, confirmed: bool
) -> None:
    """For every input: LINK only if verified, confirmed, logged in and unlinked; the user is always the logged-in one."""
    decision = link_decision(
        identity=identity(verified=verified),
        linked_user_id=linked,
        email_owner_id=email_owner,
        logged_in_user_id=logged_in,
        confirmed=confirmed,
    )
    if decision.outcome is LinkOutcome.LINK:
        assert verified
        assert confirmed
        assert linked is None
        assert logged_in is not None
        assert decision.user_id == logged_in
    if decision.outcome is LinkOutcome.SIGN_IN:
        assert decision.user_id == linked
        assert logged_in in (None, linked)
    if logged_in is None:
        assert decision.outcome in (LinkOutcome.SIGN_IN, LinkOutcome.LOG_IN_TO_LINK, LinkOutcome.NO_ACCOUNT)
    if decision.user_id is not None:
        assert decision.user_id in (linked, logged_in)


@pytest.mark.parametrize("outcome", list(LinkOutcome))
def test_every_outcome_is_reachable(outcome: LinkOutcome) -> None:
    """Each outcome the workflows must handle actually occurs for some input."""
    seen = {
        link_decision(
            identity=identity(verified=v), linked_user_id=lk, email_owner_id=eo, logged_in_user_id=li, confirmed=c
        ).outcome
        for v, lk, eo, li, c in itertools.product(
            [True, False], [None, ADA, BOB], [None, ADA], [None, ADA], [True, False]
        )
    }
    assert outcome in seen
