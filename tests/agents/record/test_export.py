"""The inspection package (Art. 14, remote audit): export one agreement's period, verify it offline,
and read it as a person (report.html, zh/en)."""
import json
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from agents.record import export as export_module
from agents.record.bus_key import BusKey
from agents.record.verify_package import verify_package as check_package
from agents.record.ledger import open_ledger
from agents.cli.ledger import main as qbus
from streams.signing import KeyRegistry, generate_keypair, sign_event
from tests.agents.record.test_ledger import AGREEMENT, OTHER, T0, make_dead_letter, make_event

# The ledger records "now" and a package covers whole local days: take the days around today, so
# the tests pass at every hour whatever the zone of the report (UTC and Shanghai differ by a day
# for eight hours of every day).
TODAY = datetime.now(timezone.utc).date()
BUS_KEY = BusKey(generate_keypair()[0])


def export_package(*args, **kw):
    """Packages as the bus writes them: sealed with its own key."""
    kw.setdefault("seal_with", BUS_KEY)
    return export_module.export_package(*args, **kw)


def verify_package(folder, **kw):
    """Checked as an inspector would, with the bus key's fingerprint filed beforehand."""
    kw.setdefault("bus_key", BUS_KEY.key_id)
    return check_package(folder, **kw)
FIRST, LAST = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
DEV = "DEV-2026-0042"
HOURS = timedelta(hours=1)


def deviation_story(private_key):
    """A major deviation on P-001: reported (signed), acknowledged by the holder's QA on time, not
    closed in time (breach, escalation, page delivered); a change on P-002 approved by the holder;
    and one refused record."""
    return [
        sign_event(make_event("deviation.reported", DEV, payload={"title": "灌装间压差偏低 low pressure in filling room"}),
                   private_key, "k1"),
        make_event("obligation.opened", DEV, role="BUS", instance="qbus", payload={
            "obligation_id": "OB-1", "kind": "ACKNOWLEDGE", "responsible_role": "HOLDER", "responsible_party_id": "HOLDERA",
            "description": "确认收到偏差 Acknowledge receipt of DEV-2026-0042", "due_at": T0 + 24 * HOURS}),
        make_event("obligation.opened", DEV, role="BUS", instance="qbus", payload={
            "obligation_id": "OB-2", "kind": "CLOSE", "responsible_role": "MANUFACTURER", "responsible_party_id": "CMOX",
            "description": "Close deviation DEV-2026-0042", "due_at": T0 + 720 * HOURS}),
        make_event("deviation.acknowledged", DEV, at=T0 + 2 * HOURS, role="HOLDER", user="李娜 Li Na", payload={}),
        make_event("obligation.satisfied", DEV, at=T0 + 2 * HOURS, role="BUS", instance="qbus",
                   payload={"obligation_id": "OB-1"}),
        make_event("obligation.breached", DEV, at=T0 + 720 * HOURS, role="BUS", instance="qbus",
                   payload={"obligation_id": "OB-2"}),
        make_event("escalation.raised", DEV, at=T0 + 720 * HOURS, role="BUS", instance="qbus", payload={
            "obligation_id": "OB-2", "step": 1, "role": "QA head", "recipient": "oncall-qa", "channel": "pagerduty",
            "page": True}),
        make_event("delivery.delivered", DEV, at=T0 + 721 * HOURS, role="BUS", instance="qbus", payload={
            "channel": "pagerduty", "recipient": "oncall-qa 张伟", "outcome": "DELIVERED"}),
        make_event("change.proposed", "CC-2026-0007", product="P-002", payload={"title": "新增供应商 new supplier"}),
        make_event("change.approved", "CC-2026-0007", at=T0 + 72 * HOURS, product="P-002", role="HOLDER",
                   user="王伟 Wang Wei", payload={}),
        make_dead_letter(),
    ]


