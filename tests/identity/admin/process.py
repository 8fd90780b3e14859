"""A real appliance process with a few accounts in it, and `craton admin` run as an operator would.

`seed` makes, over real HTTP: the first owner (setup token) with an organisation, a second user who
joined through an invite, and an organisation API key. `admin(data_dir, ...)` runs
`python -m appliance admin ...` as a child process and returns its exit code and output.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import run_cli

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase for bob"
OWNER = "ada@example.org"
MEMBER = "bob@example.org"


@dataclass
class Tokens:
    access: str
    refresh: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


@dataclass
class Seeded:
    owner_id: str
    member_id: str
    org_id: str
    owner: Tokens
    api_key_id: str
    api_key: str


def admin(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("admin", *args, "--data-dir", str(data_dir))


def admin_json(data_dir: Path, *args: str) -> Any:
    result = admin(data_dir, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def setup_token(data_dir: Path) -> str:
    result = admin(data_dir, "setup-token")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def login(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/auth/login", json={"email": email, "password": password})


def tokens(reply: httpx.Response) -> Tokens:
    assert reply.status_code in (200, 201), reply.text
    body = reply.json()
    return Tokens(body["access_token"], body["refresh_token"])


def refresh(http: httpx.Client, token: Tokens) -> httpx.Response:
    return http.post("/api/v1/auth/refresh", json={"refresh_token": token.refresh})


def me(http: httpx.Client, token: Tokens | str) -> httpx.Response:
    access = token if isinstance(token, str) else token.access
    return http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {access}"})


def seed(http: httpx.Client, data_dir: Path) -> Seeded:
    signup = http.post(
        "/api/v1/auth/signup",
        json={
            "email": OWNER,
            "password": PASSWORD,
            "display_name": "Ada",
            "org_name": "Plant 7",
            "setup_token": setup_token(data_dir),
        },
    )
    owner = tokens(signup)
    owner_id, org_id = signup.json()["user_id"], signup.json()["org_id"]
    invite = http.post(f"/api/v1/orgs/{org_id}/invites", json={"email": MEMBER, "role": "member"}, headers=owner.auth)
    assert invite.status_code in (200, 201), invite.text
    joined = http.post(
        "/api/v1/auth/signup",
        json={
            "email": MEMBER,
            "password": PASSWORD,
            "display_name": "Bob",
            "invite_token": invite.json()["invite_token"],
        },
    )
    assert joined.status_code == 201, joined.text
    key = http.post(f"/api/v1/orgs/{org_id}/api-keys", json={"name": "ci", "role": "viewer"}, headers=owner.auth)
    assert key.status_code in (200, 201), key.text
    return Seeded(
        owner_id=owner_id,
        member_id=joined.json()["user_id"],
        org_id=org_id,
        owner=owner,
        api_key_id=key.json()["api_key"]["api_key_id"],
        api_key=key.json()["key"],
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's stderr, checked to be exactly one line starting with `craton: error:`."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("craton: error: "), lines
    assert result.stdout == ""
    return lines[0].removeprefix("craton: error: ")
