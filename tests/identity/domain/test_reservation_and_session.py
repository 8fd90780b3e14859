"""Tests of the reservation aggregate (unique values) and the sign-in audit aggregate."""

from __future__ import annotations

import pytest

from appliance.identity.domain.aggregates import reservation_key, reservation_ref, session_ref
from appliance.identity.domain.principals import Anonymous
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.reservation import (
    ReleaseReason,
    ReleaseValue,
    ReservationKind,
    ReserveValue,
    decide_reservation,
    external_value,
    normalise_value,
    passkey_value,
)
from appliance.identity.domain.session import (
    EndSession,
    SessionEnded,
    SessionEndReason,
    SessionSweep,
    SignedIn,
    SignInFailed,
    SignInFailure,
    decide_session,
    session_sweep,
    sign_in_granted,
)
from appliance.identity.domain.user_commands import (
    ChangeDisplayName,
    ChangePassword,
    DisableUser,
    IssuePasswordReset,
    ResetPassword,
)
from appliance.kernel.errors import AlreadyExists, Forbidden, InvalidInput, NotFound
from appliance.kernel.ids import SessionId, UserId

from .world import OPERATOR, OTHER_PASSWORD_HASH, World, bootstrap, join, token_hash


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def people(world: World) -> tuple[UserId, UserId]:
    admin_id, org_id = bootstrap(world)
    return admin_id, join(world, org_id, world.as_user(admin_id), "member@example.org", Role.MEMBER)


def _reserve(world: World, user_id: UserId, value: str, principal: object = None) -> list[object]:
    command = ReserveValue(kind=ReservationKind.PASSKEY, value=value, user_id=user_id)
    ref = reservation_ref(ReservationKind.PASSKEY, value)
    return world.decide(ref, decide_reservation, command, world.ctx(principal or world.as_user(user_id)))  # type: ignore[arg-type]


def test_a_passkey_credential_belongs_to_one_account(world: World, people: tuple[UserId, UserId]) -> None:
    """A credential reserved by one user is refused to another, harmless to repeat, and free again once released."""
    admin_id, member_id = people
    value = passkey_value(b"\x01\x02credential")
    assert len(_reserve(world, member_id, value)) == 1
    assert _reserve(world, member_id, value) == []
    with pytest.raises(AlreadyExists, match="passkey"):
        _reserve(world, admin_id, value)
    release = ReleaseValue(
        kind=ReservationKind.PASSKEY, value=value, user_id=member_id, reason=ReleaseReason.PASSKEY_REMOVED
    )
    ref = reservation_ref(ReservationKind.PASSKEY, value)
    with pytest.raises(NotFound):
        world.decide(
            ref,
            decide_reservation,
            ReleaseValue(kind=ReservationKind.PASSKEY, value=value, user_id=admin_id, reason=ReleaseReason.OPERATOR),
            world.ctx(world.as_user(admin_id)),
        )
    world.decide(ref, decide_reservation, release, world.ctx(world.as_user(member_id)))
    assert len(_reserve(world, admin_id, value)) == 1


def test_only_the_user_reserves_their_credentials(world: World, people: tuple[UserId, UserId]) -> None:
    """Reserving a passkey or external identity for someone else is `Forbidden`; the operator may."""
    admin_id, member_id = people
    with pytest.raises(Forbidden):
        _reserve(world, member_id, passkey_value(b"someone-elses"), world.as_user(admin_id))
    assert len(_reserve(world, member_id, passkey_value(b"by-operator"), OPERATOR)) == 1


def test_reservation_values_have_one_spelling(world: World) -> None:
    """Passkey values are unpadded base64url; external values are provider:subject with a valid provider."""
    assert passkey_value(b"\xff\xfe") == "__4"
    assert normalise_value(ReservationKind.PASSKEY, "__4") == "__4"
    assert external_value("github", "42") == "github:42"
    assert normalise_value(ReservationKind.EMAIL, " A@B.org ") == "a@b.org"
    for kind, bad in (
        (ReservationKind.PASSKEY, "__4="),
        (ReservationKind.PASSKEY, "not*base64"),
        (ReservationKind.PASSKEY, 17),
        (ReservationKind.EXTERNAL, "GitHub:42"),
        (ReservationKind.EXTERNAL, "github:"),
    ):
        with pytest.raises(InvalidInput):
            normalise_value(kind, bad)


def test_reservation_keys_separate_kinds_and_fit_a_subject_token() -> None:
    """The same text under two kinds gets two keys, each 64 hex characters."""
    email_key = reservation_key(ReservationKind.EMAIL, "x@y.z")
    passkey_key = reservation_key(ReservationKind.PASSKEY, "x@y.z")
    assert email_key != passkey_key
    assert len(email_key) == 64
    assert all(char in "0123456789abcdef" for char in email_key)


# -- sign-in audit -------------------------------------------------------------------------------------------


