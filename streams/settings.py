"""One settings object for every qbus process, read from QBUS_* environment variables.

Nothing else in the code reads os.environ; pass Settings (or a part of it) down instead.
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where the embedded stack keeps its files (ledger, registry, RocksDB, pid files).
DEFAULT_STATE_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QBUS_", env_file=None, extra="ignore")

    # --- broker -------------------------------------------------------------------------
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    topic_prefix: str = Field("qc", description="Prefix of every qbus topic name.")
    partitions: int = Field(3, description="Partitions of each intake/accepted topic.")
    replication_factor: int = Field(1, description="1 locally; 3 on a production Kafka cluster.")
    min_insync_replicas: int | None = Field(None, description="Set to 2 on a production cluster.")
    security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT locally; SASL_SSL in production.")
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    # --- clients, tuned so a fresh consumer group does not wait minutes on a small broker ---
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    rebalance_timeout_s: float = 6.0
    max_poll_interval_s: float = 30.0
    request_timeout_s: float = 20.0
    # How long a fetch waits for records. Tansu holds a fetch for part of this wait even when records
    # are there (BROKER.md), so it bounds each hop's latency.
    fetch_max_wait_ms: int = 10
    producer_linger_ms: int = Field(1, description="How long the worker's producer waits to batch sends.")
    stage_batch: int = Field(500, description="Most records a stage takes in one step (one ledger transaction).")
    intake_batch: int = Field(5000, description="Most records intake takes in one step: it looks through them for a "
                                                "significant risk first (Art. 5).")
    checkpoint_interval_s: float = Field(300.0, description="How often the core stage writes each partition's "
                                                          "checkpoint (and always at a clean stop).")
    checkpoint_records: int = Field(50_000, description="...or after this many records, whichever comes first.")
    quality_gauges_interval_s: float = Field(300.0, description="How often the worker sets the qbus_quality_* gauges "
                                                              "from the ledger (0: never; they fold every record).")

    # --- worker ---------------------------------------------------------------------------
    app_id: str = Field("qbus-worker", description="The worker's name; its stages' consumer groups are "
                                                 "<app_id>.intake, <app_id>.core and <app_id>.notify.")
    state_dir: Path = DEFAULT_STATE_DIR
    store: str = Field("rocksdb://", description="Faust table store; 'memory://' for tests.")
    worker_web_port: int = 6066
    metrics_port: int = Field(9464, description="Worker /metrics port (Prometheus scrape target); 0 disables.")
    metrics_host: str = Field("127.0.0.1", description="Address the metrics endpoint binds to: loopback by default; "
                                                       "set 0.0.0.0 (or the pod IP) for a Prometheus on another host.")

    # --- data -----------------------------------------------------------------------------
    max_event_bytes: int = Field(1_048_576, description="Events larger than this are refused (Kafka's usual 1 MiB).")
    dedupe_window: int = Field(1_000_000, description="How many recent event ids the intake remembers to refuse duplicates.")
    schema_registry_url: str | None = Field(None, description="Confluent-compatible Schema Registry; None = embedded file registry.")
    registry_port: int = Field(8081, description="Port of the embedded Schema Registry of `qbus up` (a free one if taken).")
    embedded_registry_url: str | None = Field(
        None, description="Where `qbus up` serves the file registry as a Confluent Schema Registry for outside Kafka "
                          "clients (set by `qbus up` for its children); the bus itself reads the file.")
    api_token: SecretStr | None = Field(None, description="Bearer token for the bus's HTTP API (e.g. `qbus reconcile --url`).")
    agreements_dir: Path = Path("agreements")
    # --- trust (Art. 14) -----------------------------------------------------------------------
    require_signatures: bool = Field(True, description="Every source signs with its registered Ed25519 key. On by "
                                                      "default; only the embedded demo (`qbus up`) turns it off. "
                                                      "Events claiming the dashboard are always checked.")
    clock_skew_s: float = Field(300.0, description="How far in the future occurred_at may lie before an event is "
                                                   "refused (clocks of source systems drift).")
    ledger_url: str | None = Field(None, description="sqlite:///path or postgresql://...; default: sqlite in state_dir.")

    # --- notification channels (issue 7); a channel left unset is reported, never silently skipped
    notify_webhook_url: str | None = Field(None, description="Generic webhook receiving escalations (JSON, HMAC-signed).")
    notify_webhook_secret: SecretStr = Field(SecretStr("change-me"), description="HMAC-SHA256 key for X-Qbus-Signature.")
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    pagerduty_routing_key: SecretStr | None = None
    alertmanager_url: str | None = Field(None, description="Alertmanager base URL, e.g. http://alertmanager:9093.")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "qbus@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: str = Field("auto", description="auto (if offered), required, or off.")
    dashboard_url: str = "http://127.0.0.1:8080"
    notify_max_attempts: int = 5

    @property
    def registry_path(self) -> Path:
        return self.state_dir / "schema-registry.json"

    @property
    def dashboard_keys_path(self) -> Path:
        """The dashboard's public signing key, which the bus trusts for every agreement."""
        return self.state_dir / "dashboard-keys.json"

    @property
    def user_keys_path(self) -> Path:
        """The dashboard users' public keys, which verify their electronic signatures."""
        return self.state_dir / "dashboard-user-keys.json"

    @property
    def client_registry_url(self) -> str | None:
        """The Schema Registry an outside Kafka client should use: the production one, or the embedded one."""
        return self.schema_registry_url or self.embedded_registry_url

    @property
    def ledger(self) -> str:
        return self.ledger_url or f"sqlite:///{self.state_dir / 'ledger.db'}"

    def kafka_client_config(self) -> dict:
        """Security settings for kafka-python clients (empty locally)."""
        config: dict = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value() if self.sasl_password else None,
            )
        return config


def child_env(settings: Settings, **extra) -> dict:
    """Environment for a child qbus process: this one's environment with the settings as QBUS_* variables."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude_none=True).items():
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"QBUS_{name.upper()}"] = str(value)
    env.update({k: str(v) for k, v in extra.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
