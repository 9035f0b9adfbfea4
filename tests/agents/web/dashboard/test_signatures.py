"""Decisions are electronic signatures: stated, reviewed, signed with the password, verifiable."""
import json
import re

import pytest

from agents.web.dashboard.personal_keys import PersonalKeys
from streams.publisher import PublishError
from streams.signing import KeyRegistry, verify_decision
from tests.agents.web.dashboard.conftest import PASSWORD, csrf_token, dash_of, logged_in
from tests.agents.web.dashboard.factory import A, event, later, obligation

DRAFT = re.compile(r'name="draft" value="([^"]+)"')
CHANGE = f"/agreements/{A}/items/CHG-A-1"


@pytest.fixture
def change(ledger):
    proposed = event("change", "proposed", A, "CHG-A-1")
    ledger.append([proposed, obligation("opened", proposed, kind="APPROVE", due_at=later(20))])
    return proposed


async def state_decision(client, page, meaning, reason=""):
    """Step 1: the meaning and the reason; returns the response (the review page when all is well)."""
    return await client.post(page + "/decide", data={"csrf_token": await csrf_token(client, page), "meaning": meaning,
                                                     "reason": reason}, allow_redirects=False)


async def sign_draft(client, page, review_html, password=PASSWORD):
    """Step 2: the password on the review page."""
    draft = DRAFT.search(review_html).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', review_html).group(1)
    return await client.post(page + "/sign", data={"csrf_token": token, "draft": draft, "password": password},
                             allow_redirects=False)


@pytest.mark.clause("Art. 9")
async def test_approval_is_reviewed_then_signed_with_the_password(make_client, change, bus, settings):
    client = await logged_in(make_client, "head.a")
    # The review page shows what will be signed and sends nothing yet.
    review = await state_decision(client, CHANGE, "APPROVED", "3 batches on stability")
    html = await review.text()
    assert review.status == 200 and bus.sent == []
    for shown in ("王芳 Wang Fang", "head.a", "HOLDER-A", "change.approved", "3 batches on stability", "CHG-A-1"):
        assert shown in html, shown
    signed = await sign_draft(client, CHANGE, html)
    assert signed.status == 303
    (sent,) = bus.sent
    assert sent["event_type"] == "change.approved" and sent["payload"]["decision_reason"] == "3 batches on stability"
    assert sent["payload"]["responds_to_event_id"] == change["event_id"]
    block = sent["esignature"]
    assert (block["signer_name"], block["signer_user_id"], block["signer_party_id"], block["meaning"],
            block["reason"], block["authentication"]) == ("王芳 Wang Fang", "head.a", "HOLDER-A", "APPROVED",
                                                          "3 batches on stability", "password")
    # The user's own key signed it, and the bus finds that key in the file the dashboard writes.
    registry = KeyRegistry.load(settings.user_keys_path)
    assert registry.get(block["key_id"]).instance == "user:head.a"
    assert verify_decision(sent, registry).ok


async def test_a_wrong_password_signs_nothing_and_counts_as_a_failed_login(make_client, change, bus):
    client = await logged_in(make_client, "head.a")
    review = await (await state_decision(client, CHANGE, "APPROVED")).text()
    refused = await sign_draft(client, CHANGE, review, password="not my password")
    assert refused.status == 401 and "Wrong password" in await refused.text() and bus.sent == []
    assert dash_of(client).throttle.pairs.retry_after("head.a|127.0.0.1") == 0  # one failure: not yet throttled
    for _ in range(4):
        await sign_draft(client, CHANGE, review, password="not my password")
    throttled = await sign_draft(client, CHANGE, review)  # the right password, but too late
    assert throttled.status == 429 and bus.sent == []


async def test_the_right_password_after_a_typo_still_signs(make_client, change, bus):
    client = await logged_in(make_client, "head.a")
    review = await (await state_decision(client, CHANGE, "APPROVED")).text()
    retry = await (await sign_draft(client, CHANGE, review, password="typo typo typo")).text()
    assert (await sign_draft(client, CHANGE, retry)).status == 303 and len(bus.sent) == 1


