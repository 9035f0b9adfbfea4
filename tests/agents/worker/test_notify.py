"""The notifier against real receivers: an HTTP server (webhook and PagerDuty format) and an SMTP
server (aiosmtpd), with retries, dedupe across a restart, give-up and acknowledgement."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agents.worker.notify import (
    Dispatcher,
    EmailChannel,
    EmailSettings,
    InMemoryDedupeStore,
    Notification,
    PagerDutyChannel,
    PagerDutySettings,
    Recipient,
    RetryPolicy,
    LedgerDedupeStore,
    WebhookChannel,
    WebhookSettings,
    notification_from_facts,
    render,
    verify_signature,
)
from agents.worker.notify.channels import message_id
from agents.worker.notify.model import delivery_key

SECRET = "s3cret-for-tests"
T0 = dt.datetime(2026, 3, 3, 10, 5, tzinfo=dt.timezone.utc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- receivers

@dataclass
class HttpReceiver:
    """A local HTTP server that records every request and answers from a script.

    ``script`` holds the statuses to answer, in order; when it runs out, ``default`` answers.
    """

    port: int = field(default_factory=free_port)
    script: list[int] = field(default_factory=list)
    default: int = 200
    headers_for: dict[int, dict[str, str]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.script.pop(0) if self.script else self.default
        self.requests.append({"path": request.path, "headers": dict(request.headers),
                              "body": body, "status": status})
        payload = {"status": "success", "message": "Event processed"} if status < 300 else {}
        return web.json_response(payload, status=status, headers=self.headers_for.get(status))

    def accepted(self) -> list[dict]:
        return [r for r in self.requests if 200 <= r["status"] < 300]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def receiver():
    r = HttpReceiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def down_receiver():
    """A receiver whose port is known but which is not listening yet."""
    r = HttpReceiver()
    yield r
    await r.stop()


class MailRecorder:
    def __init__(self, replies: list[str] | None = None) -> None:
        self.replies = list(replies or [])
        self.messages: list[tuple[email.message.EmailMessage, list[str], bool]] = []
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        reply = self.replies.pop(0) if self.replies else "250 Message accepted"
        if reply.startswith("250"):
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append((msg, list(envelope.rcpt_tos), session.ssl is not None))
        return reply


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qbus test smtp")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture
def smtp_server():
    """Start an aiosmtpd server; ``tls=True`` offers STARTTLS with a self-signed certificate.

    aiosmtpd 1.4's Controller cannot use port 0 (its readiness probe connects to the port it was
    given), so a free port is picked first.
    """
    started: list[Controller] = []

    def start(recorder: MailRecorder, tls: bool = False, tmp=None) -> tuple[Controller, str | None]:
        kwargs, cert_pem = {}, None
        if tls:
            cert_pem, key_pem = _self_signed()
            (tmp / "cert.pem").write_bytes(cert_pem)
            (tmp / "key.pem").write_bytes(key_pem)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
            kwargs["tls_context"] = ctx
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return controller, cert_pem.decode() if cert_pem else None

    yield start
    for controller in started:
        controller.stop()


# --------------------------------------------------------------------------- helpers

@dataclass
class FakeTime:
    """Injected into RetryPolicy: records the waits and, optionally, does something on each."""

    delays: list[float] = field(default_factory=list)
    on_sleep: Callable[[int], object] | None = None

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        if self.on_sleep is not None:
            result = self.on_sleep(len(self.delays))
            if asyncio.iscoroutine(result):
                await result


def policy(fake: FakeTime, max_attempts: int = 4, **kw) -> RetryPolicy:
    return RetryPolicy(base=1.0, factor=2.0, max_delay=30.0, max_attempts=max_attempts,
                       sleep=fake.sleep, random=lambda: 0.5, **kw)


def overdue(recipients, *, step: int = 1, kind: str = "escalation", severity: str = "major",
            key: str | None = None) -> Notification:
    facts = {
        "agreement_id": "QA-HOLDERA-CMOX", "category": "deviation", "severity": severity,
        "item_ref": "DEV-2026-0042", "party": "HOLDER-A", "action": "acknowledge",
        "product": "阿莫西林胶囊 0.25 g", "batch_no": "B240301",
        "due_at": T0 - dt.timedelta(hours=2, minutes=5), "overdue_for": dt.timedelta(hours=2, minutes=5),
        "step": step,
    }
    return notification_from_facts(
        "obligation_overdue", facts, notification_key=key or f"obl-7f3a:step{step}", kind=kind,
        recipients=recipients, page=severity == "critical", incident_key="obl-7f3a", created_at=T0,
    )


def dispatcher(channels: dict, retry: RetryPolicy, store=None, metrics=None):
    receipts: list[dict] = []
    d = Dispatcher(channels, retry, store or InMemoryDedupeStore(), receipts.append, metrics=metrics)
    return d, receipts


def webhook() -> WebhookChannel:
    return WebhookChannel(WebhookSettings(secret=SECRET, timeout=2.0))


# --------------------------------------------------------------------------- templates

def test_overdue_title_reads_the_same_in_both_languages():
    text = render("obligation_overdue", {"party": "HOLDER-A", "category": "deviation",
                                          "item_ref": "DEV-2026-0042", "action": "acknowledge"})
    assert text.bilingual_title == ("[qbus] 逾期：HOLDER-A 偏差 DEV-2026-0042 未确认 / "
                                    "Overdue: deviation DEV-2026-0042 not acknowledged by HOLDER-A")


def test_body_shows_due_time_in_beijing_time_and_how_late():
    n = overdue([Recipient("zhang.wei", "email", "zhang.wei@holder-a.example", "zh")])
    assert "截止时间：2026-03-03 16:00（北京时间）" in n.body_zh
    assert "已逾期：2 小时 5 分钟" in n.body_zh
    assert "Due: 2026-03-03 16:00 Beijing time (08:00 UTC)" in n.body_en
    assert "Overdue by: 2 h 5 min" in n.body_en
    assert "obl-7f3a:step1" in n.body_en


def test_a_missing_fact_renders_as_a_gap_not_an_exception():
    text = render("production_suspended", {"manufacturer": "CMO-X", "item_ref": "OOS-2026-0007"})
    assert text.title_en == "[qbus] Significant risk: production of — suspended at CMO-X (OOS-2026-0007)"
    assert "原因：?" in text.body_zh


# --------------------------------------------------------------------------- retry policy

def test_backoff_is_full_jitter_under_a_capped_exponential_ceiling():
    p = RetryPolicy(base=2.0, factor=3.0, max_delay=20.0, max_attempts=5, random=lambda: 1.0)
    assert [p.delay(n) for n in (1, 2, 3, 4)] == [2.0, 6.0, 18.0, 20.0]
    low = RetryPolicy(base=2.0, factor=3.0, max_delay=20.0, random=lambda: 0.0)
    assert low.delay(3) == 0.0
    # A server's Retry-After raises the wait but never beyond max_delay.
    assert low.delay(1, retry_after=7) == 7.0
    assert low.delay(1, retry_after=600) == 20.0
    assert p.should_retry(4) and not p.should_retry(5)


# --------------------------------------------------------------------------- webhook

async def test_webhook_is_signed_with_an_idempotency_key_in_the_recipients_language(receiver):
    li = Recipient("li.na", "webhook", f"{receiver.url}/hooks/qa", "zh")
    d, receipts = dispatcher({"webhook": webhook()}, policy(FakeTime()))

    result = await d.dispatch(overdue([li]))
    await d.aclose()

    assert [x.status for x in result.deliveries] == ["delivered"]
    (req,) = receiver.requests
    assert req["path"] == "/hooks/qa"
    # The receiver can check the body came from qbus and dedupe on the key.
    assert verify_signature(SECRET, req["body"], req["headers"]["X-Qbus-Signature"])
    assert not verify_signature("wrong-secret", req["body"], req["headers"]["X-Qbus-Signature"])
    assert req["headers"]["Idempotency-Key"] == "obl-7f3a:step1:li.na"
    body = json.loads(req["body"])
    assert body["language"] == "zh"
    assert body["title"] == "[qbus] 逾期：HOLDER-A 偏差 DEV-2026-0042 未确认"
    assert body["text"]["en"]["title"].startswith("[qbus] Overdue: deviation DEV-2026-0042")
    assert (body["agreement_id"], body["category"], body["step"]) == ("QA-HOLDERA-CMOX", "deviation", 1)
    assert [(r["attempt"], r["outcome"], r["recipient"]) for r in receipts] == [(1, "delivered", "li.na")]


def test_a_chinese_recipient_name_is_percent_encoded_in_the_idempotency_key():
    zh = Recipient("张伟", "webhook", "http://127.0.0.1:1/hook", "zh")
    body, headers = webhook().request(overdue([zh]), zh)
    assert headers["Idempotency-Key"] == "obl-7f3a:step1:%E5%BC%A0%E4%BC%9F"
    assert json.loads(body)["idempotency_key"] == "obl-7f3a:step1:张伟"
    assert verify_signature(SECRET, body, headers["X-Qbus-Signature"])


async def test_receiver_down_then_up_gets_exactly_one_delivery(down_receiver):
    # The subscriber's endpoint is down for the first attempt and comes up during the backoff.
    fake = FakeTime(on_sleep=lambda n: down_receiver.start() if n == 1 else None)
    ops = Recipient("holder-a-qms", "webhook", f"{down_receiver.url}/qbus", "en")
    d, receipts = dispatcher({"webhook": webhook()}, policy(fake))

    result = await d.dispatch(overdue([ops]))
    await d.aclose()

    assert [x.status for x in result.deliveries] == ["delivered"]
    assert [(r["attempt"], r["outcome"]) for r in receipts] == [(1, "failed"), (2, "delivered")]
    assert "ConnectError" in receipts[0]["detail"]
    assert len(down_receiver.requests) == 1
    assert fake.delays == [0.5]  # random 0.5 x ceiling 1 s


async def test_server_errors_are_retried_with_the_same_key_until_one_is_accepted(receiver):
    receiver.script = [503, 502, 200]
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/qbus", "en")
    fake = FakeTime()
    d, receipts = dispatcher({"webhook": webhook()}, policy(fake))

    await d.dispatch(overdue([ops]))
    await d.aclose()

    assert [(r["attempt"], r["outcome"]) for r in receipts] == [(1, "failed"), (2, "failed"), (3, "delivered")]
    assert receipts[0]["detail"].startswith("HTTP 503")
    assert len(receiver.accepted()) == 1
    assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == {"obl-7f3a:step1:holder-a-qms"}
    assert len({r["body"] for r in receiver.requests}) == 1  # byte-identical on every attempt
    assert fake.delays == [0.5, 1.0]


async def test_gives_up_after_the_last_attempt_so_the_caller_can_escalate(receiver):
    receiver.default = 503
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/qbus", "en")
    fake = FakeTime()
    d, receipts = dispatcher({"webhook": webhook()}, policy(fake, max_attempts=3))

    result = await d.dispatch(overdue([ops]))
    await d.aclose()

    assert [(r["attempt"], r["outcome"]) for r in receipts] == [(1, "failed"), (2, "failed"), (3, "gave_up")]
    assert "after 3 attempts" in receipts[-1]["detail"]
    assert [x.recipient.name for x in result.gave_up] == ["holder-a-qms"]
    assert not result.reached_anyone
    assert len(receiver.requests) == 3
    assert len(fake.delays) == 2


async def test_a_client_error_gives_up_at_once(receiver):
    receiver.default = 404
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/wrong-path", "en")
    d, receipts = dispatcher({"webhook": webhook()}, policy(FakeTime()))

    result = await d.dispatch(overdue([ops]))
    await d.aclose()

    assert [(r["attempt"], r["outcome"]) for r in receipts] == [(1, "gave_up")]
    assert receipts[0]["detail"].startswith("HTTP 404")
    assert len(result.gave_up) == 1


async def test_a_recipient_without_a_configured_channel_gives_up_with_a_reason():
    d, receipts = dispatcher({}, policy(FakeTime()))
    result = await d.dispatch(overdue([Recipient("wang.fang", "email", "wang@x.example", "zh")]))
    assert result.gave_up[0].detail == "no 'email' channel configured"
    assert receipts[0]["outcome"] == "gave_up"


# --------------------------------------------------------------------------- dedupe and restart

class ledger_store(LedgerDedupeStore):
    """The worker's store: the ledger's notify_sent table (reopened like a restarted worker's)."""

    def __init__(self, folder):
        from agents.record.ledger import open_ledger

        super().__init__(open_ledger(f"sqlite:///{folder / 'ledger.db'}"))

    def close(self):
        self.ledger.close()


async def test_a_restarted_worker_does_not_page_twice(receiver, tmp_path):
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/qbus", "en")
    store = ledger_store(tmp_path)
    first, _ = dispatcher({"webhook": webhook()}, policy(FakeTime()), store)
    await first.dispatch(overdue([ops]))
    await first.aclose()
    store.close()

    # The worker restarts and replays the escalation topic from before its last commit.
    store = ledger_store(tmp_path)
    second, receipts = dispatcher({"webhook": webhook()}, policy(FakeTime()), store)
    result = await second.dispatch(overdue([ops]))
    # The next step is a new key, so it is delivered.
    step2 = await second.dispatch(overdue([ops], step=2))
    await second.aclose()
    store.close()

    assert [x.status for x in result.deliveries] == ["duplicate"]
    assert [x.status for x in step2.deliveries] == ["delivered"]
    assert [r["notification_key"] for r in receipts] == ["obl-7f3a:step2"]
    assert [json.loads(r["body"])["step"] for r in receiver.requests] == [1, 2]


async def test_the_same_notification_dispatched_twice_at_once_is_delivered_once(receiver):
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/qbus", "en")
    d, _ = dispatcher({"webhook": webhook()}, policy(FakeTime()))
    a, b = await asyncio.gather(d.dispatch(overdue([ops])), d.dispatch(overdue([ops])))
    await d.aclose()
    assert sorted(x.status for x in a.deliveries + b.deliveries) == ["delivered", "duplicate"]
    assert len(receiver.requests) == 1


async def test_one_person_on_two_channels_gets_both(receiver):
    receiver.default = 202
    pd = PagerDutyChannel(PagerDutySettings(url=f"{receiver.url}/v2/enqueue"))
    by_pager = Recipient("li.na", "pagerduty", "rk", "zh")
    by_hook = Recipient("li.na", "webhook", f"{receiver.url}/hook", "zh")
    d, _ = dispatcher({"pagerduty": pd, "webhook": webhook()}, policy(FakeTime()))
    result = await d.dispatch(overdue([by_pager, by_hook]))
    await d.aclose()
    assert [x.status for x in result.deliveries] == ["delivered", "delivered"]
    assert sorted(r["path"] for r in receiver.requests) == ["/hook", "/v2/enqueue"]


# --------------------------------------------------------------------------- acknowledgement

async def test_acknowledging_stops_a_pending_retry_at_once(receiver):
    receiver.default = 503
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/qbus", "en")
    # A real sleep of 30 s between attempts: only the acknowledgement can end it early.
    slow = RetryPolicy(base=30.0, factor=2.0, max_delay=60.0, max_attempts=5, jitter=False)
    d, receipts = dispatcher({"webhook": webhook()}, slow)

    task = asyncio.create_task(d.dispatch(overdue([ops])))
    while not receipts:
        await asyncio.sleep(0.01)
    d.acknowledge("obl-7f3a")  # the holder's QA acknowledged the obligation (incident key)
    result = await asyncio.wait_for(task, timeout=5)
    await d.aclose()

    assert [x.status for x in result.deliveries] == ["acknowledged"]
    assert [(r["attempt"], r["outcome"]) for r in receipts] == [(1, "failed")]
    assert len(receiver.requests) == 1


async def test_an_acknowledged_incident_is_not_escalated_after_a_restart(receiver, tmp_path):
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/qbus", "en")
    store = ledger_store(tmp_path)
    d, _ = dispatcher({"webhook": webhook()}, policy(FakeTime()), store)
    d.acknowledge("obl-7f3a")
    store.close()

    store = ledger_store(tmp_path)
    restarted, receipts = dispatcher({"webhook": webhook()}, policy(FakeTime()), store)
    step2 = await restarted.dispatch(overdue([ops], step=2))
    # The acknowledge notice itself still goes out.
    ack = await restarted.dispatch(overdue([ops], step=2, kind="acknowledge", key="obl-7f3a:ack"))
    await restarted.aclose()
    store.close()

    assert [x.status for x in step2.deliveries] == ["acknowledged"]
    assert [x.status for x in ack.deliveries] == ["delivered"]
    assert [json.loads(r["body"])["kind"] for r in receiver.requests] == ["acknowledge"]


# --------------------------------------------------------------------------- PagerDuty

async def test_pagerduty_trigger_acknowledge_resolve_share_one_dedup_key(receiver):
    receiver.default = 202
    pd = PagerDutyChannel(PagerDutySettings(url=f"{receiver.url}/v2/enqueue", source="qbus-test"))
    oncall = Recipient("oncall-qa", "pagerduty", "R0UTINGKEY0123456789abcdef012345", "en")
    d, receipts = dispatcher({"pagerduty": pd}, policy(FakeTime()))

    await d.dispatch(overdue([oncall], severity="critical"))
    await d.dispatch(overdue([oncall], step=2, severity="critical"))
    await d.dispatch(overdue([oncall], step=2, kind="acknowledge", key="obl-7f3a:ack"))
    await d.dispatch(overdue([oncall], step=2, kind="resolve", key="obl-7f3a:resolve"))
    await d.aclose()

    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {"obl-7f3a"}
    assert {e["routing_key"] for e in events} == {"R0UTINGKEY0123456789abcdef012345"}
    assert {r["path"] for r in receiver.requests} == {"/v2/enqueue"}
    payload = events[0]["payload"]
    assert payload["summary"] == "[qbus] Overdue: deviation DEV-2026-0042 not acknowledged by HOLDER-A"
    assert (payload["severity"], payload["source"], payload["component"], payload["group"],
            payload["class"]) == ("critical", "qbus-test", "DEV-2026-0042", "QA-HOLDERA-CMOX", "deviation")
    assert payload["custom_details"]["notification_key"] == "obl-7f3a:step1"
    assert "payload" not in events[2] and "payload" not in events[3]
    assert [r["outcome"] for r in receipts] == ["delivered"] * 4


async def test_pagerduty_rate_limit_is_retried_after_the_servers_retry_after(receiver):
    receiver.script = [429, 202]
    receiver.headers_for = {429: {"Retry-After": "3"}}
    pd = PagerDutyChannel(PagerDutySettings(url=f"{receiver.url}/v2/enqueue"))
    fake = FakeTime()
    d, receipts = dispatcher({"pagerduty": pd}, policy(fake))

    await d.dispatch(overdue([Recipient("oncall-qa", "pagerduty", "rk", "en")], severity="critical"))
    await d.aclose()

    assert [r["outcome"] for r in receipts] == ["failed", "delivered"]
    assert fake.delays == [3.0]
    assert len(receiver.accepted()) == 1


async def test_pagerduty_rejects_a_bad_event_and_the_dispatcher_gives_up(receiver):
    receiver.default = 400
    pd = PagerDutyChannel(PagerDutySettings(url=f"{receiver.url}/v2/enqueue"))
    d, receipts = dispatcher({"pagerduty": pd}, policy(FakeTime()))
    result = await d.dispatch(overdue([Recipient("oncall-qa", "pagerduty", "bad-key", "en")]))
    await d.aclose()
    assert [r["outcome"] for r in receipts] == ["gave_up"]
    assert len(result.gave_up) == 1 and len(receiver.requests) == 1


# --------------------------------------------------------------------------- e-mail

async def test_email_goes_out_in_each_recipients_language(smtp_server):
    recorder = MailRecorder()
    controller, _ = smtp_server(recorder)
    channel = EmailChannel(EmailSettings(host="127.0.0.1", port=controller.port,
                                         from_addr="qbus@cmo-x.example", starttls="auto"))
    zh = Recipient("张伟", "email", "zhang.wei@holder-a.example", "zh")
    en = Recipient("Anna Schmidt", "email", "anna@holder-a.example", "en")
    d, receipts = dispatcher({"email": channel}, policy(FakeTime()))

    await d.dispatch(overdue([zh, en]))

    by_rcpt = {rcpts[0]: msg for msg, rcpts, _ in recorder.messages}
    zh_msg, en_msg = by_rcpt["zhang.wei@holder-a.example"], by_rcpt["anna@holder-a.example"]
    assert zh_msg["Subject"] == "[qbus] 逾期：HOLDER-A 偏差 DEV-2026-0042 未确认"
    assert "HOLDER-A 未在截止时间前确认偏差 DEV-2026-0042" in zh_msg.get_content()
    assert zh_msg["Content-Language"] == "zh-CN"
    assert en_msg["Subject"] == "[qbus] Overdue: deviation DEV-2026-0042 not acknowledged by HOLDER-A"
    assert "has not acknowledged deviation DEV-2026-0042" in en_msg.get_content()
    assert zh_msg["From"] == "qbus@cmo-x.example"
    # The Message-ID is derived from the delivery key, so mail clients can dedupe a repeat.
    assert zh_msg["Message-ID"] == message_id("obl-7f3a:step1:张伟")
    assert {r["outcome"] for r in receipts} == {"delivered"}
    assert all(not used_tls for _, _, used_tls in recorder.messages)


async def test_email_uses_starttls_when_the_server_offers_it(smtp_server, tmp_path):
    recorder = MailRecorder()
    controller, cert_pem = smtp_server(recorder, tls=True, tmp=tmp_path)
    trust = ssl.create_default_context(cadata=cert_pem)
    channel = EmailChannel(EmailSettings(host="127.0.0.1", port=controller.port,
                                         from_addr="qbus@cmo-x.example", ssl_context=trust))
    d, receipts = dispatcher({"email": channel}, policy(FakeTime()))

    await d.dispatch(overdue([Recipient("张伟", "email", "zhang.wei@holder-a.example", "zh")]))

    assert [used_tls for _, _, used_tls in recorder.messages] == [True]
    assert "STARTTLS" in receipts[0]["detail"]


async def test_email_refuses_an_untrusted_certificate_and_a_server_without_tls(smtp_server, tmp_path):
    tls_controller, _ = smtp_server(MailRecorder(), tls=True, tmp=tmp_path)
    plain_recorder = MailRecorder()
    plain_controller, _ = smtp_server(plain_recorder)
    untrusting = EmailChannel(EmailSettings(host="127.0.0.1", port=tls_controller.port,
                                            from_addr="qbus@cmo-x.example"))
    strict = EmailChannel(EmailSettings(host="127.0.0.1", port=plain_controller.port,
                                        from_addr="qbus@cmo-x.example", starttls="required"))
    rcpt = Recipient("zhang.wei", "email", "zhang.wei@holder-a.example", "zh")
    n = overdue([rcpt])

    untrusted = await untrusting.deliver(n, rcpt)
    no_tls = await strict.deliver(n, rcpt)

    assert untrusted.status == "give_up" and "certificate" in untrusted.detail
    assert no_tls.status == "give_up" and "does not offer STARTTLS" in no_tls.detail
    assert plain_recorder.attempts == 0


async def test_email_temporary_failure_is_retried_and_a_permanent_one_gives_up(smtp_server):
    recorder = MailRecorder(replies=["451 4.3.0 Mailbox busy, try later"])
    controller, _ = smtp_server(recorder)
    channel = EmailChannel(EmailSettings(host="127.0.0.1", port=controller.port,
                                         from_addr="qbus@cmo-x.example"))
    d, receipts = dispatcher({"email": channel}, policy(FakeTime()))
    await d.dispatch(overdue([Recipient("zhang.wei", "email", "zhang.wei@holder-a.example", "zh")]))
    assert [r["outcome"] for r in receipts] == ["failed", "delivered"]
    assert "451" in receipts[0]["detail"]
    assert len(recorder.messages) == 1

    recorder.replies = ["550 5.1.1 No such user"]
    receipts.clear()
    result = await d.dispatch(overdue([Recipient("nobody", "email", "nobody@holder-a.example", "en")]))
    assert [r["outcome"] for r in receipts] == ["gave_up"]
    assert "550" in result.gave_up[0].detail


# --------------------------------------------------------------------------- metrics wiring

async def test_attempts_are_counted_by_channel_and_outcome(receiver):
    from prometheus_client import CollectorRegistry

    from agents.worker.metrics import QbusMetrics

    registry = CollectorRegistry()
    receiver.script = [503]
    ops = Recipient("holder-a-qms", "webhook", f"{receiver.url}/qbus", "en")
    d, _ = dispatcher({"webhook": webhook()}, policy(FakeTime()), metrics=QbusMetrics(registry))
    await d.dispatch(overdue([ops]))
    await d.aclose()

    def count(outcome: str) -> float | None:
        return registry.get_sample_value("qbus_notification_attempts_total",
                                         {"channel": "webhook", "outcome": outcome})

    assert (count("failed"), count("delivered"), count("gave_up")) == (1.0, 1.0, None)


def test_delivery_key_names_the_step_and_the_person():
    n = overdue([Recipient("li.na", "webhook", "http://127.0.0.1:1/x", "zh")])
    assert delivery_key(n, n.recipients[0]) == "obl-7f3a:step1:li.na"
    with pytest.raises(ValueError, match="unknown channel"):
        Recipient("li.na", "sms", "+86...", "zh")  # type: ignore[arg-type]


def test_a_step_that_reached_nobody_raises_the_next_step_at_once():
    """Issue 7: when every delivery of a step gave up, the next step is raised now, with the id the
    obligation engine would give it (so the engine's own firing later pages nobody twice)."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from agents.core.agreements import AgreementSet
    from agents.core.emitted import derived_id
    from agents.worker.notify.service import NotifierService
    from tests.conftest import ROOT

    agreements = AgreementSet.load_dir(ROOT / "tests/fixtures/e2e_agreements")
    service = NotifierService(agreements, dispatcher=None, settings=None)
    now = datetime.now(timezone.utc)
    escalation = {"event_id": "e1", "event_type": "escalation.raised", "agreement_id": "QA-TEST-E2E",
                  "occurred_at": now, "item_ref": "DEV-1", "holder_id": "HOLDER-A", "manufacturer_id": "CMO-X",
                  "site_id": "SITE-1", "product": {"code": "A-INJ-1", "generic_name": "x", "dosage_form": "injection",
                                                   "sterile": True},
                  "payload": {"obligation_id": "ob-1", "step": 1, "role": "communication", "channel": "EMAIL",
                              "page": False, "reason": "overdue", "due_at": now, "of_steps": 3}}
    failed = SimpleNamespace(deliveries=[SimpleNamespace(recipient=SimpleNamespace(name="Li"),
                                                         detail="550 mailbox unavailable")])
    following = service.next_step(escalation, failed)
    assert following["event_id"] == derived_id("escalation", "ob-1", 2)
    assert following["payload"]["step"] == 2 and following["payload"]["role"] == "head_of_quality"
    assert "Li: 550 mailbox unavailable" in following["payload"]["reason"]
    top = dict(escalation, payload=dict(escalation["payload"], step=3))
    assert service.next_step(top, failed) is None  # nothing above the top of the ladder


def test_a_suspension_directive_pages_on_call_and_mails_both_heads_of_quality():
    """Art. 5: a significant risk pages on-call at once (the ladder's paging step) and tells the
    heads of quality of both parties."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from agents.core.agreements import AgreementSet
    from agents.worker.notify.service import NotifierService
    from tests.conftest import ROOT

    settings = SimpleNamespace(pagerduty_routing_key=None, notify_webhook_url=None)
    service = NotifierService(AgreementSet.load_dir(ROOT / "tests/fixtures/e2e_agreements"), None, settings)
    directive = {"event_id": "d1", "event_type": "directive.issued", "agreement_id": "QA-TEST-E2E",
                 "occurred_at": datetime.now(timezone.utc), "item_ref": "DEV-7", "classification": "CRITICAL",
                 "holder_id": "HOLDER-A", "manufacturer_id": "CMO-X", "site_id": "SITE-1", "batch_no": None,
                 "line_id": "LINE-1", "product": {"code": "A-INJ-1", "generic_name": "Examplamide Injection",
                                                  "dosage_form": "injection", "sterile": True},
                 "payload": {"directive_id": "dir-1", "directive": "SUSPEND_PRODUCTION", "line_id": "LINE-1",
                             "product_code": "A-INJ-1", "reason": "critical deviation with product impact",
                             "article": "Art. 5", "triggered_by_event_id": "e0"}}
    notification = service.for_directive(directive)
    reached = {(r.channel, r.name) for r in notification.recipients}
    assert ("pagerduty", "Night Owl") in reached                    # on call, around the clock
    assert {("email", "Holder HoQ"), ("email", "CMO HoQ")} <= reached
    assert notification.page and notification.kind == "directive"
    assert "suspended" in notification.title_en and "暂停生产" in notification.title_zh
    lifted = dict(directive, payload=dict(directive["payload"], directive="RESUME_PRODUCTION"))
    assert service.for_directive(lifted) is None
