"""The review package (agents/record/review) and `qbus review`: a quarter's printable review, with the
same figures as the dashboard, the breaches with their reasons and the chain it was counted from."""
import hashlib
import json
import re
import shutil
from html import unescape
from pathlib import Path

import pytest

from agents.cli.main import main
from agents.core.quality_metrics import parse_period
from agents.record.bus_key import BusKey
from agents.record.ledger import GENESIS_HASH, VerifyReport, open_ledger
from agents.record.package_seal import check_seal
from agents.record.review.package import write_review
from tests.agents.core.quality_metrics.records import A
from tests.agents.core.quality_metrics.test_figures import NOW, quarter

Q4 = parse_period("2026Q4", "Asia/Shanghai")
SECTIONS = ("header", "summary", "timelines", "charts", "escalations", "articles", "breaches", "breakdowns",
            "verification", "appendix")


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        opened.append(quarter().events())
        yield opened


@pytest.fixture
def review(ledger, tmp_path):
    return write_review(ledger, A, Q4, tmp_path / "review", now=NOW, pdf=False,
                        seal_with=BusKey.of_state(tmp_path / "state"))


@pytest.mark.clause("Art. 5")
def test_the_quarterly_review_has_every_section(review):
    html = (review.out_dir / "review.html").read_text(encoding="utf-8")
    assert [s for s in SECTIONS if f'data-section="{s}"' in html] == list(SECTIONS)
    assert "季度风险评估" in html and "Quarterly risk assessment" in html
    for chart in ("trend", "open_age", "ack", "escalations"):
        assert f'data-chart="{chart}"' in html


def test_the_breaches_are_listed_with_their_reasons(review):
    html = (review.out_dir / "review.html").read_text(encoding="utf-8")
    section = html.split('data-section="breaches"')[1].split("</section>")[0]
    assert [m for m in re.findall(r'<td class="mono">([A-Z]+-\d)', section)] == ["DEV-2", "DEV-1", "CHG-1"]
    assert "CLOSE for DEV-1 was due 2026-11-08" in section


def test_every_chart_mark_points_to_its_records_in_the_appendix(review):
    html = (review.out_dir / "review.html").read_text(encoding="utf-8")
    marks = re.findall(r'<a href="#([^"]+)"><(?:rect|circle) [^>]*data-figure="([^"]+)" data-value="([^"]*)"'
                       r'(?: data-count="(\d+)")?', html)
    assert marks
    appendix = html.split('data-section="appendix"')[1]
    for anchor, key, value, count in marks:
        table = appendix.split(f'id="{anchor}"')[1].split("</table>")[0]
        rows = table.count("<tr>") - 1    # less the header row
        assert rows == int(count or value), unescape(key)


@pytest.mark.clause("Art. 14")
def test_the_verification_data_pins_the_chain(review, ledger):
    data = json.loads((review.out_dir / "review.json").read_text(encoding="utf-8"))
    v = data["verification"]
    head = ledger.heads()[A]
    assert v["records_read"]["first_chain_seq"] == 1 and v["records_read"]["anchor_prev_hash"] == GENESIS_HASH
    assert (v["records_read"]["last_chain_seq"], v["records_read"]["last_hash"]) == (head.last_chain_seq, head.last_hash)
    assert v["head_at_generation"]["hash"] == head.last_hash and v["ledger_verified"]["ok"] is True
    assert 0 < v["cited"]["records"] <= head.last_chain_seq
    cited = {r["chain_seq"]: r["record_hash"] for f in data["figures"].values() for r in f["records"]}
    stored = {r.chain_seq: r.hash for r in ledger.iter(agreement=A)}
    assert all(stored[seq] == digest for seq, digest in cited.items())
    assert data["figures"]["on_time/all/all"]["rate"] == 0.7


def test_the_manifest_pins_the_files_and_the_seal_holds(review):
    manifest = json.loads((review.out_dir / "manifest.json").read_text(encoding="utf-8"))
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((review.out_dir / name).read_bytes()).hexdigest() == entry["sha256"]
    report = VerifyReport()
    check_seal(review.out_dir, report)
    assert report.ok, report.problems


def test_a_review_needs_a_folder_of_its_own(ledger, review):
    with pytest.raises(FileExistsError):
        write_review(ledger, A, Q4, review.out_dir, now=NOW, pdf=False)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium prints the PDF")
def test_the_review_prints_to_pdf(ledger, tmp_path):
    summary = write_review(ledger, A, Q4, tmp_path / "pdf", now=NOW, lang="en")
    pdf = summary.out_dir / "review.pdf"
    assert summary.pdf_note is None and pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftotext"):
        import subprocess
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Verification data" in text and "Breaches and their reasons" in text


def test_qbus_review_writes_the_package_and_prints_json(ledger, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QBUS_STATE_DIR", str(tmp_path / "state"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    out = tmp_path / "cli-review"
    assert main(["review", "--agreement", A, "--quarter", "2026Q4", "--ledger", url, "--out", str(out),
                 "--no-pdf"]) == 0
    assert "4 items opened" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"review.html", "review.json", "manifest.json", "seal.json"}
    assert main(["review", "--agreement", A, "--year", "2026", "--ledger", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["period"]["kind"] == "year" and data["figures"]["opened/all"]["count"] == 5   # DEV-2 of September too
    assert main(["review", "--agreement", "QA-NOBODY", "--quarter", "2026Q4", "--ledger", url]) == 2
    assert main(["review", "--agreement", A, "--quarter", "2026Q7", "--ledger", url]) == 2
    assert not Path("review-QA-NOBODY-2026Q4").exists()
