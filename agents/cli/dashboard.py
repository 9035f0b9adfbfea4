"""``qbus dashboard``, ``qbus users add/list/passwd/disable/enable/demo`` and ``qbus tokens add/list/revoke``.

Wire with `register(subparsers)` (agents/cli/main.py lists the modules that add commands).
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from agents.web.dashboard.credentials import Credentials
from agents.web.dashboard.users import Role, UserError, UserStore, ensure_demo_users, generate_password


def _bus_settings(args):
    from streams.settings import Settings

    overrides = {}
    if getattr(args, "bootstrap", None):
        overrides["bootstrap_servers"] = args.bootstrap
    return Settings(**overrides)


def _dashboard_settings(args, **overrides):
    from agents.web.dashboard.settings import DashboardSettings

    return DashboardSettings.for_bus(_bus_settings(args), **overrides)


def _store(args) -> UserStore:
    path = getattr(args, "users_db", None) or _dashboard_settings(args).users_path
    return UserStore(path)


# --- dashboard ----------------------------------------------------------------------------------
def build_app(bus_settings, settings):
    """The dashboard app with its real parts: the ledger, a signing publisher, the users file, agreements."""
    import functools

    from agents.record.bus_key import BusKey
    from agents.record.export import export_package
    from agents.record.ledger import open_ledger
    from agents.web.api.ingest import Gateway, LazyPublisher
    from agents.web.dashboard.actions import BusWriter, DashboardSigner
    from agents.web.dashboard.app import create_app
    from streams.publisher import Publisher

    ledger = open_ledger(bus_settings.ledger)
    signer = DashboardSigner(settings.signing_key_path) if settings.sign_events else None
    writer = BusWriter(lambda: Publisher.from_settings(bus_settings, signer=signer))
    # The HTTP gateway publishes what sources send, unsigned by the dashboard (agents/web/api/ingest.py).
    ingest = LazyPublisher(lambda: Publisher.from_settings(bus_settings))
    gateway = Gateway(ingest, max_body_bytes=bus_settings.max_event_bytes)
    from agents.cli.agreements import read_published
    from agents.core.agreements import AgreementSet

    # The folder and the agreements topic (Art. 15), as the worker takes them (read at start).
    agreements = AgreementSet.load_dir(bus_settings.agreements_dir, strict=False) \
        if Path(bus_settings.agreements_dir).is_dir() else AgreementSet()
    try:
        published = read_published(bus_settings)
    except Exception as exc:  # noqa: BLE001 - no broker yet: the folder's agreements are shown
        print(f"dashboard  the agreements topic could not be read ({type(exc).__name__}); showing the folder's")
        published = []
    for agreement in published:
        if agreements.version(agreement.agreement_id, agreement.version) is None:
            agreements.add(agreement)
    # Art. 14: the packages it hands out carry the bus's seal.
    sealed_export = functools.partial(export_package, seal_with=BusKey.of_state(bus_settings.state_dir))
    app = create_app(settings, ledger, writer, UserStore(settings.users_path), agreements=agreements,
                     export=sealed_export, gateway=gateway)

    async def close(_app):
        writer.close()
        ingest.close()
        ledger.close()

    app.on_cleanup.append(close)
    return app, signer


def cmd_dashboard(args) -> int:
    from aiohttp import web

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = _dashboard_settings(args, **overrides)
    bus_settings = _bus_settings(args)
    app, signer = build_app(bus_settings, settings)
    print(f"dashboard  http://{settings.host}:{settings.port}/  (ledger {bus_settings.ledger}, "
          f"users {settings.users_path})", flush=True)
    if signer is not None:
        keys = signer.write_public_key(bus_settings.dashboard_keys_path)
        print(f"dashboard  signs its users' actions as source qbus-dashboard with key {signer.key_id}; "
              f"workers sharing this state folder trust it through {keys} (elsewhere, copy that file "
              "into the worker's state folder)", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


class DashboardProcess:
    """`qbus dashboard` as a child process (for `qbus up`): started, waited for, stopped by its pid."""

    def __init__(self, bus_settings, log_path: Path, port: int = 8080, host: str = "127.0.0.1"):
        self.bus_settings = bus_settings
        self.log_path = Path(log_path)
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}/"
        self.process = None

    def start(self, timeout: float = 30.0) -> "DashboardProcess":
        import time
        import urllib.request

        from streams.settings import child_env
        from streams.processes import spawn

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = spawn([sys.executable, "-m", "agents.cli.dashboard", "dashboard", "--host", self.host,
                              "--port", str(self.port)], self.log_path, child_env(self.bus_settings))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dashboard exited with code {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"the dashboard did not answer on {self.url} within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        from streams.processes import stop
        stop(self.process)


# --- users ---------------------------------------------------------------------------------------
def _read_password(args) -> tuple[str, bool]:
    """(password, generated?) from --password-stdin, a generated one, or a prompt."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if args.generate or not sys.stdin.isatty():
        return generate_password(), True
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise UserError("the two passwords differ")
    return first, False