@pytest.fixture
def signer():
    private, public = generate_keypair()
    registry = KeyRegistry()
    registry.register("qms-cmox-01", "k1", public)
    return private, registry


@pytest.fixture
def ledger(tmp_path, signer):
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        opened.append(deviation_story(signer[0]))
        opened.append([make_event(agreement=OTHER, item_ref="DEV-HOLDERB-SECRET")])  # another holder's data
        yield opened


@pytest.fixture
def package(ledger, tmp_path, signer):
    out = tmp_path / "package"
    summary = export_package(ledger, AGREEMENT, FIRST, LAST, out, keys=signer[1])
    assert summary.events == 10 and summary.dead_letters == 1 and summary.ledger_ok
    return out


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_then_verify_offline(package):
    assert sorted(p.name for p in package.iterdir()) == [
        "dead_letters.jsonl", "events.jsonl", "keys.json", "manifest.json", "report.html", "seal.json"]
    report = verify_package(package)
    assert report.ok, report.summary()
    assert report.records == 11 and dict(report.kinds) == {"event": 10, "dead_letter": 1}
    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["agreement_id"] == AGREEMENT and manifest["records"]["total"] == 11
    assert manifest["chain"]["last_hash"] == manifest["chain"]["head_at_export"]["hash"]
    assert set(manifest["files"]) == {"events.jsonl", "dead_letters.jsonl", "keys.json", "report.html"}


def test_the_package_holds_this_agreement_only(package):
    # Art. 10: holder B's records stay out of holder A's package.
    everything = (package / "events.jsonl").read_text() + (package / "report.html").read_text()
    assert "DEV-HOLDERB-SECRET" not in everything and OTHER not in everything
    assert {r["agreement_id"] for r in read_lines(package / "events.jsonl")} == {AGREEMENT}


def test_a_changed_byte_in_events_jsonl_fails_naming_the_file(package):
    path = package / "events.jsonl"
    path.write_bytes(path.read_bytes().replace("压差偏低".encode(), "压差正常".encode(), 1))
    report = verify_package(package)
    assert not report.ok
    assert report.first_problem.file == "events.jsonl" and "SHA-256 does not match" in report.first_problem.detail
    # The chain walk also names the record that changed.
    edited = [p for p in report.problems if p.record_key]
    assert edited[0].kind == "edited" and edited[0].file == "events.jsonl" and edited[0].chain_seq == 1


def test_a_removed_line_fails(package):
    path = package / "events.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")
    kinds = {(p.kind, p.file) for p in verify_package(package).problems}
    assert ("missing", "events.jsonl") in kinds


def test_signatures_are_rechecked_offline_with_the_shipped_keys(package):
    assert json.loads((package / "keys.json").read_text())["keys"][0]["key_id"] == "k1"
    _, stranger = generate_keypair()
    wrong = KeyRegistry()
    wrong.register("qms-cmox-01", "k1", stranger)
    problem = verify_package(package, keys=wrong).first_problem
    assert problem.kind == "signature" and "does not match" in problem.detail


def test_a_later_slice_of_the_chain_verifies_on_its_own(ledger, tmp_path):
    time.sleep(0.01)
    start = datetime.now(timezone.utc)
    ledger.append([make_event("deviation.closed", DEV, at=T0 + 800 * HOURS, payload={})])
    out = tmp_path / "slice"
    summary = export_package(ledger, AGREEMENT, start, start + timedelta(days=1), out)
    assert summary.records == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chain"]["first_chain_seq"] == 12 and manifest["chain"]["anchor_prev_hash"] != "0" * 64
    assert verify_package(out).ok


