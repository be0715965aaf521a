"""The outage status as static files, written after each scan for a static server or a CDN.

After every run of the background detector (``outages.service.tick``) the folder
DROPMAP_STATUS_DIR (default ``static/status/``) holds:

- ``status.json``: the body of GET /api/v1/status (``outages.feeds.status_json``) as of the scan;
- ``feed.atom``, ``feed-en.atom``: the bodies of GET /api/v1/incidents.atom and its ``?lang=en``;
- ``index.html``: a small page for people, Korean first and English below, made from that same
  status document: no script, no font, no image, nothing fetched from anywhere.

A server handing them out never runs Python nor touches the store, so the status stays up when the
site itself is slow or down, which is when people look for it (docs/OPERATIONS.md). Each file is
replaced atomically and only when its bytes changed (``core.files.replace_if_changed``). Links come
from DROPMAP_BASE_URL, never from a request (a scan has none); without it they are relative.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import datetime
from pathlib import Path

from core import settings
from core.city import load_city
from core.files import replace_if_changed
from core.vocab import NETWORK_NAMES, NETWORKS
from outages.feeds import FEED_SUBTITLE, atom_feed, incident_page_url, status_json
from outages.public import STATUS_NAMES, people_text

log = logging.getLogger("dropmap.outages")

STATUS_FILES = ("status.json", "feed.atom", "feed-en.atom", "index.html")
_STATE_NAMES = {"normal": {"ko": "정상", "en": "Normal"}, **STATUS_NAMES}
_STATE_CLASSES = {"normal": "normal", "suspected": "suspected", "ongoing": "ongoing", "recovering": "recovering"}
_TEXT = {
    "ko": {
        "title": "{city} 통신 장애 현황", "switch": "English", "switch_to": "en",
        "normal": "현재 감지된 장애가 없습니다.", "outage": "통신 장애가 감지되었습니다.",
        "network": "통신사", "state": "상태", "open": "진행 중인 장애", "none": "없음",
        "onset": "추정 시작", "detected": "감지", "where": "지역", "city": "{city} 전역", "part": "일부 지역",
        "recent": "최근 15분 제보자", "details": "자세히 보기", "checked": "마지막 확인",
        "stale": "이 시각이 오래되었다면 감지기가 멈춘 것일 수 있습니다.",
        "synthetic": "합성 데이터", "synthetic_note": "시연용 합성 데이터입니다(실제 장애가 아님).",
        "feed": "장애 알림 피드 (Atom)", "json": "상태 데이터 (JSON)", "site": "끊김지도 사이트",
        "history": "지난 장애 기록",
    },
    "en": {
        "title": "{city} mobile-network status", "switch": "한국어", "switch_to": "ko",
        "normal": "No outage detected right now.", "outage": "A network outage has been detected.",
        "network": "Network", "state": "State", "open": "Ongoing incidents", "none": "None",
        "onset": "Estimated start", "detected": "Detected", "where": "Where", "city": "all of {city}",
        "part": "part of {city}", "recent": "Reporters in the last 15 minutes", "details": "Details",
        "checked": "Last checked", "stale": "If this time is old, the detector may have stopped.",
        "synthetic": "synthetic", "synthetic_note": "Synthetic demo data (not a real outage).",
        "feed": "Outage feed (Atom)", "json": "Status data (JSON)", "site": "DropMap site",
        "history": "Past incidents",
    },
}
_STYLE = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Apple SD Gothic Neo","Malgun Gothic",
"Noto Sans KR",sans-serif;line-height:1.5;color:#1a1a1a;background:#fff}
body{margin:0 auto;max-width:40rem;padding:1rem;word-break:keep-all;overflow-wrap:anywhere}
h1{font-size:1.4rem;margin:.2rem 0 .6rem}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
nav{text-align:right;font-size:.95rem}a{color:#0645ad}
.overall{padding:.6rem .8rem;border-radius:.4rem;font-weight:600}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .3rem;border-bottom:1px solid #ddd}
.state{font-weight:600;white-space:nowrap}
.normal{color:#1b6e20}.suspected{color:#8a5a00}.ongoing{color:#b3261e}.recovering{color:#1f4e9c}
.overall.normal{background:#e8f5e9}.overall.outage{background:#fdecea;color:#b3261e}
.incident{border:1px solid #ddd;border-radius:.4rem;padding:.6rem .8rem;margin:.5rem 0}
.incident h3{font-size:1rem;margin:0 0 .3rem}dl{margin:0}dt{font-size:.85rem;color:#555}dd{margin:0 0 .3rem}
.tag{font-size:.8rem;border:1px solid #8a5a00;color:#8a5a00;border-radius:.3rem;padding:0 .3rem}
.small{font-size:.85rem;color:#555}ul.links{padding-left:1.2rem}
section+section{margin-top:2rem;border-top:2px solid #ddd;padding-top:1rem}
"""
# Nothing on the page may load or run anything, even if a value slipped through unescaped.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_failing: tuple | None = None  # the last failure logged, so a lasting one is logged once


