"""On-call QA is reached, once, through the real worker (issue 7).

A critical deviation on QA-TEST-E2E goes unacknowledged: step 1 e-mails the communication people
(each in their own language), step 3 pages on-call through a PagerDuty-format endpoint. Every
attempt becomes a `delivery.*` event. A restarted worker pages nobody twice.
"""
import json
import threading
import time
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from streams.broker import free_port
from agents.cli.local import WorkerProcess
from streams.publisher import Publisher
from streams.subscriber import TopicReader
from streams.topics import TopicCatalogue
from tests.agents.worker.test_obligations_e2e import critical_deviation

pytestmark = [pytest.mark.broker, pytest.mark.slow]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


class PagerDutyInbox(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(202)
        self.end_headers()
        self.wfile.write(b'{"status":"success"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def receivers():
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    PagerDutyInbox.received = []
    pagerduty = ThreadingHTTPServer(("127.0.0.1", 0), PagerDutyInbox)
    threading.Thread(target=pagerduty.serve_forever, daemon=True).start()
    yield mailbox, smtp.port, PagerDutyInbox.received, f"http://127.0.0.1:{pagerduty.server_address[1]}/v2/enqueue"
    smtp.stop()
    pagerduty.shutdown()


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_escalations_reach_people_once_each_in_their_language(isolated_stack, receivers, tmp_path):
    mailbox, smtp_port, pages, pagerduty_url = receivers
    settings = isolated_stack.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_starttls": "off",
        "pagerduty_url": pagerduty_url, "pagerduty_routing_key": "R0UT1NGKEY"})
    catalogue = TopicCatalogue.from_settings(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        with Publisher.from_settings(settings) as publisher:
            event = critical_deviation()
            publisher.publish(event)
        # Step 1 (3 s after publication): e-mail to both communication people for deviations.
        assert wait_for(lambda: len(mailbox.messages) >= 2, 30), "step 1 e-mails did not arrive"
        subjects = {rcpt[0]: str(make_header(decode_header(msg["Subject"]))) for rcpt, msg in mailbox.messages}
        assert "Overdue" in subjects["liaison@holder-a.example"]          # language: en
        assert "逾期" in subjects["liaison@cmo-x.example"]                 # language: zh (default)
        # Step 3 (8 s after the deadline) pages on-call through the PagerDuty Events API.
        assert wait_for(lambda: len(pages) >= 1, 30), "the page did not arrive"
        page = pages[0]
        assert page["routing_key"] == "R0UT1NGKEY" and page["event_action"] == "trigger"
        # Every attempt is on the bus as a delivery receipt.
        with TopicReader.from_settings(settings, catalogue.bus("delivery")) as deliveries:
            receipts = deliveries.collect(lambda found: len(found) >= 3, timeout=20,
                                          where=lambda r: r.value and r.value["item_ref"] == event["item_ref"])
        assert {r.value["payload"]["channel"] for r in receipts} >= {"EMAIL", "PAGERDUTY"}
        assert all(r.value["event_type"] == "delivery.delivered" for r in receipts)
    finally:
        worker.kill()
    # A restarted worker re-reads the ledger; it must page and mail nobody again.
    mails, paged = len(mailbox.messages), len(pages)
    restarted = WorkerProcess(settings, tmp_path / "restarted.log").start()
    try:
        time.sleep(6)
    finally:
        restarted.stop()
    assert (len(mailbox.messages), len(pages)) == (mails, paged)
    assert paged == 1 and mails >= 2