def cmd_users_add(args) -> int:
    store = _store(args)
    try:
        password, generated = _read_password(args)
        user = store.add(args.username, password, args.party, args.role, display_name=args.name,
                         language=args.language)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"added {user.username} ({user.display_name}), {user.role.value} of {user.party_id}")
    if generated:
        print(f"password: {password}   (shown once; give it to the user by a safe channel)")
    return 0


def cmd_users_list(args) -> int:
    users = _store(args).list()
    if not users:
        print("no users (add one with `qbus users add`)")
        return 0
    print(f"{'USER':20} {'NAME':24} {'PARTY':16} {'ROLE':16} {'STATE':9} LAST LOGIN")
    for u in users:
        print(f"{u.username:20} {u.display_name[:24]:24} {u.party_id:16} {u.role.value:16} "
              f"{'disabled' if u.disabled else 'active':9} {u.last_login_at or '-'}")
    return 0


def _credentials(args) -> Credentials:
    # No public-key file to write here: a reset retires keys, it never makes one.
    return Credentials.open(_store(args), None)


def cmd_users_passwd(args) -> int:
    """An operator sets a new password (the user forgot theirs): their sessions end and their old
    signing key is retired (it was encrypted under the old password)."""
    credentials = _credentials(args)
    try:
        password, generated = _read_password(args)
        user = credentials.reset_password(args.username, password)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        credentials.close()
    print(f"new password set for {user.username}; their sessions have ended and their next signature uses a new key")
    if generated:
        print(f"password: {password}   (shown once; give it to the user by a safe channel)")
    return 0


def cmd_users_disable(args) -> int:
    credentials = _credentials(args)
    try:
        user = credentials.set_disabled(args.username, not args.enable)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        credentials.close()
    print(f"{user.username} is now {'disabled: their sessions have ended' if user.disabled else 'enabled'}")
    return 0


def cmd_users_demo(args) -> int:
    print_demo_logins(_store(args))
    return 0


def print_demo_logins(store: UserStore, url: str | None = None) -> None:
    """Create the demo users with fresh passwords and print their logins (for `make up`)."""
    if url:
        print(f"dashboard  {url}")
    credentials = Credentials.open(store, None)
    for user, password in ensure_demo_users(store):
        # A new password: what was signed in (and the key sealed) under the old one ends with it.
        credentials.sessions.end_all(user.username)
        credentials.keys.retire(user.username)
        print(f"  login {user.username:10} password {password}   {user.role.value:16} {user.party_id:9} {user.display_name}")
    credentials.close()


# --- tokens --------------------------------------------------------------------------------------
def _agreements(args):
    from agents.core.agreements import AgreementSet

    directory = getattr(args, "agreements", None) or _bus_settings(args).agreements_dir
    return AgreementSet.load_dir(directory, strict=False) if Path(directory).is_dir() else None


def cmd_tokens_add(args) -> int:
    from agents.web.api.sources import BindingRefused, token_binding

    try:
        party = token_binding(_agreements(args), args.party, args.source)
        token, text = _store(args).add_token(party, args.name, source=args.source)
    except (UserError, BindingRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({**token.to_json(), "token": text}))
        return 0
    what = f"publishes as source {token.source} and reads" if token.source else "reads"
    print(f"token {token.token_id} for {token.party_id} ({token.name}); it {what} {token.party_id}'s agreements:")
    print(text)
    print("shown once; send it as 'Authorization: Bearer <token>'")
    return 0


