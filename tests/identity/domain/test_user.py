"""Tests of the user aggregate's rules: self-service, administration, resets, passkeys, linking."""

from __future__ import annotations

import msgspec
import pytest

from appliance.identity.domain.ids import PasskeyId
from appliance.identity.domain.principals import Anonymous, DecisionContext, UserPrincipal
from appliance.identity.domain.rbac import Role
from appliance.identity.domain.user_commands import (
    PASSKEYS_PER_USER_MAX,
    ChangeDisplayName,
    ChangePassword,
    DisableUser,
    EnableUser,
    GrantInstanceAdmin,
    IssuePasswordReset,
    LinkExternalIdentity,
    RecordPasskeyUse,
    RegisterPasskey,
    RemovePasskey,
    ResetPassword,
    RevokeInstanceAdmin,
    UnlinkExternalIdentity,
)
from appliance.identity.domain.user_decide import decide_user
from appliance.identity.domain.user_events import PasskeyUsed, PasswordChanged, PasswordChangeVia
from appliance.identity.domain.user_state import UserStatus, credential_count
from appliance.kernel.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    InvariantViolation,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
)
from appliance.kernel.ids import UserId

from .world import OPERATOR, OTHER_PASSWORD_HASH, World, bootstrap, join, token_hash


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def people(world: World) -> tuple[UserId, UserId]:
    """An instance admin (the first user) and an ordinary member of their organisation."""
    admin_id, org_id = bootstrap(world)
    member_id = join(world, org_id, world.as_user(admin_id), "member@example.org", Role.MEMBER)
    return admin_id, member_id


def _passkey(world: World, user_id: UserId, credential: bytes, sign_count: int = 0) -> PasskeyId:
    command = RegisterPasskey(
        user_id=user_id, credential_id=credential, public_key=b"\xa5" * 77, sign_count=sign_count, name="YubiKey"
    )
    passkey_id = world.new_passkey_id()
    world.user_command(command, world.as_user(user_id), passkey_id=passkey_id)
    return passkey_id


def test_first_user_is_an_instance_admin_and_others_are_not(world: World, people: tuple[UserId, UserId]) -> None:
    """The setup-token signup makes an instance admin; an invited signup makes an ordinary active user."""
    admin_id, member_id = people
    assert world.user(admin_id).instance_admin
    assert not world.user(member_id).instance_admin
    assert world.user(member_id).status is UserStatus.ACTIVE


def test_display_name_is_changed_by_self_or_an_instance_admin_only(world: World, people: tuple[UserId, UserId]) -> None:
    """The user and an instance admin may rename; another user may not; the same name decides nothing."""
    admin_id, member_id = people
    world.user_command(ChangeDisplayName(user_id=member_id, display_name="Mia"), world.as_user(member_id))
    world.user_command(ChangeDisplayName(user_id=member_id, display_name="Mia B."), world.as_user(admin_id))
    assert (
        world.user_command(ChangeDisplayName(user_id=member_id, display_name="Mia B."), world.as_user(member_id)) == []
    )
    with pytest.raises(Forbidden):
        world.user_command(ChangeDisplayName(user_id=admin_id, display_name="Pwned"), world.as_user(member_id))
    assert world.user(member_id).display_name == "Mia B."


def test_only_the_user_changes_their_password(world: World, people: tuple[UserId, UserId]) -> None:
    """A user sets a new password hash; an instance admin never chooses one; plaintext is refused."""
    admin_id, member_id = people
    world.user_command(ChangePassword(user_id=member_id, password_hash=OTHER_PASSWORD_HASH), world.as_user(member_id))
    assert world.user(member_id).password_hash == OTHER_PASSWORD_HASH
    with pytest.raises(Forbidden):
        world.user_command(
            ChangePassword(user_id=member_id, password_hash=OTHER_PASSWORD_HASH), world.as_user(admin_id)
        )
    with pytest.raises(InvalidInput):
        world.user_command(ChangePassword(user_id=member_id, password_hash="hunter2hunter2"), world.as_user(member_id))


