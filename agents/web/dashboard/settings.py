"""The dashboard's settings, read from QBUS_DASHBOARD_* environment variables.

Where it keeps its files follows the bus's ``state_dir`` (`DashboardSettings.for_bus`): the users
database (users, sessions, personal signing keys), the session secret, the dashboard's signing key
and the users' public keys (``dashboard-user-keys.json``, for the bus) live beside the ledger unless
set here.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QBUS_DASHBOARD_", env_file=None, extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on; put a TLS proxy in front for anything but localhost.")
    port: int = 8080
    state_dir: Path = Field(Path("var"), description="Default folder of the files below (the bus's state_dir).")
    users_db: Path | None = Field(None, description="SQLite file of users and API tokens; default state_dir/dashboard-users.db.")
    secret_key: SecretStr | None = Field(None, description="Signs session cookies; default: a random key kept in state_dir/dashboard-secret.key.")
    signing_key: Path | None = Field(None, description="Ed25519 key the dashboard signs its events with; default state_dir/dashboard-signing.pem (created).")
    sign_events: bool = Field(True, description="Sign published events with the dashboard's key (Art. 14).")
    cookie_secure: bool = Field(False, description="Mark cookies Secure; set true when served over HTTPS.")
    session_max_age_s: int = Field(12 * 3600, description="A session ends this long after login.")
    poll_interval_s: float = Field(0.5, description="How often the ledger is read for new records.")
    heartbeat_s: float = Field(15.0, description="Keep-alive comment interval on live streams.")
    user_keys: Path | None = Field(None, description="Public keys of the users' personal signing keys, for the bus to "
                                   "verify decisions; default state_dir/dashboard-user-keys.json (written).")
    login_max_failures: int = Field(5, description="Wrong passwords allowed per (user name, client address) ...")
    login_max_failures_per_address: int = Field(50, description="... and per client address over all user names ...")
    login_window_s: float = Field(300.0, description="... within this many seconds.")
    trusted_proxies: list[str] = Field(default_factory=list, description="Addresses or networks of reverse proxies "
                                       "whose X-Forwarded-For is believed, e.g. [\"127.0.0.1\", \"10.0.0.0/8\"].")
    signature_draft_ttl_s: float = Field(900.0, description="How long a decision under review may wait for its signature.")
    due_soon_hours: float = Field(24.0, description="An open obligation due within this many hours is 'due soon'.")
    default_timezone: str = Field("Asia/Shanghai", description="Time zone of agreements with no agreement file.")
    api_max_wait_s: float = Field(30.0, description="Longest long-poll wait of the subscriber API.")
    api_page_limit: int = Field(1000, description="Most records one subscriber API call returns.")

    @classmethod
    def for_bus(cls, bus_settings, **overrides) -> DashboardSettings:
        """Dashboard settings whose files default to the bus's state_dir."""
        values = {"state_dir": bus_settings.state_dir}
        values.update(overrides)
        return cls(**values)

    @property
    def users_path(self) -> Path:
        return self.users_db or self.state_dir / "dashboard-users.db"

    @property
    def user_keys_path(self) -> Path:
        return self.user_keys or self.state_dir / "dashboard-user-keys.json"

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key or self.state_dir / "dashboard-signing.pem"

    def session_secret(self) -> str:
        """The configured secret, or one kept in state_dir (created once, mode 0600)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.state_dir / "dashboard-secret.key"
        if path.exists():
            return path.read_text(encoding="ascii").strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret, encoding="ascii")
        path.chmod(0o600)
        return secret
