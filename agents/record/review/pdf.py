"""Printing the review to PDF with headless Chromium (Debian's ``chromium``, which the tests'
browser checks need anyway): the same engine that draws the dashboard, so the charts and the
Chinese text print as they are shown. No Python PDF library is needed; without Chromium the review
is still complete as HTML, and the caller is told why there is no PDF."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
PRINT_TIMEOUT_S = 120


def find_browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path) -> str | None:
    """Print `html` to `pdf`; None when done, else the reason in plain words."""
    browser = find_browser()
    if browser is None:
        return "no PDF: Chromium is not installed (apt-get install chromium); print review.html from a browser"
    with tempfile.TemporaryDirectory(prefix="qbus-pdf-") as profile:
        try:
            result = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-pdf-header-footer",
                 f"--user-data-dir={profile}", f"--print-to-pdf={pdf}", html.resolve().as_uri()],
                capture_output=True, text=True, timeout=PRINT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"no PDF: Chromium did not finish printing within {PRINT_TIMEOUT_S} s"
    if result.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        return f"no PDF: Chromium failed ({result.returncode}): {result.stderr.strip()[-300:]}"
    return None