def publish(cur, now: datetime) -> list[str]:
    """Write the status files into DROPMAP_STATUS_DIR (none when it is ``off``); the names written.

    Never raises: a failure (a read-only folder, a full disk) is logged, once while it lasts, and the
    scan goes on; the files already there stay whole.
    """
    global _failing
    folder = settings.status_dir()
    if folder is None:
        return []
    try:
        written = write_status_files(cur, folder, base_url=settings.base_url(), now=now)
    except Exception as e:  # noqa: BLE001 - the detector must outlive a folder it cannot write
        # Not the message: it names the temporary file, a new one each time.
        reason = (str(folder), type(e).__name__, getattr(e, "errno", None))
        if reason != _failing:
            log.exception("could not write the status files into %s; the scan goes on", folder)
        _failing = reason
        return []
    if _failing is not None:
        log.info("status files written into %s again", folder)
        _failing = None
    return written


def write_status_files(cur, folder: Path, *, base_url: str, now: datetime) -> list[str]:
    """Write every status file whose content changed; the names written, in STATUS_FILES order."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)  # public files: a web server running as another user must get in
    files = status_files(cur, base_url=base_url, now=now)
    return [name for name in STATUS_FILES if replace_if_changed(folder / name, files[name])]


def status_files(cur, *, base_url: str, now: datetime) -> dict[str, bytes]:
    """The content of each status file, from the same functions that answer the API."""
    body = status_json(cur, base_url=base_url, now=now)
    return {
        "status.json": body,
        "feed.atom": atom_feed(cur, base_url=base_url, lang="ko", now=now),
        "feed-en.atom": atom_feed(cur, base_url=base_url, lang="en", now=now),
        "index.html": status_page_html(json.loads(body), base_url=base_url).encode("utf-8"),
    }


def status_page_html(document: dict, *, base_url: str) -> str:
    """The static status page of one status document (GET /api/v1/status's), every value escaped."""
    city = load_city()
    title = f"끊김지도 — {_TEXT['ko']['title'].format(city=city.name_ko)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ko">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>{_e(title)}</title>",
        '<link rel="alternate" type="application/atom+xml" href="feed.atom" title="끊김지도 (Atom)">',
        '<link rel="alternate" type="application/atom+xml" href="feed-en.atom" title="DropMap (Atom)" hreflang="en">',
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        _section(document, "ko", base_url),
        _section(document, "en", base_url),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _local(text: str | None) -> str:
    """'2021-10-25 11:16 KST' from an ISO 8601 time of the document (its own text when it is not one)."""
    if not text:
        return "–"
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return str(text)
    if moment.tzinfo is None:
        return str(text)
    local = moment.astimezone(load_city().tz)
    return f"{local:%Y-%m-%d %H:%M} {local:%Z}"


def _people(published, lang: str) -> str:
    """A count of people as the document publishes it (0, at least k, or None for "fewer than k")."""
    if isinstance(published, int) or published is None:
        return people_text(published, lang)
    return str(published)


def _state(status: str, lang: str) -> str:
    name = _STATE_NAMES.get(status, {}).get(lang, status)
    return f'<span class="state {_STATE_CLASSES.get(status, "")}">{_e(name)}</span>'


def _section(document: dict, lang: str, base_url: str) -> str:
    text = _TEXT[lang]
    city = load_city()
    city_name = city.name_ko if lang == "ko" else city.name_en
    outage = document.get("status") == "outage"
    rows = []
    for network in NETWORKS:
        carrier = (document.get("carriers") or {}).get(network) or {}
        rows.append(f"<tr><td>{_e(NETWORK_NAMES[network][lang])}</td>"
                    f"<td>{_state(carrier.get('status', 'normal'), lang)}</td></tr>")
    incidents = document.get("open_incidents") or []
    base = base_url.rstrip("/")
    out = [
        f'<section id="{lang}" lang="{lang}">',
        f'<nav><a href="#{text["switch_to"]}" hreflang="{text["switch_to"]}">{_e(text["switch"])}</a></nav>',
        f"<h1>{_e(text['title'].format(city=city_name))}</h1>",
        f'<p class="overall {"outage" if outage else "normal"}">{_e(text["outage" if outage else "normal"])}</p>',
    ]
    if document.get("synthetic"):
        out.append(f'<p><span class="tag">{_e(text["synthetic"])}</span> {_e(text["synthetic_note"])}</p>')
    out += [
        f"<table><thead><tr><th>{_e(text['network'])}</th><th>{_e(text['state'])}</th></tr></thead>",
        "<tbody>", *rows, "</tbody></table>",
        f"<h2>{_e(text['open'])}</h2>",
        *([_incident(i, lang, base, city_name) for i in incidents] or [f"<p>{_e(text['none'])}</p>"]),
        f"<p>{_e(text['checked'])}: <time>{_e(_local(document.get('generated_at')))}</time><br>",
        f'<span class="small">{_e(text["stale"])}</span></p>',
        f'<p class="small">{_e(FEED_SUBTITLE[lang])}</p>',
        '<ul class="links">',
        f'<li><a href="{"feed.atom" if lang == "ko" else "feed-en.atom"}" type="application/atom+xml">'
        f"{_e(text['feed'])}</a></li>",
        f'<li><a href="status.json" type="application/json">{_e(text["json"])}</a></li>',
        f'<li><a href="{_e(base + "/outages" + ("?lang=en" if lang == "en" else ""))}">{_e(text["history"])}</a></li>',
        f'<li><a href="{_e(base + "/" + ("?lang=en" if lang == "en" else ""))}">{_e(text["site"])}</a></li>',
        "</ul>",
        "</section>",
    ]
    return "\n".join(out)


def _incident(incident: dict, lang: str, base: str, city_name: str) -> str:
    text = _TEXT[lang]
    carrier = (incident.get("carrier_name") or {}).get(lang) or incident.get("carrier", "")
    status = (incident.get("status_name") or {}).get(lang) or incident.get("status", "")
    names = [d.get(f"name_{lang}") or d.get("code", "") for d in incident.get("districts") or []]
    if incident.get("scope") == "city":
        where = text["city"].format(city=city_name)
    else:
        where = ("·" if lang == "ko" else ", ").join(str(n) for n in names) or text["part"].format(city=city_name)
    tag = f' <span class="tag">{_e(text["synthetic"])}</span>' if incident.get("synthetic") else ""
    recent = (incident.get("last_15min") or {}).get("reporters")
    link = incident_page_url(base, str(incident.get("id", "")), lang)
    css = _STATE_CLASSES.get(incident.get("status"), "")
    return "\n".join([
        '<div class="incident">',
        f'<h3>{_e(carrier)} — <span class="state {css}">{_e(status)}</span>{tag}</h3>',
        "<dl>",
        f"<dt>{_e(text['onset'])}</dt><dd><time>{_e(_local(incident.get('onset')))}</time></dd>",
        f"<dt>{_e(text['detected'])}</dt><dd><time>{_e(_local(incident.get('detected_at')))}</time></dd>",
        f"<dt>{_e(text['where'])}</dt><dd>{_e(where)}</dd>",
        f"<dt>{_e(text['recent'])}</dt><dd>{_e(_people(recent, lang))}</dd>",
        "</dl>",
        f'<p><a href="{_e(link)}">{_e(text["details"])} ({_e(incident.get("id", ""))})</a></p>',
        "</div>",
    ])
