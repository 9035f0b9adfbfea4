"""The production deployment files are consistent with the code (no Docker engine runs here)."""
from pathlib import Path

import yaml

from streams.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def test_every_mounted_file_exists():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"


def test_qbus_environment_names_real_settings():
    known = {f"QBUS_{name.upper()}" for name in Settings.model_fields}
    env = compose()["x-qbus-env"]
    assert set(env) <= known, f"unknown settings: {set(env) - known}"


def test_kafka_is_replicated_and_topics_are_not_auto_created():
    env = compose()["x-kafka-env"]
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3 and env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert compose()["x-qbus-env"]["QBUS_REPLICATION_FACTOR"] == 3


def test_the_dockerfile_copies_every_package():
    text = (DEPLOY / "Dockerfile").read_text()
    for package in ("schemas", "streams", "agents"):
        assert f"COPY {package} {package}" in text