def test_a_reset_token_works_once_before_it_expires(world: World, people: tuple[UserId, UserId]) -> None:
    """An admin-issued reset token sets a new password once; reuse, a wrong token and a late one are refused."""
    admin_id, member_id = people
    world.user_command(
        IssuePasswordReset(user_id=member_id, ttl_s=3600), world.as_user(admin_id), secret_hash=token_hash("reset-1")
    )
    reset = ResetPassword(user_id=member_id, token_hash=token_hash("reset-1"), password_hash=OTHER_PASSWORD_HASH)
    with pytest.raises(Unauthenticated):
        world.user_command(
            ResetPassword(user_id=member_id, token_hash=token_hash("reset-2"), password_hash=OTHER_PASSWORD_HASH),
            Anonymous(),
        )
    events = world.user_command(reset, Anonymous())
    assert isinstance(events[0], PasswordChanged)
    assert events[0].via is PasswordChangeVia.RESET_TOKEN
    with pytest.raises(Unauthenticated):
        world.user_command(reset, Anonymous())
    world.user_command(
        IssuePasswordReset(user_id=member_id, ttl_s=3600), world.as_user(admin_id), secret_hash=token_hash("reset-3")
    )
    world.advance(3600)
    with pytest.raises(Unauthenticated):
        world.user_command(
            ResetPassword(user_id=member_id, token_hash=token_hash("reset-3"), password_hash=OTHER_PASSWORD_HASH),
            Anonymous(),
        )


def test_a_new_reset_token_replaces_the_old_one(world: World, people: tuple[UserId, UserId]) -> None:
    """Only the latest issued reset token works."""
    admin_id, member_id = people
    for token in ("first-token", "second-token"):
        world.user_command(
            IssuePasswordReset(user_id=member_id), world.as_user(admin_id), secret_hash=token_hash(token)
        )
    with pytest.raises(Unauthenticated):
        world.user_command(
            ResetPassword(user_id=member_id, token_hash=token_hash("first-token"), password_hash=OTHER_PASSWORD_HASH),
            Anonymous(),
        )
    world.user_command(
        ResetPassword(user_id=member_id, token_hash=token_hash("second-token"), password_hash=OTHER_PASSWORD_HASH),
        Anonymous(),
    )


def test_only_instance_admins_issue_reset_tokens(world: World, people: tuple[UserId, UserId]) -> None:
    """An ordinary user cannot issue a reset token, not even for themself; the operator can."""
    admin_id, member_id = people
    with pytest.raises(Forbidden):
        world.user_command(
            IssuePasswordReset(user_id=admin_id), world.as_user(member_id), secret_hash=token_hash("x" * 9)
        )
    world.user_command(IssuePasswordReset(user_id=admin_id), OPERATOR, secret_hash=token_hash("op-token"))


def test_a_missing_generated_hash_is_a_workflow_bug(world: World, people: tuple[UserId, UserId]) -> None:
    """Issuing a reset without `generated.secret_hash` is an `InvariantViolation`, not a silent default."""
    admin_id, member_id = people
    with pytest.raises(InvariantViolation):
        world.user_command(IssuePasswordReset(user_id=member_id), world.as_user(admin_id))


def test_disabling_and_enabling(world: World, people: tuple[UserId, UserId]) -> None:
    """An admin disables and enables a user (twice decides nothing); nobody disables themself; users cannot."""
    admin_id, member_id = people
    with pytest.raises(Forbidden):
        world.user_command(DisableUser(user_id=admin_id), world.as_user(member_id))
    with pytest.raises(PreconditionFailed, match="your own"):
        world.user_command(DisableUser(user_id=admin_id), world.as_user(admin_id))
    world.user_command(DisableUser(user_id=member_id), world.as_user(admin_id))
    assert world.user_command(DisableUser(user_id=member_id), world.as_user(admin_id)) == []
    assert world.user(member_id).status is UserStatus.DISABLED
    with pytest.raises(Forbidden, match="disabled"):
        world.user_command(ChangeDisplayName(user_id=member_id, display_name="Still me"), world.as_user(member_id))
    world.user_command(EnableUser(user_id=member_id), OPERATOR)
    world.user_command(ChangeDisplayName(user_id=member_id, display_name="Back"), world.as_user(member_id))


