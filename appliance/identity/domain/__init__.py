"""The pure functional core of identity: aggregates, commands, events, rules and the RBAC table.

Everything here is a pure function of its arguments: no clock (time arrives as `ctx.now`), no
randomness (new ids and the hashes of fresh secrets arrive in `ctx.generated`), no I/O, no
framework. Every change is an event; every rule is enforced by a `decide` function that either
returns the events to append or raises a typed `Rejected` (`InvalidInput`, `Unauthenticated`,
`Forbidden`, `NotFound`, `AlreadyExists`, `PreconditionFailed`); `evolve` folds events into state
and never fails on a valid history. A `decide` function never mutates the state it is given, and
an empty list means "nothing to do" (the workflow then appends nothing).

Aggregates (see `aggregates` for their subjects):

  (instance)   NOT an identity aggregate: the signup mode (`invite_only` | `open`) and whether
               the one-time setup token was spent, for whom, are held by the instance aggregate
               (`appliance.instance.domain`, the one source of truth); signup reads its state.
  reservation  one per unique value — an e-mail, a passkey credential id, an external identity —
               naming the user who holds it. Uniqueness across users is enforced by appending to
               it with the expected last sequence (0 when new); it doubles as the index used at
               login to go from an e-mail or credential to the user.          → `reservation`
  user         platform scope: e-mail, display name, argon2id password hash (made elsewhere),
               status, instance-admin flag, passkeys, linked external identities, the pending
               password-reset token's hash.       → `user_events`, `user_state`, `user_commands`,
                                                    `user_decide`
  org          organisation scope (its own stream): name, members and roles, invites, API keys,
               deleted flag.                      → `org_events`, `org_state`, `org_commands`,
                                                    `org_decide`
  session      one per sign-in attempt: the audit record of sign-ins, failures and session ends
               (the live session itself is in the session store).             → `session`

Signup spans four aggregates (the instance among them) and is planned as one pure decision,
`signup.plan_signup`, whose steps the workflow appends in order (its docstring gives the recipe).

Shared pieces: `principals` (who acts, `DecisionContext`, `Generated`, `Actor` for the audit
trail), `rbac` (roles Owner ⊃ Admin ⊃ Member ⊃ Viewer, the permission table — also used by the
API guards), `validation` (e-mail normalisation, names, hashes), `password_policy`
(`check_password`), `ids` (`InviteId`, `ApiKeyId`, `PasskeyId`), `events` (decode stored events,
replay histories, the audit view).

Public API, by what a caller does:

  load       events.decode_event(envelope) → event;  events.replay_<kind>(events) → state
  decide     reservation.decide_reservation, user_decide.decide_user,
             org_decide.decide_org, session.decide_sign_in / decide_session,
             signup.signup_ids + signup.plan_signup
  authorise  rbac.has_permission / require / may_assign / may_manage;
             org_decide.acting_role(state, principal, now) for guards that need the role
  validate   validation.normalise_email / check_display_name / check_org_name,
             password_policy.check_password(password, common, email=...)
  audit      events.audit_view(event), events.org_of(event)
  sessions   session.session_sweep(user event) → which live sessions to end, and why
  lookups    aggregates.*_ref (what to load), reservation.passkey_value / external_value (the
             reservation that maps a credential id or an external identity to its user)

This package must never import the event store, the read model, the HTTP layer or the runtime,
and never read the clock or draw randomness (import-linter enforces it).
"""
