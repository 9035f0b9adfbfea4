"""Download of an agreement's inspection package (a zip of `agents.record.export.export_package`)."""
from __future__ import annotations

import asyncio
import io
import logging
import shutil
import tempfile
import zipfile
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from agents.web.dashboard.inputs import BadInput
from agents.web.dashboard.rendering import current_user, render
from agents.web.dashboard.state import DASHBOARD

log = logging.getLogger(__name__)


EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)   # any wider and a local day may not fit a timestamp


def _day(text: str | None, default: date) -> date:
    if not text:
        return default
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput("bad_dates") from None
    if not EARLIEST <= day <= LATEST:
        raise BadInput("bad_dates")
    return day


async def export_view(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    if dash.export is None:
        # Export turned off for this installation (create_app(export=False)).
        return render(request, "error.html", {"title": "bad_request", "text": "export_unavailable"}, status=501)
    zone = ZoneInfo(info.timezone)
    today = dash.clock().astimezone(zone).date()
    start = _day(request.query.get("from"), (info.first_recorded_at or dash.clock()).astimezone(zone).date())
    end = _day(request.query.get("to"), today)
    if end < start:
        start, end = end, start
    workdir = Path(tempfile.mkdtemp(prefix="qbus-export-"))

    def build() -> bytes:
        try:
            out = workdir / "package"
            dash.export(dash.ledger, info.agreement_id, start, end, out, tz=info.timezone,
                        agreements=dash.agreement_set)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(out.rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(out).as_posix())
            return buffer.getvalue()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    data = await asyncio.to_thread(build)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in info.agreement_id)
    log.info("%s exported the inspection package of %s (%s to %s)", user.username, info.agreement_id, start, end)
    return web.Response(body=data, content_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="qbus-{safe}-{start}-{end}.zip"'})