@pytest.mark.clause("Art. 9")
async def test_rejecting_needs_a_reason(make_client, change, bus):
    client = await logged_in(make_client, "qa.a")
    response = await state_decision(client, CHANGE, "REJECTED", "  ")
    assert response.status == 400 and "A reason is required" in await response.text() and bus.sent == []
    review = await (await state_decision(client, CHANGE, "REJECTED", "No comparability data")).text()
    assert (await sign_draft(client, CHANGE, review)).status == 303
    assert bus.sent[0]["event_type"] == "change.rejected"
    assert bus.sent[0]["esignature"]["meaning"] == "REJECTED"
    assert bus.sent[0]["payload"]["decision_reason"] == "No comparability data"


async def test_a_meaning_the_decision_cannot_have_is_refused(make_client, change, bus):
    client = await logged_in(make_client, "qa.a")
    for meaning in ("RELEASED", "", "APPROVED\n"):
        assert (await state_decision(client, CHANGE, meaning)).status == 400
    assert bus.sent == []


async def test_a_draft_is_used_once_and_only_by_its_session(make_client, change, bus):
    client = await logged_in(make_client, "head.a")
    review = await (await state_decision(client, CHANGE, "APPROVED")).text()
    # Another session of the same user cannot sign this session's draft.
    other = await logged_in(make_client, "head.a")
    stolen = await other.post(CHANGE + "/sign", data={"csrf_token": await csrf_token(other, CHANGE),
                                                      "draft": DRAFT.search(review).group(1), "password": PASSWORD})
    assert stolen.status == 409 and bus.sent == []
    assert (await sign_draft(client, CHANGE, review)).status == 303
    assert (await sign_draft(client, CHANGE, review)).status == 409 and len(bus.sent) == 1


async def test_an_item_that_changed_under_review_is_not_signed(make_client, change, bus, ledger):
    client = await logged_in(make_client, "head.a")
    review = await (await state_decision(client, CHANGE, "APPROVED")).text()
    ledger.append([event("change", "classified", A, "CHG-A-1", payload={"description": "scope widened"})])
    await dash_of(client).poll_once()
    response = await sign_draft(client, CHANGE, review)
    assert response.status == 409 and "changed while you were reviewing" in await response.text()
    assert bus.sent == []


@pytest.mark.parametrize("username", ["auditor.a", "qa.cmox"])
async def test_only_the_holders_acting_roles_may_decide(make_client, change, bus, username):
    client = await logged_in(make_client, username)
    assert 'data-testid="decide"' not in await (await client.get(CHANGE)).text()
    assert (await state_decision(client, CHANGE, "APPROVED")).status == 403 and bus.sent == []


async def test_a_bus_failure_is_shown_and_nothing_is_marked_sent(make_client, change, bus):
    bus.fail = PublishError("broker did not confirm")
    client = await logged_in(make_client, "qa.a")
    review = await (await state_decision(client, CHANGE, "APPROVED")).text()
    response = await sign_draft(client, CHANGE, review)
    assert response.status == 502 and "nothing was recorded" in await response.text()
    assert not dash_of(client).pending


async def test_the_item_page_shows_the_signature_block(make_client, change, bus, ledger):
    client = await logged_in(make_client, "head.a")
    review = await (await state_decision(client, CHANGE, "APPROVED", "with the agreed validation")).text()
    await sign_draft(client, CHANGE, review)
    ledger.append(bus.sent)
    await dash_of(client).poll_once()
    html = await (await client.get(CHANGE)).text()
    block = html.split('data-testid="signature-block"')[1].split("</dl>")[0]
    assert "王芳 Wang Fang" in block and "Approved" in block and "with the agreed validation" in block
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", block)          # local time with its offset
    assert bus.sent[0]["esignature"]["key_id"] in block and "✓ verified" in block


