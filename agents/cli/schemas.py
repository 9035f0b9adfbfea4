"""``qbus schemas serve`` (the embedded Schema Registry) and ``qbus schemas register``.

`RegistryProcess` runs ``qbus schemas serve`` as a child of ``qbus up``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from streams.settings import Settings


def _settings(args) -> Settings:
    overrides = {}
    if getattr(args, "bootstrap", None):
        overrides["bootstrap_servers"] = args.bootstrap
    return Settings(**overrides)


def register_schemas(settings: Settings) -> list[dict]:
    """Register every committed schema under its record name and its topic subject, in the registry
    the bus uses (the production one at schema_registry_url, else the file registry)."""
    from streams.registry import registry_from_settings
    from streams.subjects import register_all
    from streams.topics import TopicCatalogue

    registry = registry_from_settings(settings)
    done = register_all(registry, TopicCatalogue.from_settings(settings))
    if hasattr(registry, "close"):
        registry.close()
    return [{"subject": r.subject, "id": schema_id, "record": r.record_name, "topic": r.topic} for r, schema_id in done]


def cmd_register(args) -> int:
    from streams.registry import RegistryError

    settings = _settings(args)
    where = settings.schema_registry_url or str(settings.registry_path)
    try:
        rows = register_schemas(settings)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"registry": where, "subjects": rows}, indent=1))
        return 0
    for row in rows:
        print(f"{row['subject']:48} id {row['id']:<4} {row['record']}")
    print(f"{len(rows)} subjects registered in {where}")
    return 0


def cmd_serve(args) -> int:
    from aiohttp import web

    from agents.web.api.registry import create_registry_app
    from streams.topics import TopicCatalogue

    settings = _settings(args)
    port = args.port if args.port is not None else settings.registry_port
    app = create_registry_app(settings.registry_path, TopicCatalogue.from_settings(settings))
    print(f"schema registry  http://{args.host}:{port}  (read-only, serving {settings.registry_path})", flush=True)
    web.run_app(app, host=args.host, port=port, print=None, access_log=None)
    return 0


class RegistryProcess:
    """`qbus schemas serve` as a child process (for `qbus up`): started, waited for, stopped by its pid."""

    def __init__(self, settings: Settings, log_path: Path, port: int, host: str = "127.0.0.1"):
        self.settings = settings
        self.log_path = Path(log_path)
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        self.process = None

    def start(self, timeout: float = 30.0) -> RegistryProcess:
        import time
        import urllib.request

        from streams.processes import spawn
        from streams.settings import child_env

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = spawn([sys.executable, "-m", "agents.cli.main", "schemas", "serve", "--host", self.host,
                              "--port", str(self.port)], self.log_path, child_env(self.settings))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the schema registry exited with code {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/subjects", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"the schema registry did not answer on {self.url} within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        from streams.processes import stop
        stop(self.process)


def register(sub) -> None:
    schemas = sub.add_parser("schemas", help="the event schemas in a Schema Registry").add_subparsers(
        dest="schemas_command", required=True)
    reg = schemas.add_parser("register", help="register every schema under its record name and topic subject "
                                              "(in QBUS_SCHEMA_REGISTRY_URL, else the file registry)")
    reg.add_argument("--json", action="store_true", help="print the subjects and ids as JSON")
    reg.set_defaults(func=cmd_register)
    serve = schemas.add_parser("serve", help="serve the file registry as a read-only Confluent Schema Registry")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="port (default QBUS_REGISTRY_PORT, 8081)")
    serve.set_defaults(func=cmd_serve)
