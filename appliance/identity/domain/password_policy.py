"""The password policy, as one pure function: `check_password(password, common, email=...)`.

The rules follow NIST SP 800-63B §5.1.1.2 and the issue: a password is 8 to 1024 characters
(the floor of "at least 128" is exceeded on purpose so pass-phrases fit; 1024 bounds the cost of
hashing hostile input); there are no composition rules (no "one digit, one symbol"); a password
that appears in the shipped common-password list is refused whatever its case, and so is the
user's own e-mail address (or its part before the @). Control characters are refused because a
user cannot reliably type them again, and lone surrogates because they cannot be encoded.

Length and comparisons apply to the password's NFKC form, which is the form
`appliance.identity.auth.passwords` hashes (so "ｐａｓｓｗｏｒｄ１" typed on a full-width keyboard
is the common "password1"), and comparisons ignore case (`str.casefold`).

The common list is loaded by `appliance.identity.auth.passwords` and passed in as a frozenset of
lower-case entries; this module must never read files, and it never echoes the password in an
error message.
"""

from __future__ import annotations

import unicodedata

from appliance.kernel.errors import InvalidInput

PASSWORD_CHARS_MIN = 8
PASSWORD_CHARS_MAX = 1024
# Longer raw input is refused before it is normalised: NFKC can expand text, and hostile input
# should cost a bounded amount of work.
_RAW_CHARS_MAX = 4 * PASSWORD_CHARS_MAX
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})


def check_password(password: object, common: frozenset[str], *, email: str | None = None) -> None:
    """Raise `InvalidInput` (field `password`) unless `password` meets the policy."""
    if not isinstance(password, str):
        raise InvalidInput("password must be a string", field="password")
    if len(password) > _RAW_CHARS_MAX:
        raise InvalidInput(f"password must be at most {PASSWORD_CHARS_MAX} characters", field="password")
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in password):
        raise InvalidInput("password must not contain control characters", field="password")
    normal = unicodedata.normalize("NFKC", password)
    if len(normal) < PASSWORD_CHARS_MIN:
        raise InvalidInput(f"password must be at least {PASSWORD_CHARS_MIN} characters", field="password")
    if len(normal) > PASSWORD_CHARS_MAX:
        raise InvalidInput(f"password must be at most {PASSWORD_CHARS_MAX} characters", field="password")
    folded = normal.casefold()
    if folded in common:
        raise InvalidInput(
            "password is too common: it appears in a list of frequently used passwords", field="password"
        )
    if email is not None and folded in _email_forms(email):
        raise InvalidInput("password must not be your e-mail address", field="password")


def _email_forms(email: str) -> frozenset[str]:
    address = unicodedata.normalize("NFKC", email.strip()).casefold()
    local = address.rpartition("@")[0]
    return frozenset(form for form in (address, local) if form)
