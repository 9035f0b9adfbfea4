"""The floor for any Faust agent: read raw bytes, forward raw bytes (run by pipeline_bench.py).

    python bench/faust_passthrough.py IN OUT worker

Faust hard-codes a 1,500 ms fetch wait, and Tansu holds a fetch for part of it even when records
are there (BROKER.md); for a fair comparison this lowers it to the same QBUS_FETCH_MAX_WAIT_MS the
bus's own stages use, on the consumer Faust creates. The bus itself no longer needs this.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faust.transport.drivers import aiokafka as faust_aiokafka  # noqa: E402

from agents.worker.app import create_app  # noqa: E402
from streams.settings import Settings  # noqa: E402

settings = Settings()
_create = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def _short_wait(self, transport):
    consumer = _create(self, transport)
    consumer._fetch_max_wait_ms = settings.fetch_max_wait_ms
    return consumer


faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = _short_wait


def main() -> None:
    from faust.worker import Worker

    source_name, sink_name = sys.argv[1], sys.argv[2]
    sys.argv[1:3] = []
    app = create_app(settings, app_id=f"{settings.app_id}-passthrough")
    source = app.topic(source_name, value_serializer="raw", key_serializer="raw")
    sink = app.topic(sink_name, value_serializer="raw", key_serializer="raw")

    @app.agent(source)
    async def forward(stream):
        async for record in stream.events():
            await sink.send(key=record.key, value=record.value, headers=record.headers)

    Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
