"""Chinese and English for the dashboard: tables looked up by key, with English as the fallback.

The tables are in `agents.web.dashboard.i18n_labels` (what the bus records: categories, actions,
roles, states, signature meanings) and `agents.web.dashboard.i18n_text` (the pages' own words);
this module picks from them (`Translator`) and formats dates in the agreement's time zone
(`format_local`, `format_offset`) and durations (`format_span`).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agents.web.dashboard.i18n_labels import ACTIONS, CATEGORIES, EVENT_TYPES, MEANINGS, OBLIGATION_KINDS, ROLES, STATES
from agents.web.dashboard.i18n_text import TEXT

__all__ = ["ACTIONS", "CATEGORIES", "DEFAULT_LANGUAGE", "EVENT_TYPES", "LANGUAGES", "MEANINGS", "OBLIGATION_KINDS",
           "ROLES", "STATES", "TEXT", "Translator", "format_local", "format_offset", "format_span",
           "language_from_header", "normalize_language", "zone_label"]

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "en"


def _pick(entry: tuple[str, str] | None, lang: str, fallback: str) -> str:
    if entry is None:
        return fallback
    return entry[1] if lang == "zh" else entry[0]


def normalize_language(value: str | None) -> str | None:
    """'zh', 'zh-CN', 'zh_Hans' -> 'zh'; 'en-GB' -> 'en'; anything else -> None."""
    if not value:
        return None
    head = value.strip().lower().replace("_", "-").split("-")[0]
    return head if head in LANGUAGES else None


def language_from_header(accept_language: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by quality."""
    if not accept_language:
        return None
    ranked = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag))
    for _q, _i, tag in sorted(ranked):
        lang = normalize_language(tag)
        if lang:
            return lang
    return None


def humanize(key: str) -> str:
    return key.replace("_", " ")


class Translator:
    """`t(key, **values)` and label helpers for one language; handed to every template as `t`."""

    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, **values) -> str:
        text = _pick(TEXT.get(key), self.lang, key)
        return text.format(**values) if values else text

    def category(self, category: str | None) -> str:
        return _pick(CATEGORIES.get(category or ""), self.lang, humanize(category or "—"))

    def action(self, action: str | None) -> str:
        return _pick(ACTIONS.get(action or ""), self.lang, humanize(action or ""))

    def event_type(self, event_type: str | None) -> str:
        """'deviation.reported' -> 'Deviation reported' / '偏差 已报告'."""
        if not event_type:
            return "—"
        if event_type in EVENT_TYPES:
            return _pick(EVENT_TYPES[event_type], self.lang, event_type)
        category, _, action = event_type.partition(".")
        return f"{self.category(category)} {self.action(action)}"

    def kind(self, kind: str | None) -> str:
        return _pick(OBLIGATION_KINDS.get((kind or "UNKNOWN").upper()), self.lang, humanize(kind or ""))

    def role(self, role: str | None) -> str:
        return _pick(ROLES.get(role or "UNKNOWN"), self.lang, humanize(role or ""))

    def state(self, state: str | None) -> str:
        return _pick(STATES.get(state or ""), self.lang, humanize(state or ""))

    def meaning(self, meaning: str | None) -> str:
        return _pick(MEANINGS.get(meaning or "UNKNOWN"), self.lang, humanize(meaning or ""))

    def span(self, delta: timedelta) -> str:
        return format_span(delta, self.lang)

    def client_strings(self) -> dict[str, str]:
        """What the countdown script needs (passed as JSON, never as inline script)."""
        keys = ("countdown_in", "countdown_overdue", "days_short", "hours_short", "minutes_short", "live",
                "reconnecting", "new_info")
        return {k: self(k) for k in keys}


def format_span(delta: timedelta, lang: str = "en") -> str:
    """A duration the way a person says it: '2 d 3 h', '45 m', '2天3小时'. Negative spans count as their size."""
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    units = ("天", "小时", "分钟") if lang == "zh" else (" d", " h", " m")
    parts = []
    if days:
        parts.append(f"{days}{units[0]}")
    if hours and days < 10:
        parts.append(f"{hours}{units[1]}")
    if not days and (minutes or not parts):
        parts.append(f"{minutes}{units[2]}")
    return ("" if lang == "zh" else " ").join(parts)


def format_local(moment: datetime | None, tz: str | ZoneInfo, *, seconds: bool = False) -> str:
    """An instant in the agreement's time zone, e.g. '2026-11-20 16:30'."""
    if moment is None:
        return "—"
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_offset(moment: datetime | None, tz: str | ZoneInfo) -> str:
    """An instant in local time with its UTC offset, to the second: '2026-11-20 16:30:05 +08:00'
    (how a signature's time is shown: the reader needs no other line to know the zone)."""
    if moment is None:
        return "—"
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local.strftime('%Y-%m-%d %H:%M:%S')} {offset[:3]}:{offset[3:]}"


def zone_label(tz: str | ZoneInfo, at: datetime) -> str:
    """'Asia/Shanghai (UTC+08:00)'."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{zone.key} (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"