def test_report_has_both_languages_and_the_item_timeline(package):
    html = (package / "report.html").read_text(encoding="utf-8")
    for label in ("偏差 Deviation", "变更 Change", "检验结果超标/超趋势 OOS/OOT result", "沟通清单 Communication list",
                  "逾期未履行 Breaches", "升级 Escalations", "确认与批准 Acknowledgements and approvals"):
        assert label in html
    # The deviation's timeline in the order things happened, in Shanghai time (T0 = 01:30 UTC).
    timeline = html[html.index("时间线 Timeline", html.index(f"{DEV}</span> —")):]
    steps = ["偏差报告 Deviation reported", "偏差确认收悉 Deviation acknowledged", "义务逾期未履行 Obligation breached",
             "升级发起 Escalation raised"]
    positions = [timeline.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "2026-03-02 09:30:00" in html and "2026-03-02 11:30:00" in html
    # Who acknowledged and approved what, and when; and the obligations' outcome.
    assert "李娜 Li Na" in html and "王伟 Wang Wei" in html
    assert "已履行 satisfied 2026-03-02 11:30:00" in html and "逾期未履行 breached 2026-04-01 09:30:00" in html
    assert "确认收悉 Acknowledge — 确认收到偏差" in html and "持有人 Holder · HOLDERA" in html
    assert "oncall-qa 张伟" in html  # the delivery receipt: who was paged
    assert "MISSING_SIGNATURE" in html  # the refused record, with its reason
    assert "@media print" in html


def test_report_in_another_time_zone(ledger, tmp_path):
    export_package(ledger, AGREEMENT, FIRST, LAST, tmp_path / "utc", tz="UTC")
    assert "2026-03-02 01:30:00" in (tmp_path / "utc" / "report.html").read_text(encoding="utf-8")


def test_export_refuses_a_folder_that_is_not_empty(ledger, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        export_package(ledger, AGREEMENT, FIRST, LAST, tmp_path / "busy")


def test_cli_export_and_verify_package(ledger, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    out = tmp_path / "cli-package"
    assert qbus(["export", "--agreement", AGREEMENT, "--from", FIRST.isoformat(), "--to", LAST.isoformat(),
                 str(out), "--ledger", url]) == 0
    assert "sealed by the bus key ed25519:" in capsys.readouterr().out
    assert qbus(["ledger", "verify", "--package", str(out)]) == 0
    assert "OK: 11 records" in capsys.readouterr().out
    path = out / "dead_letters.jsonl"
    path.write_text(path.read_text().replace("MISSING_SIGNATURE", "MISSING_SIGNATURF"))
    assert qbus(["ledger", "verify", "--package", str(out)]) == 1
    assert "dead_letters.jsonl" in capsys.readouterr().out


def test_an_empty_period_gives_an_empty_verifiable_package(ledger, tmp_path):
    export_package(ledger, AGREEMENT, date(2020, 1, 1), date(2020, 1, 31), tmp_path / "empty")
    report = verify_package(tmp_path / "empty")
    assert report.ok and report.records == 0


# --- Art. 8: a holder's package leaves out the manufacturer's business-confidential fields -------------

CONFIDENTIAL = {"payload.commercial_volume", "payload.formulation_details", "payload.new_product_code",
                "payload.new_product_holder", "payload.new_product_name", "payload.note"}
SECRETS = ("HOLDER-B", "Example injection 1 mL:0.25 mg", "30 batches per year", "pH 4.0 citrate buffer",
           "launch slot reserved for the new customer")


def coline_notice():
    """A co-line notice under holder A's agreement: four schema-marked confidential fields, and one
    more the publisher lists itself (payload.note)."""
    from schemas import default_schemas
    from streams.validation import validate_event
    from tests.support.events import example

    event = example("coline_change", agreement_id=AGREEMENT, confidential_fields=["payload.note"])
    event["payload"]["note"] = "launch slot reserved for the new customer"
    _, value = validate_event(event, default_schemas())
    return value


@pytest.fixture
def coline_ledger(ledger):
    notice = coline_notice()
    ledger.append([notice])
    # A record after it, so that its hash is what the next record links to.
    ledger.append([make_event("obligation.opened", notice["item_ref"], role="BUS", instance="qbus", payload={
        "obligation_id": "OB-9", "kind": "ACKNOWLEDGE", "responsible_role": "HOLDER", "responsible_party_id": "HOLDERA",
        "description": "确认收到共线变更通知 Acknowledge the co-line notice", "due_at": T0 + 24 * HOURS})])
    return ledger, notice


def package_text(folder):
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))


def notice_line(folder, notice):
    return next(r for r in read_lines(folder / "events.jsonl") if r["record_key"] == notice["event_id"])


def rewrite(folder, name, change):
    """Edit a file of the package, re-pin it in the manifest and even re-seal the manifest with the
    bus's key, as someone covering their tracks with a stolen key would: the chain checks must
    still find the edit (the seal alone would, see the seal tests)."""
    from agents.record.export import sha256_file
    from agents.record.package_seal import seal_package

    path = folder / name
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][name].update(sha256=sha256_file(path), bytes=path.stat().st_size)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    seal_package(folder, BUS_KEY)


