"""`qbus up` uses only what it started: a taken port is named with the process that holds it."""
import os
import socket

import pytest

from streams.broker import EmbeddedBroker, PortTaken
from streams.processes import port_free, port_holder


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_the_process_holding_a_port_is_named(listener):
    assert not port_free(listener)
    assert port_holder(listener).startswith(f"pid {os.getpid()} ")


def test_the_embedded_broker_never_takes_another_process_on_its_port_for_its_own(listener):
    with pytest.raises(PortTaken) as taken:
        EmbeddedBroker(port=listener).start()
    assert taken.value.port == listener and f"pid {os.getpid()}" in str(taken.value)
