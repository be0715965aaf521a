"""The "share" box under a map, chart or incident: download as PNG (drawn on click, by ui.share_image), the
view's permanent address and an embed snippet for an article."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import streamlit as st

from core import settings
from ui import share_image
from ui.common import tr

FALLBACK_ORIGIN = "http://localhost:8501"


def site_origin() -> str:
    """The site's public address: DROPMAP_BASE_URL when set (as every link the API publishes), else
    scheme://host:port the visitor reached the site at (only that visitor sees it), else the fallback."""
    if settings.base_url():
        return settings.base_url()
    url = st.context.url or ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else FALLBACK_ORIGIN


def current_url(path: str, params: dict | None = None) -> str:
    """This page's permanent address: ``path`` and the query string that reopens the view (``params``, or the
    address bar's when not given; the language kept)."""
    wanted = dict(st.query_params.to_dict() if params is None else params)
    if st.query_params.get("lang") == "en":
        wanted["lang"] = "en"
    return share_image.view_url(site_origin(), path, wanted)


def offer(png: Callable[[], bytes], *, key: str, file_name: str, cap: share_image.Caption, url: str,
          embed: bool = True) -> None:
    """A download button for ``png()`` (called only on click) with its caption, and the embed snippet."""
    with st.expander(tr("공유 — PNG 이미지·주소·임베드", "Share — PNG image, link, embed"), icon="🔗"):
        st.download_button(tr("PNG로 내려받기", "Download as PNG"), data=png, file_name=file_name,
                           mime="image/png", key=key, on_click="ignore", icon="🖼️")
        st.caption(tr("이미지 아래에 들어가는 설명:", "The caption printed under the image:"))
        st.code(cap.text(), language=None, wrap_lines=True)
        st.caption(tr("이 보기의 고정 주소:", "This view's permanent address:"))
        st.code(url, language=None, wrap_lines=True)
        if embed:
            st.caption(tr("기사에 넣기(iframe):", "Embed in an article (iframe):"))
            st.code(share_image.embed_snippet(url, title=cap.title), language="html", wrap_lines=True)


# --- the map page ----------------------------------------------------------------------

def offer_map(view, q, *, params: dict, first, last, synthetic: bool, k: int, lang: str) -> None:
    """PNG of the map view; ``params`` are the view's query parameters (geo.mapquery.params_from_state)."""
    url = current_url("explore", params)
    cap = share_image.map_caption(view, q, first=first, last=last, k=k, synthetic=synthetic, lang=lang, url=url)
    offer(lambda: share_image.map_png(view, cap), key="share_map_png", file_name=f"dropmap_map_r{view.res}.png",
          cap=cap, url=url)


_CHART_TITLES = {"hours": ("시간대 × 통신사", "Hour of day × carrier"), "days": ("일별 추이", "Daily trend")}


def offer_chart(frame, *, chart: str, measure: str, q, params: dict, first, last, synthetic: bool, k: int,
                lang: str) -> None:
    """PNG of the map page's chart below the map: ``chart`` is "hours" (heatmap) or "days" (lines); ``q`` is
    the query the chart draws (its caption's filters)."""
    from ui.map_charts import value_title as value_title_of

    per = "hour" if chart == "hours" else "day"
    title = {code: f"{name} — {value_title_of(measure, code, per=per)}"
             for code, name in zip(("ko", "en"), _CHART_TITLES[chart], strict=True)}
    value_title = {code: value_title_of(measure, code, per=per) for code in ("ko", "en")}
    url = current_url("explore", params)
    cap = share_image.caption(title=title, period=share_image.period_text(q.since, q.until, first, last),
                        filters=share_image.map_filters(q), k=k, synthetic=synthetic,
                        lang=lang, url=url)
    data = share_image.hidden_as_gaps(frame)
    y_title = value_title[cap.lang]  # the image's language: English when no font draws Hangul
    if chart == "hours":
        def png():
            return share_image.heatmap_png(data, cap=cap, rows="network", columns="hour", values="value",
                                     value_title=y_title)
    else:
        def png():
            return share_image.lines_png(data, cap=cap, x="day", y="value", group="network", low="low", high="high",
                                   y_title=y_title, x_format="%m-%d")
    offer(png, key=f"share_{chart}_png", file_name=f"dropmap_{chart}.png", cap=cap, url=url)