def test_holder_package_leaves_out_confidential_fields_and_verifies_with_a_note(coline_ledger, tmp_path):
    ledger, notice = coline_ledger
    out = tmp_path / "holder"
    summary = export_package(ledger, AGREEMENT, FIRST, LAST, out)
    assert summary.audience == "holder" and summary.redacted == 1 and summary.records == 13
    everything = package_text(out)
    for secret in SECRETS:
        assert secret not in everything
    line = notice_line(out, notice)
    assert line["redacted"] == sorted(CONFIDENTIAL)
    payload = line["body"]["payload"]
    assert all(payload[p.split(".")[1]] is None for p in CONFIDENTIAL)
    # What every holder on the line may read stays.
    assert payload["risk_assessment_conclusion"] == notice["payload"]["risk_assessment_conclusion"]
    assert payload["control_measures"] == notice["payload"]["control_measures"]
    # The redacted event still fits its schema.
    from schemas import default_schemas
    from streams.validation import validate_event
    validate_event(line["body"], default_schemas())
    # Its stored hash and link are kept.
    stored = ledger.get(notice["event_id"])
    assert (line["hash"], line["prev_hash"]) == (stored.hash, stored.prev_hash)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["audience"] == "holder"
    assert manifest["redaction"]["records"] == 1 and "Art. 8" in manifest["redaction"]["basis"]
    assert manifest["redaction"]["fields"] == {p: 1 for p in sorted(CONFIDENTIAL)}
    assert manifest["redaction"]["redacted_records"][0]["record_key"] == notice["event_id"]

    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("(confidential fields withheld / 已删除商业保密信息)") >= 2  # the item's row and the integrity section
    assert notice["item_ref"] in html and "共线生产变更 Co-line change" in html

    report = verify_package(out)
    assert report.ok, report.summary()
    assert report.records == 13
    note = " ".join(report.notes)
    assert "1 record had business-confidential fields removed (Art. 8)" in note
    assert "content hash cannot be recomputed" in note and "chain links around them hold" in note
    assert "qbus ledger verify" in note


def test_full_package_has_the_originals_and_verifies_as_before(coline_ledger, tmp_path):
    ledger, notice = coline_ledger
    out = tmp_path / "full"
    summary = export_package(ledger, AGREEMENT, FIRST, LAST, out, audience="full")
    assert summary.audience == "full" and summary.redacted == 0
    line = notice_line(out, notice)
    assert "redacted" not in line and line["body"]["payload"]["new_product_holder"] == "HOLDER-B"
    everything = package_text(out)
    for secret in SECRETS:
        assert secret in everything
    assert "confidential fields withheld" not in (out / "report.html").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["audience"] == "full" and manifest["redaction"]["records"] == 0
    report = verify_package(out)
    assert report.ok and report.records == 13 and not report.notes, report.summary()