def cmd_tokens_list(args) -> int:
    tokens = _store(args).tokens()
    if args.json:
        print(json.dumps({"tokens": [t.to_json() for t in tokens]}, indent=1))
        return 0
    if not tokens:
        print("no tokens (add one with `qbus tokens add NAME --source INSTANCE` or `--party ID`)")
    for t in tokens:
        print(f"{t.token_id}  {t.party_id:16} {t.name:24} {t.source or '(reads only)':20} {t.created_at}  "
              f"{'revoked' if t.disabled else 'active'}")
    return 0


def cmd_tokens_revoke(args) -> int:
    try:
        token = _store(args).revoke_token(args.token_id)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"token {token.token_id} of {token.party_id} revoked")
    return 0


def register(sub) -> None:
    dashboard = sub.add_parser("dashboard", help="run the holder dashboard and subscriber API (web)")
    dashboard.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=None, help="port (default 8080)")
    dashboard.set_defaults(func=cmd_dashboard)

    users = sub.add_parser("users", help="manage dashboard users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("username")
    add.add_argument("--party", required=True, help="the user's party, e.g. HOLDER-A or CMO-X")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", help="display name, e.g. '张敏 Zhang Min'")
    add.add_argument("--language", choices=["zh", "en"])
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--generate", action="store_true", help="generate a password and print it once")
    add.set_defaults(func=cmd_users_add)
    listing = users.add_parser("list", help="list users")
    listing.set_defaults(func=cmd_users_list)
    passwd = users.add_parser("passwd", help="set a new password for a user (ends their sessions)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    passwd.add_argument("--generate", action="store_true", help="generate a password and print it once")
    passwd.set_defaults(func=cmd_users_passwd)
    disable = users.add_parser("disable", help="disable a user (ends their sessions)")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_users_disable, enable=False)
    enable = users.add_parser("enable", help="enable a disabled user")
    enable.add_argument("username")
    enable.set_defaults(func=cmd_users_disable, enable=True)
    demo = users.add_parser("demo", help="create the demo users with fresh passwords and print them")
    demo.set_defaults(func=cmd_users_demo)
    for parser in (add, listing, passwd, disable, enable, demo):
        parser.add_argument("--users-db", type=Path, help="users file (default: state_dir/dashboard-users.db)")

    tokens = sub.add_parser("tokens", help="manage HTTP API tokens").add_subparsers(dest="tokens_command", required=True)
    tadd = tokens.add_parser("add", help="create a token for a system (printed once): --source to publish as a "
                                         "registered source, --party to read only")
    tadd.add_argument("name", help="what uses it, e.g. cmox-mes-gateway")
    tadd.add_argument("--source", help="source instance an agreement registers (e.g. mes-cmox-01): the token "
                                       "publishes as it, for its party")
    tadd.add_argument("--party", help="the party (a holder or manufacturer of a loaded agreement); a token with "
                                      "only a party reads and cannot publish")
    tadd.add_argument("--agreements", type=Path, help="agreement folder (default QBUS_AGREEMENTS_DIR)")
    tadd.add_argument("--json", action="store_true", help="print the token as JSON")
    tadd.set_defaults(func=cmd_tokens_add)
    tlist = tokens.add_parser("list", help="list tokens")
    tlist.add_argument("--json", action="store_true", help="print the tokens as JSON")
    tlist.set_defaults(func=cmd_tokens_list)
    revoke = tokens.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=cmd_tokens_revoke)
    for parser in (tadd, tlist, revoke):
        parser.add_argument("--users-db", type=Path, help="users file (default: state_dir/dashboard-users.db)")


def main(argv: list[str] | None = None) -> int:
    """Run these commands without agents/cli/main.py (until it lists this module)."""
    parser = argparse.ArgumentParser(prog="qbus")
    parser.add_argument("--bootstrap")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