def test_a_disabled_admin_loses_admin_powers(world: World, people: tuple[UserId, UserId]) -> None:
    """An instance admin who is disabled can no longer administer anyone."""
    admin_id, member_id = people
    world.user_command(GrantInstanceAdmin(user_id=member_id), world.as_user(admin_id))
    world.user_command(DisableUser(user_id=admin_id), world.as_user(member_id))
    with pytest.raises(Forbidden):
        world.user_command(RevokeInstanceAdmin(user_id=member_id), world.as_user(admin_id))


def test_instance_admin_grant_and_revoke(world: World, people: tuple[UserId, UserId]) -> None:
    """Admins grant and revoke administration (no self-revoke); repeated grants decide nothing."""
    admin_id, member_id = people
    world.user_command(GrantInstanceAdmin(user_id=member_id), world.as_user(admin_id))
    assert world.user_command(GrantInstanceAdmin(user_id=member_id), world.as_user(admin_id)) == []
    with pytest.raises(PreconditionFailed):
        world.user_command(RevokeInstanceAdmin(user_id=admin_id), world.as_user(admin_id))
    world.user_command(RevokeInstanceAdmin(user_id=admin_id), world.as_user(member_id))
    assert not world.user(admin_id).instance_admin


def test_unknown_user_is_not_found(world: World, people: tuple[UserId, UserId]) -> None:
    """A command for a user id with no history is `NotFound`."""
    admin_id, _ = people
    with pytest.raises(NotFound):
        world.user_command(DisableUser(user_id=world.ids.new(UserId)), world.as_user(admin_id))


# -- passkeys --------------------------------------------------------------------------------------------


def test_passkeys_register_once_per_credential_and_per_limit(world: World, people: tuple[UserId, UserId]) -> None:
    """A credential registers once per account; an account holds at most 20 passkeys; only its user adds them."""
    admin_id, member_id = people
    _passkey(world, member_id, b"cred-0")
    with pytest.raises(AlreadyExists):
        _passkey(world, member_id, b"cred-0")
    with pytest.raises(Forbidden):
        world.user_command(
            RegisterPasskey(user_id=member_id, credential_id=b"admin-made", public_key=b"k", sign_count=0, name="x"),
            world.as_user(admin_id),
            passkey_id=world.new_passkey_id(),
        )
    for index in range(1, PASSKEYS_PER_USER_MAX):
        _passkey(world, member_id, f"cred-{index}".encode())
    with pytest.raises(PreconditionFailed, match="at most"):
        _passkey(world, member_id, b"one-too-many")


@pytest.mark.parametrize(
    ("field", "command_args"),
    [
        ("credential_id", {"credential_id": b""}),
        ("credential_id", {"credential_id": b"x" * 1024}),
        ("public_key", {"public_key": b"k" * 4096}),
        ("sign_count", {"sign_count": -1}),
        ("sign_count", {"sign_count": 2**32}),
        ("name", {"name": "bad\nname"}),
        ("transports", {"transports": ("usb",) * 9}),
        ("aaguid", {"aaguid": "x" * 65}),
    ],
)
def test_malformed_passkeys_are_refused(
    world: World, people: tuple[UserId, UserId], field: str, command_args: dict[str, object]
) -> None:
    """Each out-of-range passkey field is `InvalidInput` naming that field."""
    _, member_id = people
    args: dict[str, object] = {"credential_id": b"c", "public_key": b"k", "sign_count": 0, "name": "Key"}
    args.update(command_args)
    with pytest.raises(InvalidInput) as caught:
        world.user_command(
            RegisterPasskey(user_id=member_id, **args),  # type: ignore[arg-type]
            world.as_user(member_id),
            passkey_id=world.new_passkey_id(),
        )
    assert caught.value.field == field