def test_an_unknown_audience_is_refused(ledger, tmp_path):
    with pytest.raises(ValueError, match="audience"):
        export_package(ledger, AGREEMENT, FIRST, LAST, tmp_path / "x", audience="everyone")


def test_holder_package_still_catches_an_edited_record_that_was_not_redacted(coline_ledger, tmp_path):
    out = tmp_path / "holder"
    export_package(coline_ledger[0], AGREEMENT, FIRST, LAST, out)
    rewrite(out, "events.jsonl", lambda text: text.replace("压差偏低", "压差正常", 1))
    report = verify_package(out)
    assert not report.ok
    edited = [p for p in report.problems if p.record_key]
    assert edited[0].kind == "edited" and edited[0].chain_seq == 1 and "does not match its hash" in edited[0].detail


def test_a_changed_hash_on_a_redacted_record_breaks_the_link_to_the_next(coline_ledger, tmp_path):
    ledger, notice = coline_ledger
    out = tmp_path / "holder"
    export_package(ledger, AGREEMENT, FIRST, LAST, out)
    stored = ledger.get(notice["event_id"])
    forged = "f" * 64
    rewrite(out, "events.jsonl", lambda text: text.replace(f'"hash":"{stored.hash}"', f'"hash":"{forged}"', 1))
    assert notice_line(out, notice)["hash"] == forged
    report = verify_package(out)
    assert not report.ok
    problem = report.first_problem
    assert problem.kind == "missing" and problem.chain_seq == stored.chain_seq + 1
    assert "matches no record here" in problem.detail
    assert not any("chain links around them hold" in n for n in report.notes)


def test_a_changed_link_on_a_redacted_record_fails(coline_ledger, tmp_path):
    ledger, notice = coline_ledger
    out = tmp_path / "holder"
    export_package(ledger, AGREEMENT, FIRST, LAST, out)
    stored = ledger.get(notice["event_id"])
    rewrite(out, "events.jsonl", lambda text: text.replace(f'"prev_hash":"{stored.prev_hash}"',
                                                           f'"prev_hash":"{"e" * 64}"', 1))
    problem = verify_package(out).first_problem
    assert problem.kind == "missing" and problem.record_key == notice["event_id"]


def test_a_redacted_record_edited_is_caught_by_the_file_hash(coline_ledger, tmp_path):
    # Its content hash cannot be recomputed, so the manifest's SHA-256 of events.jsonl is what pins it.
    out = tmp_path / "holder"
    export_package(coline_ledger[0], AGREEMENT, FIRST, LAST, out)
    path = out / "events.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace('"risk_acceptable":true', '"risk_acceptable":false', 1),
                    encoding="utf-8")
    problem = verify_package(out).first_problem
    assert problem.file == "events.jsonl" and "SHA-256 does not match" in problem.detail


def test_marking_a_record_redacted_does_not_excuse_it_from_the_hash_check(coline_ledger, tmp_path):
    out = tmp_path / "holder"
    export_package(coline_ledger[0], AGREEMENT, FIRST, LAST, out)

    def mark_first(text):
        lines = text.splitlines()
        first = json.loads(lines[0])
        first["body"]["payload"]["title"] = "压差正常 pressure fine"
        first["redacted"] = ["payload.title"]
        return "\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n"
    rewrite(out, "events.jsonl", mark_first)
    problems = verify_package(out).problems
    assert any(p.kind == "edited" and p.chain_seq == 1 and "manifest does not list" in p.detail for p in problems)
    assert any(p.kind == "edited" and p.chain_seq == 1 and "does not match its hash" in p.detail for p in problems)


def test_a_full_package_with_a_redaction_mark_fails(coline_ledger, tmp_path):
    ledger, notice = coline_ledger
    out = tmp_path / "full"
    export_package(ledger, AGREEMENT, FIRST, LAST, out, audience="full")
    key = notice["event_id"]

    def mark(text):
        return "".join(line.replace('{"agreement_id"', '{"redacted":["payload.note"],"agreement_id"', 1)
                       if key in line else line for line in text.splitlines(keepends=True))
    rewrite(out, "events.jsonl", mark)
    problems = verify_package(out).problems
    assert any(p.record_key == key and "full package" in p.detail for p in problems)