@pytest.mark.clause("Art. 5")
async def test_a_capa_is_approved_with_a_signature(make_client, ledger, bus):
    dev = event("deviation", "reported", A, "DEV-A-7")
    capa = event("deviation", "capa_proposed", A, "DEV-A-7", payload={"capa": "Replace dosing disc; PM every 3 months"})
    ledger.append([dev, capa])
    client = await logged_in(make_client, "qa.a")
    page = f"/agreements/{A}/items/DEV-A-7"
    queue = await (await client.get("/queue")).text()
    assert "DEV-A-7" in queue.split('data-testid="queue-capa"')[1].split("</table>")[0]
    review = await (await state_decision(client, page, "REVIEWED", "accepted as proposed")).text()
    assert (await sign_draft(client, page, review)).status == 303
    (sent,) = bus.sent
    assert sent["event_type"] == "deviation.capa_approved" and sent["esignature"]["meaning"] == "REVIEWED"
    assert sent["payload"]["responds_to_event_id"] == capa["event_id"]
    ledger.append(bus.sent)
    await dash_of(client).poll_once()
    assert 'data-testid="decide"' not in await (await client.get(page)).text()


@pytest.mark.clause("Art. 12")
async def test_market_release_is_signed_by_the_head_of_quality_and_names_what_is_open(make_client, ledger, bus):
    release = event("batch_release", "factory_released", A, "REL-1", batch_no="2611-09", classification=None)
    open_dev = event("deviation", "reported", A, "DEV-A-9", batch_no="2611-09")
    ledger.append([release, open_dev])
    page = f"/agreements/{A}/items/REL-1"
    qa = await logged_in(make_client, "qa.a")
    assert 'data-testid="decide"' not in await (await qa.get(page)).text()     # QA staff do not release
    head = await logged_in(make_client, "head.a")
    # Art. 12: the batch has an open deviation; releasing it anyway needs a stated reason.
    assert (await state_decision(head, page, "RELEASED")).status == 400
    review = await (await state_decision(head, page, "RELEASED", "deviation assessed: no impact")).text()
    assert "DEV-A-9" in review
    assert (await sign_draft(head, page, review)).status == 303
    (sent,) = bus.sent
    assert sent["event_type"] == "batch_release.market_released" and sent["esignature"]["meaning"] == "RELEASED"
    assert sent["payload"]["related_item_refs"] == ["DEV-A-9"]
    assert sent["payload"]["market_released_by"] == "王芳 Wang Fang <head.a>"


def test_the_private_key_is_stored_encrypted_and_follows_a_password_change(tmp_path, users):
    keys = PersonalKeys(users.path, tmp_path / "user-keys.json", users.hasher)
    first = keys.unlock("qa.a", PASSWORD)
    assert first.created and keys.unlock("qa.a", PASSWORD).key_id == first.key_id
    stored = keys._conn.execute("SELECT private_key_pem FROM user_signing_keys").fetchone()[0]
    assert stored.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    # A password change re-encrypts it: the same key opens with the new password only.
    assert keys.rewrap("qa.a", PASSWORD, "a brand new password")
    assert keys.unlock("qa.a", "a brand new password").key_id == first.key_id
    # After an operator's reset the key cannot be opened: it is retired and a new one is made,
    # while the old public key stays published for the decisions it signed.
    again = keys.unlock("qa.a", "the operator's reset one")
    assert again.created and again.key_id != first.key_id
    published = json.loads((tmp_path / "user-keys.json").read_text())["keys"]
    assert {k["key_id"] for k in published} == {first.key_id, again.key_id}
    assert {k["instance"] for k in published} == {"user:qa.a"}


async def test_a_draft_left_too_long_must_be_stated_again(make_client, change, bus):
    from datetime import timedelta

    from tests.agents.web.dashboard.factory import now

    moment = [now()]
    client = await logged_in(make_client, "head.a", clock=lambda: moment[0])
    review = await (await state_decision(client, CHANGE, "APPROVED")).text()
    moment[0] += timedelta(minutes=16)  # the review page waited longer than signature_draft_ttl_s
    response = await sign_draft(client, CHANGE, review)
    assert response.status == 409 and "no longer waiting to be signed" in await response.text() and bus.sent == []