def test_sign_counter_only_moves_forward(world: World, people: tuple[UserId, UserId]) -> None:
    """A counting authenticator must report a higher counter each time; a repeat or regression is refused."""
    _, member_id = people
    passkey_id = _passkey(world, member_id, b"counting", sign_count=5)
    me = world.as_user(member_id)
    events = world.user_command(RecordPasskeyUse(user_id=member_id, passkey_id=passkey_id, sign_count=6), me)
    assert isinstance(events[0], PasskeyUsed)
    for stale in (6, 3, 0):
        with pytest.raises(Unauthenticated, match="cloned"):
            world.user_command(RecordPasskeyUse(user_id=member_id, passkey_id=passkey_id, sign_count=stale), me)
    assert world.user(member_id).passkeys[passkey_id].sign_count == 6


def test_authenticators_without_a_counter_stay_at_zero(world: World, people: tuple[UserId, UserId]) -> None:
    """An authenticator that always reports 0 is accepted every time."""
    _, member_id = people
    passkey_id = _passkey(world, member_id, b"non-counting", sign_count=0)
    for _ in range(3):
        world.user_command(
            RecordPasskeyUse(user_id=member_id, passkey_id=passkey_id, sign_count=0),
            world.as_user(member_id),
        )


def test_removing_a_passkey(world: World, people: tuple[UserId, UserId]) -> None:
    """The user removes their passkey; removing it again is `NotFound`."""
    _, member_id = people
    passkey_id = _passkey(world, member_id, b"removable")
    command = RemovePasskey(user_id=member_id, passkey_id=passkey_id)
    world.user_command(command, world.as_user(member_id))
    assert world.user(member_id).passkeys == {}
    with pytest.raises(NotFound):
        world.user_command(command, world.as_user(member_id))


def test_the_last_way_to_sign_in_cannot_be_removed(world: World, people: tuple[UserId, UserId]) -> None:
    """For an account whose only credential is one passkey, removing that passkey is refused."""
    admin_id, member_id = people
    passkey_id = _passkey(world, member_id, b"only-one")
    passkey_only = msgspec.structs.replace(world.user(member_id), password_hash=None)
    assert credential_count(passkey_only) == 1
    ctx = DecisionContext(now=world.now, principal=world.as_user(admin_id))
    with pytest.raises(PreconditionFailed, match="last way"):
        decide_user(passkey_only, RemovePasskey(user_id=member_id, passkey_id=passkey_id), ctx)


# -- external identities ------------------------------------------------------------------------------------


def _link(user_id: UserId, *, verified: bool = True, subject: str = "12345") -> LinkExternalIdentity:
    return LinkExternalIdentity(
        user_id=user_id, provider="github", subject=subject, email="member@example.org", email_verified=verified
    )


def test_linking_needs_a_verified_email_and_the_user_themself(world: World, people: tuple[UserId, UserId]) -> None:
    """An unverified e-mail is refused; an admin cannot link for the user; the user can, once."""
    admin_id, member_id = people
    with pytest.raises(PreconditionFailed, match="verified"):
        world.user_command(_link(member_id, verified=False), world.as_user(member_id))
    with pytest.raises(Forbidden):
        world.user_command(_link(member_id), world.as_user(admin_id))
    world.user_command(_link(member_id), world.as_user(member_id))
    assert world.user_command(_link(member_id), world.as_user(member_id)) == []
    assert list(world.user(member_id).identities) == ["github:12345"]


def test_unlinking(world: World, people: tuple[UserId, UserId]) -> None:
    """A linked identity can be unlinked while a password remains; an unknown one is `NotFound`."""
    _, member_id = people
    world.user_command(_link(member_id), world.as_user(member_id))
    unlink = UnlinkExternalIdentity(user_id=member_id, provider="github", subject="12345")
    world.user_command(unlink, world.as_user(member_id))
    with pytest.raises(NotFound):
        world.user_command(unlink, world.as_user(member_id))


def test_user_principal_for_another_user_cannot_self_serve(world: World, people: tuple[UserId, UserId]) -> None:
    """A principal naming a different user cannot register passkeys or link identities on this account."""
    admin_id, member_id = people
    impostor = UserPrincipal(user_id=admin_id, email="member@example.org")
    with pytest.raises(Forbidden):
        world.user_command(_link(member_id), impostor)
