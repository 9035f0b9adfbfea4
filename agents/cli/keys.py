"""``qbus keys generate|show``: Ed25519 key pairs for source systems, and the bus's own keys (Art. 14).

``generate --source INSTANCE`` makes a key pair for a registered source and prints the lines to add
under that source in the quality agreement (``keys:`` with a key id and the date it is valid from);
rotating a key is generating a new one with a later ``--valid-from`` and giving the old one a
``valid_until``: events keep verifying against the key valid when the bus received them.
``show FILE`` prints a key file's id and public key; ``show --bus`` and ``show --dashboard`` the
bus's package-signing key and the dashboard's key, whose fingerprints holders and inspectors file.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path


def _valid_from(text: str) -> str:
    try:
        return (date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (2026-12-01) or a time (2026-12-01T08:00+08:00)")


def cmd_generate(args) -> int:
    from streams.signing import generate_keypair, key_fingerprint, public_key_b64, public_key_pem, write_private_key

    private, public = generate_keypair()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d")
    key_id = args.key_id or (f"{args.source}-{stamp}" if args.source else key_fingerprint(public))
    valid_from = args.valid_from or datetime.now(timezone.utc).date().isoformat()
    out = {"key_id": key_id, "public_key": public_key_b64(public), "valid_from": valid_from,
           "fingerprint": key_fingerprint(public), "source": args.source}
    if args.out is not None:
        private_path, public_path = Path(f"{args.out}.key"), Path(f"{args.out}.pub")
        if private_path.exists():
            print(f"error: {private_path} exists; a private key is never overwritten", file=sys.stderr)
            return 2
        write_private_key(private_path, private)
        public_path.write_bytes(public_key_pem(public))
        out.update(private_key_file=str(private_path), public_key_file=str(public_path))
    else:
        from streams.signing import private_key_pem

        out["private_key_pem"] = private_key_pem(private).decode("ascii")
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if args.out is not None:
        print(f"private key  {out['private_key_file']}  (mode 0600; keep it on the source system only)")
        print(f"public key   {out['public_key_file']}")
    else:
        sys.stdout.write(out["private_key_pem"])
    print(f"key id       {key_id}\nfingerprint  {out['fingerprint']}\n")
    print("Add under the source in the quality agreement" + (f" (instance {args.source})" if args.source else "") + ":")
    print(f"    keys:\n      - key_id: {key_id}\n        public_key: \"{out['public_key']}\"\n"
          f"        valid_from: {valid_from}")
    print("\nSign with it: qbus publish --sign-key PRIVATE.key --key-id " + key_id + " FILE")
    return 0


def cmd_show(args) -> int:
    from streams.settings import Settings
    from streams.signing import KeyRegistry, key_fingerprint, load_private_key, load_public_key, public_key_b64

    settings = Settings()
    shown: list[dict] = []
    if args.bus:
        from agents.record.bus_key import BusKey

        key = BusKey.of_state(settings.state_dir)
        shown.append({"what": "bus (signs inspection packages)", "key_id": key.key_id,
                      "public_key": key.public_key_b64, "file": str(key.path)})
    if args.dashboard:
        path = settings.dashboard_keys_path
        if not path.exists():
            print(f"error: no dashboard key at {path}: start the dashboard once (qbus up or qbus dashboard)",
                  file=sys.stderr)
            return 2
        for registered in KeyRegistry.load(path):
            shown.append({"what": f"dashboard (source {registered.instance})", "key_id": registered.key_id,
                          "public_key": public_key_b64(registered.public_key), "file": str(path)})
    for path in args.files:
        text = Path(path).read_bytes()
        try:
            public = load_private_key(text).public_key() if b"PRIVATE KEY" in text else load_public_key(text)
        except ValueError as exc:
            print(f"error: {path}: not an Ed25519 key file ({exc})", file=sys.stderr)
            return 2
        shown.append({"what": str(path), "key_id": key_fingerprint(public), "public_key": public_key_b64(public),
                      "file": str(path)})
    if not shown:
        print("error: name a key file, or --bus or --dashboard", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        for entry in shown:
            print(f"{entry['what']}\n  key id      {entry['key_id']}\n  public key  {entry['public_key']}")
    return 0


def register(subparsers) -> None:
    keys = subparsers.add_parser("keys", help="Ed25519 signing keys: sources' key pairs, the bus's own keys (Art. 14)")
    commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = commands.add_parser("generate", help="make a key pair for a source and print the agreement lines")
    generate.add_argument("--source", metavar="INSTANCE", help="the registered source instance it is for")
    generate.add_argument("--out", metavar="PREFIX", type=Path, help="write PREFIX.key (private, mode 0600) and PREFIX.pub")
    generate.add_argument("--key-id", help="key id to register (default: INSTANCE-YYYYMMDD, or the key's fingerprint)")
    generate.add_argument("--valid-from", type=_valid_from, help="first day the key may sign (default: today)")
    generate.add_argument("--json", action="store_true", help="print JSON")
    generate.set_defaults(func=cmd_generate)
    show = commands.add_parser("show", help="print key ids and public keys")
    show.add_argument("files", nargs="*", metavar="FILE", help="PEM key files (private or public)")
    show.add_argument("--bus", action="store_true", help="the bus's package-signing key")
    show.add_argument("--dashboard", action="store_true", help="the dashboard's signing key")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_show)