def test_sign_in_outcomes_are_recorded(world: World, people: tuple[UserId, UserId]) -> None:
    """Right password: `SignedIn`; wrong: bad credentials; unknown address: unknown account with the typed e-mail."""
    _, member_id = people
    _, granted = world.sign_in("member@example.org", verified=True, principal=Anonymous())
    assert sign_in_granted(granted)
    assert isinstance(granted[0], SignedIn)
    assert granted[0].user_id == member_id
    _, wrong = world.sign_in("member@example.org", verified=False, principal=Anonymous())
    assert isinstance(wrong[0], SignInFailed)
    assert (wrong[0].reason, wrong[0].user_id) == (SignInFailure.BAD_CREDENTIALS, member_id)
    _, unknown = world.sign_in("nobody@example.org", verified=False, principal=Anonymous())
    assert isinstance(unknown[0], SignInFailed)
    assert (unknown[0].reason, unknown[0].email) == (SignInFailure.UNKNOWN_ACCOUNT, "nobody@example.org")
    assert not sign_in_granted(unknown)


def test_a_disabled_account_is_revealed_only_to_the_password_holder(
    world: World, people: tuple[UserId, UserId]
) -> None:
    """For a disabled account, a wrong password reads as bad credentials; only a right one says disabled."""
    admin_id, member_id = people
    world.user_command(DisableUser(user_id=member_id), world.as_user(admin_id))
    _, wrong = world.sign_in("member@example.org", verified=False, principal=Anonymous())
    _, right = world.sign_in("member@example.org", verified=True, principal=Anonymous())
    assert [event.reason for event in (*wrong, *right)] == [  # type: ignore[union-attr]
        SignInFailure.BAD_CREDENTIALS,
        SignInFailure.ACCOUNT_DISABLED,
    ]


def test_ending_sessions(world: World, people: tuple[UserId, UserId]) -> None:
    """The session's user ends it (twice decides nothing); another user is told not found; an admin may end it."""
    admin_id, member_id = people
    org_id = next(ref.org_id for ref in world.stored if ref.org_id is not None)
    bystander = join(world, org_id, world.as_user(admin_id), "bystander@example.org", Role.ADMIN)
    session_id, _ = world.sign_in("member@example.org", verified=True, principal=Anonymous())
    end = EndSession(session_id=session_id, reason=SessionEndReason.LOGOUT)
    ref = session_ref(session_id)
    events = world.decide(ref, decide_session, end, world.ctx(world.as_user(member_id)))
    assert isinstance(events[0], SessionEnded)
    assert world.decide(ref, decide_session, end, world.ctx(world.as_user(member_id))) == []
    other_id, _ = world.sign_in("member@example.org", verified=True, principal=Anonymous())
    other = EndSession(session_id=other_id, reason=SessionEndReason.REVOKED)
    with pytest.raises(NotFound):
        world.decide(session_ref(other_id), decide_session, other, world.ctx(world.as_user(bystander)))
    world.decide(session_ref(other_id), decide_session, other, world.ctx(world.as_user(admin_id)))


def test_anonymous_callers_end_sessions_only_for_refresh_reuse(world: World, people: tuple[UserId, UserId]) -> None:
    """Presenting a spent refresh token ends its session; an anonymous logout of someone's session is not found."""
    session_id, _ = world.sign_in("member@example.org", verified=True, principal=Anonymous())
    ref = session_ref(session_id)
    with pytest.raises(NotFound):
        world.decide(
            ref,
            decide_session,
            EndSession(session_id=session_id, reason=SessionEndReason.LOGOUT),
            world.ctx(Anonymous()),
        )
    reuse = EndSession(session_id=session_id, reason=SessionEndReason.REFRESH_REUSE)
    assert len(world.decide(ref, decide_session, reuse, world.ctx(Anonymous()))) == 1


def test_a_failed_attempt_is_not_a_session(world: World, people: tuple[UserId, UserId]) -> None:
    """Ending a failed attempt or an unknown session id is `NotFound`."""
    admin_id, _ = people
    failed_id, _ = world.sign_in("member@example.org", verified=False, principal=Anonymous())
    for session_id in (failed_id, world.ids.new(SessionId)):
        with pytest.raises(NotFound):
            world.decide(
                session_ref(session_id),
                decide_session,
                EndSession(session_id=session_id, reason=SessionEndReason.REVOKED),
                world.ctx(world.as_user(admin_id)),
            )


def test_which_sessions_a_user_change_ends(world: World, people: tuple[UserId, UserId]) -> None:
    """Disabling ends all sessions; own password, passkey or identity changes keep the current one; a reset ends all."""
    admin_id, member_id = people
    me = world.as_user(member_id)
    own_change = world.user_command(ChangePassword(user_id=member_id, password_hash=OTHER_PASSWORD_HASH), me)
    world.user_command(
        IssuePasswordReset(user_id=member_id), world.as_user(admin_id), secret_hash=token_hash("reset-token")
    )
    reset = world.user_command(
        ResetPassword(user_id=member_id, token_hash=token_hash("reset-token"), password_hash=OTHER_PASSWORD_HASH),
        Anonymous(),
    )
    renamed = world.user_command(ChangeDisplayName(user_id=member_id, display_name="New name"), me)
    disabled = world.user_command(DisableUser(user_id=member_id), world.as_user(admin_id))
    assert session_sweep(own_change[0]) == SessionSweep(reason=SessionEndReason.CREDENTIALS_CHANGED, keep_current=True)
    assert session_sweep(reset[0]) == SessionSweep(reason=SessionEndReason.CREDENTIALS_CHANGED, keep_current=False)
    assert session_sweep(disabled[0]) == SessionSweep(reason=SessionEndReason.USER_DISABLED, keep_current=False)
    assert session_sweep(renamed[0]) is None
