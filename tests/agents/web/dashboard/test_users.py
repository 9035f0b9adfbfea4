"""Users and API tokens: Argon2id hashes, roles, disabling, tokens shown once and stored hashed."""
import sqlite3

import pytest

from agents.web.dashboard.users import Role, UserError, UserStore, ensure_demo_users
from tests.agents.web.dashboard.conftest import PASSWORD


def test_password_is_stored_as_an_argon2id_hash_and_checks(users):
    stored = users.password_hash("qa.a")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    user = users.authenticate("qa.a", PASSWORD)
    assert (user.party_id, user.role, user.side, user.can_act) == ("HOLDER-A", Role.HOLDER_QA, "HOLDER", True)
    assert users.get("qa.a").last_login_at is not None


@pytest.mark.parametrize("username, password", [("qa.a", "wrong password!"), ("nobody", PASSWORD), ("", "")])
def test_wrong_credentials_are_refused(users, username, password):
    assert users.authenticate(username, password) is None


def test_a_disabled_user_cannot_log_in(users):
    users.disable("qa.b")
    assert users.authenticate("qa.b", PASSWORD) is None
    users.set_disabled("qa.b", False)
    assert users.authenticate("qa.b", PASSWORD) is not None


def test_auditors_read_only(users):
    auditor = users.get("auditor.a")
    assert not auditor.can_act and auditor.side is None


@pytest.mark.parametrize("kwargs, message", [
    ({"password": "short"}, "at least 10"),
    ({"role": "admin"}, "unknown role"),
    ({"party_id": " "}, "belongs to a party"),
    ({"username": "qa.a"}, "already exists"),
    ({"username": "-bad name"}, "user name"),
])
def test_bad_users_are_refused_with_a_reason(users, kwargs, message):
    values = {"username": "new.user", "password": PASSWORD, "party_id": "HOLDER-A", "role": "holder_qa"} | kwargs
    with pytest.raises(UserError, match=message):
        users.add(**values)


def test_weak_hash_is_upgraded_at_login(tmp_path, fast_hasher):
    from argon2 import PasswordHasher

    store = UserStore(tmp_path / "u.db", hasher=fast_hasher)
    store.add("x.user", PASSWORD, "HOLDER-A", "holder_qa")
    stronger = UserStore(tmp_path / "u.db", hasher=PasswordHasher(time_cost=2, memory_cost=16384, parallelism=1))
    before = stronger.password_hash("x.user")
    assert stronger.authenticate("x.user", PASSWORD)
    assert stronger.password_hash("x.user") != before and "m=16384" in stronger.password_hash("x.user")


def test_token_is_shown_once_and_stored_as_a_hash(users, tmp_path):
    token, text = users.add_token("HOLDER-A", "holder-a-qms")
    assert users.check_token(text).party_id == "HOLDER-A"
    secret = text.split("_", 2)[2]
    with sqlite3.connect(tmp_path / "users.db") as conn:
        stored = conn.execute("SELECT secret_sha256 FROM api_tokens").fetchone()[0]
    assert secret not in stored and len(stored) == 64
    assert users.check_token(text[:-1] + ("x" if text[-1] != "x" else "y")) is None
    assert users.check_token("Bearer " + text) is None
    users.revoke_token(token.token_id)
    assert users.check_token(text) is None


def test_demo_users_get_fresh_passwords_each_time(users):
    first = {u.username: p for u, p in ensure_demo_users(users)}
    second = {u.username: p for u, p in ensure_demo_users(users)}
    assert set(first) == set(second) and {"qa.a", "qa.b", "qa.cmox", "auditor.a"} <= set(first)
    assert all(first[name] != second[name] for name in first)
    assert users.authenticate("qa.b", second["qa.b"]).party_id == "HOLDER-B"
    assert users.authenticate("qa.b", first["qa.b"]) is None


def test_dashboard_key_is_kept_and_registrable(tmp_path):
    from agents.web.dashboard.actions import DashboardSigner
    from streams.signing import KeyRegistry, verify_event
    from tests.agents.web.dashboard.factory import event

    signer = DashboardSigner(tmp_path / "key.pem")
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0
    assert DashboardSigner(tmp_path / "key.pem").key_id == signer.key_id        # the same key after a restart
    registry = KeyRegistry.load(signer.write_public_key(tmp_path / "keys.json"))
    signed = signer(dict(event("change", "approved", by="HOLDER"),
                         source={"system": "DASHBOARD", "instance": "qbus-dashboard", "party_id": "HOLDER-A",
                                 "party_role": "HOLDER", "user": "王芳 Wang Fang <head.a>"}))
    assert verify_event(signed, registry, ["qbus-dashboard"]).ok
    assert "instance: qbus-dashboard" in signer.agreement_source("HOLDER-A")