def offer_hex_hours(frame, *, cell: str, q, params: dict, first, last, synthetic: bool, k: int, lang: str) -> None:
    """PNG of the selected hexagon's 24-hour chart (failure rate per carrier, 95% band; hours under k left out)."""
    from ui.map_charts import value_title as value_title_of

    title = {"ko": f"선택한 육각형 {cell} — 24시간 장애 비율",
             "en": f"Selected hex {cell} — failure rate over 24 hours"}
    url = current_url("explore", params)
    cap = share_image.caption(title=title, period=share_image.period_text(q.since, q.until, first, last),
                        filters=share_image.map_filters(q.with_changes(carrier=None)), k=k, synthetic=synthetic,
                        lang=lang, url=url)
    data = share_image.hidden_as_gaps(frame)
    y_title = value_title_of("rate", cap.lang)

    def png():
        return share_image.lines_png(data, cap=cap, x="hour", y="value", group="network", low="low", high="high",
                               y_title=y_title)

    offer(png, key="share_hex_hours_png", file_name=f"dropmap_{cell}_24h.png", cap=cap, url=url, embed=False)


# --- an incident ---------------------------------------------------------------------

def offer_incident(frame, row: dict, where: dict[str, str], *, k: int, lang: str) -> None:
    """PNG of an incident's timeline against the usual band (bins under k reporters left out)."""
    from core.city import load_city
    from core.vocab import NETWORK_NAMES

    tz = load_city().tz
    url = share_image.view_url(site_origin(), "outages", {"incident": row["incident_id"],
                                                      **({"lang": "en"} if lang == "en" else {})})
    onset = row["onset_at"].astimezone(tz)
    stop = (row["ended_at"] or row["as_of"]).astimezone(tz)
    carrier = NETWORK_NAMES[row["network"]]
    cap = share_image.caption(
        title={"ko": f"{carrier['ko']} 장애 {row['incident_id']} — 제보자 수와 평소 범위(98%)",
               "en": f"{carrier['en']} outage {row['incident_id']} — reporters against the usual band (98%)"},
        period=f"{onset:%Y-%m-%d %H:%M} – {stop:%Y-%m-%d %H:%M}",
        filters=[{"ko": f"통신사: {carrier['ko']}", "en": f"carrier: {carrier['en']}"},
                 {"ko": f"지역: {where['ko']}", "en": f"area: {where['en']}"}],
        k=k, synthetic=bool(row["synthetic"]), lang=lang, url=url)
    data = frame.copy()
    data["reporters"] = data["reporters"].astype(float).where(data["reporters"] >= k)
    data["time"] = data["time"].dt.tz_localize(None) if data["time"].dt.tz is not None else data["time"]
    marks = [(t.astimezone(tz).replace(tzinfo=None), label) for t, label in (
        (row["onset_at"], "start" if cap.lang == "en" else "추정 시작"),
        (row["detected_at"], "detected" if cap.lang == "en" else "감지"),
        (row["ended_at"], "end" if cap.lang == "en" else "추정 종료")) if t is not None]
    y_title = "reporters" if cap.lang == "en" else "제보자 수"

    def png():
        return share_image.lines_png(data, cap=cap, x="time", y="reporters", low="low", high="high", y_title=y_title,
                               x_format="%H:%M", marks=marks)

    offer(png, key="share_incident_png", file_name=f"dropmap_{row['incident_id']}.png", cap=cap, url=url)


# --- a subway line ---------------------------------------------------------------------

def offer_stations(view, *, line: str, carrier: str | None, hours: str, k: int, synthetic: bool, lang: str) -> None:
    """PNG of the subway page's chart: ``view`` is the page's ``geo.stations.LineView`` (hidden figures
    are null and not drawn); the period is the whole data's, as the stations are counted over all of it."""
    from core.vocab import NETWORK_NAMES
    from geo import stations
    from store import map_sql
    from ui.common import read
    from ui.map_charts import CARRIER_COLOURS

    first, last = read(map_sql.data_period)
    who = NETWORK_NAMES[carrier] if carrier else {"ko": "전체", "en": "all"}
    window_ko, window_en, _ = stations.WINDOWS[hours]
    params = {"line": line, "carrier": carrier or "all", "hours": hours}
    url = current_url("subway", params)
    cap = share_image.caption(
        title={"ko": f"지하철 {line}호선 역별 장애 비율", "en": f"Line {line}: failure rate by station"},
        period=share_image.period_text(None, None, first, last),
        filters=[{"ko": f"통신사: {who['ko']}", "en": f"carrier: {who['en']}"},
                 {"ko": f"시간대: {window_ko}", "en": f"hours: {window_en}"},
                 {"ko": f"역 반경 {stations.RADIUS_M:.0f} m", "en": f"within {stations.RADIUS_M:.0f} m of a station"}],
        k=k, synthetic=synthetic, lang=lang, url=url)
    names = {n: NETWORK_NAMES.get(n, {}).get(cap.lang, n) for n in view.frame["network"].unique()}
    x_title = "failure rate (95% interval)" if cap.lang == "en" else "장애 비율 (95% 구간)"

    def png():
        return share_image.stations_png(view.frame, cap=cap, colours=CARRIER_COLOURS, names=names, x_title=x_title)

    offer(png, key="share_stations_png", file_name=f"dropmap_subway_line{line}_{hours}.png", cap=cap, url=url)