# --- a holder's package leaves out the raw bytes of refused messages ------------------------------------
# A refused co-line notice would otherwise hand the manufacturer's confidential fields to the holder.

RAW_VALUE, RAW_KEY = "AAAAAAFnYXJiYWdl", "UUF8REVW"  # make_dead_letter()'s bytes, as base64
BYTES_WITHHELD = "(original bytes withheld / 原始报文已隐去)"


def dead_letter_line(folder):
    (line,) = read_lines(folder / "dead_letters.jsonl")
    return line


def test_holder_package_withholds_dead_letter_bytes_and_verifies(ledger, package):
    line = dead_letter_line(package)
    assert line["redacted"] == ["original_value", "original_key"]
    body = line["body"]
    assert body["original_value"] is None and body["original_key"] is None
    # What the holder needs to act on stays.
    assert body["reason_code"] == "MISSING_SIGNATURE" and body["reason"] == "missing signature"
    assert (body["original_topic"], body["original_partition"], body["original_offset"]) == ("qc.intake.deviation", 1, 42)
    assert body["agreement_id"] == AGREEMENT and body["received_at"] and "event_id" in body
    stored = ledger.get(line["record_key"])
    assert (line["hash"], line["prev_hash"]) == (stored.hash, stored.prev_hash)
    everything = package_text(package)
    assert RAW_VALUE not in everything and RAW_KEY not in everything

    manifest = json.loads((package / "manifest.json").read_text())
    assert manifest["redaction"]["records"] == 0  # events: none of this story's events is confidential
    letters = manifest["redaction"]["dead_letters"]
    assert letters["records"] == 1 and letters["what"] == "dead letters: raw bytes withheld"
    assert letters["redacted_records"] == [{"record_key": line["record_key"], "chain_seq": line["chain_seq"],
                                            "paths": ["original_value", "original_key"]}]
    html = (package / "report.html").read_text(encoding="utf-8")
    assert html.count(BYTES_WITHHELD) >= 2  # the dead letter's row and the integrity section
    assert "confidential fields withheld" not in html.split('id="dead-letters"')[1].split("</section>")[0]

    report = verify_package(package)
    assert report.ok, report.summary()
    assert report.records == 11 and dict(report.kinds) == {"event": 10, "dead_letter": 1}
    note = " ".join(report.notes)
    assert "1 dead letter was written without the refused message's raw bytes" in note
    assert "chain links around them hold" in note and "business-confidential" not in note


def test_full_package_keeps_dead_letter_bytes(ledger, tmp_path):
    out = tmp_path / "full"
    summary = export_package(ledger, AGREEMENT, FIRST, LAST, out, audience="full")
    assert summary.dead_letters_withheld == 0
    line = dead_letter_line(out)
    assert "redacted" not in line
    assert (line["body"]["original_value"], line["body"]["original_key"]) == (RAW_VALUE, RAW_KEY)
    assert BYTES_WITHHELD not in (out / "report.html").read_text(encoding="utf-8")
    assert json.loads((out / "manifest.json").read_text())["redaction"]["records"] == 0
    report = verify_package(out)
    assert report.ok and not report.notes, report.summary()


def test_a_withheld_dead_letter_with_its_reason_edited_fails(package):
    # Its content hash cannot be recomputed, so the manifest's SHA-256 of dead_letters.jsonl is what pins it.
    path = package / "dead_letters.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace('"reason":"missing signature"', '"reason":"signed"', 1),
                    encoding="utf-8")
    report = verify_package(package)
    assert not report.ok
    assert report.first_problem.file == "dead_letters.jsonl" and "SHA-256 does not match" in report.first_problem.detail


