"""`qbus users ...` and `qbus tokens ...` (run through agents.cli.dashboard.main until agents/cli/main.py lists it)."""
import io

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


def test_tokens_add_list_revoke(tmp_path, capsys):
    db = tmp_path / "users.db"
    assert main(["tokens", "add", "holder-a-qms", "--party", "HOLDER-A", "--users-db", str(db)]) == 0
    text = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("qbt_"))
    token = UserStore(db).check_token(text)
    assert token.party_id == "HOLDER-A"
    assert main(["tokens", "revoke", token.token_id, "--users-db", str(db)]) == 0
    assert UserStore(db).check_token(text) is None


def test_demo_users_are_printed_with_their_logins(tmp_path, capsys):
    assert main(["users", "demo", "--users-db", str(tmp_path / "users.db")]) == 0
    out = capsys.readouterr().out
    assert "login qa.a" in out and "login qa.b" in out and "HOLDER-B" in out
