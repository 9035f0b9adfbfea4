"""`qbus users ...` and `qbus tokens ...` (run through agents.cli.dashboard.main until agents/cli/main.py lists it)."""
import io
import json
from pathlib import Path

import pytest

from agents.cli.dashboard import main
from agents.web.dashboard.users import UserStore


def test_users_add_list_disable(tmp_path, monkeypatch, capsys):
    db = tmp_path / "users.db"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "zhang.min", "--party", "HOLDER-A", "--role", "holder_qa", "--name", "张敏",
                 "--password-stdin", "--users-db", str(db)]) == 0
    assert main(["users", "add", "li.wei", "--party", "CMO-X", "--role", "qp", "--generate", "--users-db", str(db)]) == 0
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    assert UserStore(db).authenticate("li.wei", password).role.value == "qp"
    assert main(["users", "disable", "zhang.min", "--users-db", str(db)]) == 0
    main(["users", "list", "--users-db", str(db)])
    listing = capsys.readouterr().out
    assert "zhang.min" in listing and "disabled" in listing and "HOLDER-A" in listing
    assert UserStore(db).authenticate("zhang.min", "a long enough password") is None
    assert main(["users", "add", "x", "--party", "P", "--role", "holder_qa", "--generate", "--users-db", str(db)]) == 1


DEMO_AGREEMENTS = str(Path(__file__).resolve().parents[3] / "deploy/demo/agreements")


def tokens(*args, db):
    return main(["tokens", *args, "--users-db", str(db)] + (["--agreements", DEMO_AGREEMENTS] if args[0] == "add" else []))


def test_tokens_add_list_revoke(tmp_path, capsys):
    db = tmp_path / "users.db"
    assert tokens("add", "holder-a-qms", "--party", "HOLDER-A", db=db) == 0
    text = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("qbt_"))
    token = UserStore(db).check_token(text)
    assert token.party_id == "HOLDER-A" and token.source is None
    assert main(["tokens", "revoke", token.token_id, "--users-db", str(db)]) == 0
    assert UserStore(db).check_token(text) is None


def test_a_publishing_token_is_bound_to_a_registered_source_and_its_party(tmp_path, capsys):
    db = tmp_path / "users.db"
    assert tokens("add", "cmox-mes", "--source", "mes-cmox-01", "--json", db=db) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["party_id"], made["source"]) == ("CMO-X", "mes-cmox-01")
    assert UserStore(db).check_token(made["token"]).source == "mes-cmox-01"
    assert tokens("list", "--json", db=db) == 0
    assert json.loads(capsys.readouterr().out)["tokens"][0]["source"] == "mes-cmox-01"


@pytest.mark.parametrize("args, message", [
    (("--source", "mes-nowhere-01"), "no loaded agreement registers a source 'mes-nowhere-01'"),
    (("--source", "mes-cmox-01", "--party", "HOLDER-A"), "source 'mes-cmox-01' belongs to CMO-X, not HOLDER-A"),
    (("--party", "HOLDER-Z"), "no loaded agreement has a party 'HOLDER-Z'"),
    ((), "give --source INSTANCE"),
])
def test_tokens_only_for_what_the_agreements_know(tmp_path, capsys, args, message):
    assert tokens("add", "x", *args, db=tmp_path / "users.db") == 1
    assert message in capsys.readouterr().err


def test_no_agreements_no_tokens(tmp_path, capsys):
    assert main(["tokens", "add", "x", "--party", "HOLDER-A", "--agreements", str(tmp_path / "none"),
                 "--users-db", str(tmp_path / "users.db")]) == 1
    assert "no quality agreements are loaded" in capsys.readouterr().err


def test_an_older_users_file_gains_the_source_column(tmp_path):
    import sqlite3

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:
        old.execute("CREATE TABLE api_tokens (token_id TEXT PRIMARY KEY, party_id TEXT NOT NULL, name TEXT NOT NULL, "
                    "secret_sha256 TEXT NOT NULL, created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)")
        old.execute("INSERT INTO api_tokens VALUES ('abc', 'HOLDER-A', 'qms', 'x', '2026-01-01T00:00:00Z', 0)")
    assert UserStore(db).token("abc").source is None


def test_demo_users_are_printed_with_their_logins(tmp_path, capsys):
    assert main(["users", "demo", "--users-db", str(tmp_path / "users.db")]) == 0
    out = capsys.readouterr().out
    assert "login qa.a" in out and "login qa.b" in out and "HOLDER-B" in out


def test_users_passwd_sets_a_new_password_and_ends_the_users_sessions(tmp_path, monkeypatch, capsys):
    from agents.web.dashboard.personal_keys import PersonalKeys
    from agents.web.dashboard.sessions import SessionStore

    db = tmp_path / "users.db"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    main(["users", "add", "wang.fang", "--party", "HOLDER-A", "--role", "holder_head", "--password-stdin",
          "--users-db", str(db)])
    sid = SessionStore(db).start("wang.fang", 3600)
    old_key = PersonalKeys(db, None, UserStore(db).hasher).unlock("wang.fang", "a long enough password").key_id
    # The operator resets the password (the user forgot theirs).
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert main(["users", "passwd", "wang.fang", "--password-stdin", "--users-db", str(db)]) == 0
    assert "sessions have ended" in capsys.readouterr().out
    assert not SessionStore(db).alive(sid, "wang.fang")
    assert UserStore(db).authenticate("wang.fang", "another long password") is not None
    assert UserStore(db).authenticate("wang.fang", "a long enough password") is None
    # The old key (sealed under the old password) signs nothing more; the next signature gets a new one.
    assert PersonalKeys(db, None).key_id("wang.fang") is None
    assert PersonalKeys(db, None).unlock("wang.fang", "another long password").key_id != old_key
    assert main(["users", "passwd", "nobody", "--generate", "--users-db", str(db)]) == 1


def test_users_disable_ends_the_users_sessions_at_once(tmp_path, monkeypatch):
    from agents.web.dashboard.sessions import SessionStore

    db = tmp_path / "users.db"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    main(["users", "add", "zhang.min", "--party", "HOLDER-A", "--role", "holder_qa", "--password-stdin",
          "--users-db", str(db)])
    sid = SessionStore(db).start("zhang.min", 3600)
    assert main(["users", "disable", "zhang.min", "--users-db", str(db)]) == 0
    assert not SessionStore(db).alive(sid, "zhang.min")