def test_a_changed_hash_on_a_withheld_dead_letter_breaks_the_link_to_the_next(coline_ledger, tmp_path):
    ledger, notice = coline_ledger
    out = tmp_path / "holder"
    summary = export_package(ledger, AGREEMENT, FIRST, LAST, out)
    assert summary.redacted == 1 and summary.dead_letters_withheld == 1
    line = dead_letter_line(out)
    rewrite(out, "dead_letters.jsonl", lambda text: text.replace(f'"hash":"{line["hash"]}"', f'"hash":"{"f" * 64}"', 1))
    report = verify_package(out)
    assert not report.ok
    assert report.first_problem.kind == "missing" and report.first_problem.chain_seq == line["chain_seq"] + 1
    assert not any("chain links around them hold" in n for n in report.notes)


def test_a_withheld_dead_letter_with_a_changed_link_fails(package):
    line = dead_letter_line(package)
    rewrite(package, "dead_letters.jsonl",
            lambda text: text.replace(f'"prev_hash":"{line["prev_hash"]}"', f'"prev_hash":"{"e" * 64}"', 1))
    problem = verify_package(package).first_problem
    assert problem.kind == "missing" and problem.record_key == line["record_key"]


def test_a_dead_letter_marked_withheld_but_carrying_its_bytes_fails(package):
    rewrite(package, "dead_letters.jsonl", lambda text: text.replace('"original_value":null', f'"original_value":"{RAW_VALUE}"', 1))
    problems = verify_package(package).problems
    assert any(p.kind == "edited" and "still carry values" in p.detail and p.file == "dead_letters.jsonl" for p in problems)


def test_a_full_package_with_a_withheld_mark_on_a_dead_letter_fails(ledger, tmp_path):
    out = tmp_path / "full"
    export_package(ledger, AGREEMENT, FIRST, LAST, out, audience="full")
    rewrite(out, "dead_letters.jsonl", lambda text: text.replace(
        '{"agreement_id"', '{"redacted":["original_value","original_key"],"agreement_id"', 1))
    assert dead_letter_line(out)["redacted"] == ["original_value", "original_key"]
    problems = verify_package(out).problems
    assert any(p.kind == "edited" and "full package" in p.detail and p.file == "dead_letters.jsonl" for p in problems)



# -- the bus's seal (Art. 14): the package proves itself, manifest included -------------------------
def test_a_one_byte_edit_inside_the_manifest_breaks_the_seal(coline_ledger, tmp_path):
    ledger, _ = coline_ledger
    out = tmp_path / "holder"
    export_package(ledger, AGREEMENT, FIRST, LAST, out)
    assert verify_package(out).ok
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert "Art. 8: where business" in manifest
    (out / "manifest.json").write_text(manifest.replace("Art. 8: where business", "Art. 8: where businesS", 1),
                                       encoding="utf-8")
    problem = verify_package(out).first_problem
    assert problem.kind == "seal" and "manifest was changed after export" in problem.detail


def test_a_package_sealed_with_another_key_or_not_at_all_does_not_verify(coline_ledger, tmp_path):
    ledger, _ = coline_ledger
    forger = BusKey(generate_keypair()[0])
    export_package(ledger, AGREEMENT, FIRST, LAST, tmp_path / "forged", seal_with=forger)
    problem = verify_package(tmp_path / "forged").first_problem
    assert problem.kind == "seal" and f"not with the bus key {BUS_KEY.key_id}" in problem.detail
    # Without a pinned key the report names the sealing key, for the inspector to compare.
    assert any(forger.key_id in note for note in check_package(tmp_path / "forged").notes)
    export_package(ledger, AGREEMENT, FIRST, LAST, tmp_path / "unsealed", seal_with=None)
    assert "carries no seal" in verify_package(tmp_path / "unsealed").first_problem.detail
