"""Methodology: what the map's numbers mean, how small counts are handled, what privacy hides."""

from __future__ import annotations

import altair as alt
import numpy as np
import streamlit as st

from core import settings
from geo import mapview
from geo.mapquery import MapQuery
from geo.mapview import MAX_HEXES, MIN_ATTEMPTS_TO_RATE, SAMPLED_SHARE
from geo.privacy import min_reporters
from store import map_sql
from store.cache import RESULTS
from store.summary import demo_share
from ui import map_period
from ui.common import lang, plain, read, tr
from ui.map_charts import carrier_name

k = min_reporters()


def _pooling(since, until):
    return RESULTS.read(mapview.pooling_picture, MapQuery(res=8, since=since, until=until))


def _pooling_figure() -> None:
    """Raw rates against the map's estimate on the map's opening view (res 8), one dot per hex."""
    first, last = read(map_sql.data_period)
    if first is None:
        return
    since, until = map_period.recent(first, last)
    frame, priors = _pooling(since, until)
    if frame.empty:
        st.caption(tr("이 보기에는 비율이 없어(‘정상’ 표본 부족) 그림을 그릴 수 없습니다.",
                      "This view has no rates (too few 'all good' samples), so there is no picture."))
        return
    moved = frame["estimate"] - frame["alone"]
    names = [tr("이웃 덕에 올라감", "raised by neighbours"), tr("이웃 덕에 내려감", "lowered by neighbours"),
             tr("자기 자료 그대로", "its own data")]
    # Rounded as the map's hover rounds them (0.1 %): the chart sends no finer figure to the browser.
    frame = frame.assign(borrowed=np.where(moved > 0.002, names[0], np.where(moved < -0.002, names[1], names[2])),
                         **{c: frame[c].round(3) for c in ("observed", "alone", "estimate")})
    colour = alt.Color("borrowed:N", legend=None,
                       scale=alt.Scale(domain=names, range=["#d7301f", "#2b8cbe", "#bdbdbd"]))
    # One chart per carrier in columns: side by side on a wide screen, one under another on a phone.
    for column, (network, part) in zip(st.columns(len(priors)), frame.groupby("network", sort=False), strict=False):
        chart = alt.Chart(part).mark_circle(size=18, opacity=0.7).encode(
            x=alt.X("observed:Q", title=tr("관측 장애 비율 (제보 그대로)", "Observed failure rate (raw)"),
                    axis=alt.Axis(format="%")),
            y=alt.Y("estimate:Q", title=tr("지도의 값 (보정·이웃 반영)", "The map's estimate (shrunk, pooled)"),
                    axis=alt.Axis(format="%")),
            color=colour,
            tooltip=[alt.Tooltip("observed:Q", format=".1%"), alt.Tooltip("alone:Q", format=".1%"),
                     alt.Tooltip("estimate:Q", format=".1%"), alt.Tooltip("reports:Q")],
        )
        with column:
            st.markdown(f"**{plain(carrier_name(network, lang()))}**")
            st.altair_chart(chart, width="stretch", height=300)
    attraction = plain(", ".join(f"{carrier_name(n, lang())} {p.attraction:.1f}" for n, p in priors.items()))
    st.caption(tr(
        f"지도가 처음 여는 보기(최근 13주, 해상도 8)의 육각형 하나가 점 하나입니다(수치가 공개된, 회색이 아닌 곳). "
        f"대각선에서 멀수록 보정이 크게 움직인 곳입니다. 빨강: 이웃 덕에 올라감, 파랑: 이웃 덕에 내려감, "
        f"회색: 자기 자료 그대로. 지금 자료에서 맞춘 끌림: {attraction}.",
        f"One dot per hex of the map's opening view (the last 13 weeks, resolution 8; hexes whose counts are "
        f"shown, not grey). The further from the diagonal, the more the estimate moved. Red: raised by "
        f"neighbours; blue: lowered by neighbours; grey: its own data. The attraction fitted to the data now: "
        f"{attraction}.",
    ))

st.title(tr("방법론: 지도를 읽는 법", "Methodology: how to read the map"))
st.caption(tr("자세한 내용은 저장소의 docs/METHODOLOGY.md에 있습니다.",
              "The full text is docs/METHODOLOGY.md in the repository."))

share = read(demo_share)
if share > 0:
    st.warning(tr(
        f"지금 이 사이트 데이터의 {share:.0%}는 **시연용 합성 데이터**입니다. 실제 사람·전화·통신망 측정이 아닙니다. "
        "합성 데이터에서 보이는 약한 지역은 생성기가 일부러 심어 둔 것입니다.",
        f"{share:.0%} of this site's data is **synthetic demo data**: no real person, phone or network "
        "measurement is behind it. Weak spots seen in it were planted by the generator on purpose.",
    ), icon="🧪")

st.header(tr("1. 무엇을 세는가", "1. What is counted"))
st.markdown(tr(
    "- **장애 제보**: 통화 끊김, 연결 실패, 먹통, 데이터 안 됨·느림, 문자 실패 등을 시민이 위치와 함께 알린 것.\n"
    "- **'정상' 표본**: '여기서는 잘 됨' 버튼이나 신호 기록 앱 업로드처럼 서비스가 된 순간의 기록. "
    "장애 비율의 분모(시도 횟수)가 됩니다.\n"
    "- 시각은 모두 **서울 시각**(Asia/Seoul)으로 시간대·평일/주말·날짜를 나눕니다.\n"
    "- 검토 대상(flagged)으로 표시된 제보는 지도에 쓰지 않습니다.",
    "- **Failure reports**: dropped calls, calls that could not be placed, no service, no or slow data, "
    "failed SMS, reported by residents with a location.\n"
    "- **'All good' samples**: moments when the service worked (the 'all good' button, signal-logger "
    "uploads). They are the denominator (attempts) of a failure rate.\n"
    "- Hours of day, weekday/weekend and dates are all in **Seoul time** (Asia/Seoul).\n"
    "- Reports flagged for review are left out of the map.",
))

st.header(tr("2. 비율과 밀도", "2. Rate or density"))
st.markdown(tr(
    "- **장애 비율** = 장애 제보 ÷ 전체 제보(장애 + '정상' 표본). 통신사 가입자 수와 유동 인구가 달라도 "
    "비교할 수 있는 값입니다. 지도는 공개 가능한 육각형의 "
    f"{SAMPLED_SHARE:.0%} 이상에 '정상' 표본이 있을 때 비율을 보여 줍니다.\n"
    "- **장애 밀도** = 장애 제보 ÷ (육각형 면적 km² × 관측 시간). 단위는 **건/km²/시간**입니다. "
    "'정상' 표본이 없으면 밀도만 보일 수 있습니다. 밀도는 사람이 많은 곳에서 높게 나오므로 "
    "'통신망이 나쁜 곳'과 '사람이 많은 곳'을 구분하지 못합니다.\n"
    "- 지도 위 범례와 제목이 지금 어느 쪽인지, 단위가 무엇인지 항상 밝힙니다.",
    "- **Failure rate** = failure reports ÷ all reports (failures + 'all good' samples). It can be compared "
    "across carriers with different numbers of subscribers and places with different crowds. The map shows "
    f"rates when at least {SAMPLED_SHARE:.0%} of the publishable hexes have 'all good' samples.\n"
    "- **Failure density** = failure reports ÷ (hex area in km² × hours observed), in **reports per km² per "
    "hour**. Without samples only densities can be shown; they are high wherever many people are, so they "
    "cannot tell a weak network from a busy place.\n"
    "- The legend and the title above the map always say which one is shown, and in which unit.",
))

st.header(tr("3. 적은 수의 제보 다루기", "3. Small counts"))
st.markdown(tr(
    "제보 두 건이 모두 장애인 육각형의 관측 비율은 100%이지만, 이것만으로 서울에서 가장 나쁜 곳이라 할 수는 없습니다. "
    "그래서 **경험적 베이즈 축소**를 씁니다.\n"
    "- 비율: 두 수준의 베타-이항 모형. 육각형마다 '보통'이거나 '약함'이라고 보고, 두 수준(각각의 평균 비율과 "
    "퍼짐)과 약한 곳의 비중을 같은 보기의 모든 육각형에 최대가능도로 맞춥니다. 각 육각형의 값은 자기 제보로 본 "
    "사후 평균입니다. 제보가 적은 곳은 보통 수준 쪽으로 당겨지고, 많은 곳은 자기 값을 거의 그대로 유지합니다. "
    "이웃 육각형의 증거를 얼마나 빌릴지는 4절에 있습니다.\n"
    "- 밀도: 감마-푸아송 모형으로 같은 방식.\n"
    "- 모든 값에는 **95% 구간**(사후분포의 2.5%–97.5%)이 함께 나옵니다(마우스를 올리면 보임).\n"
    f"- 제보가 {MIN_ATTEMPTS_TO_RATE:,}건 미만이거나 '정상' 표본이 하나도 없는 육각형은 **회색**(판단 보류)으로 그리고 "
    "순위에서 뺍니다.\n"
    "- 색 구간은 보정값의 5분위이고, 맨 위 구간은 상위 2.5%만 따로 표시합니다. "
    "시간대를 고르면 하루 전체 기준의 구간을 그대로 써서, 24시간 재생 때 하루의 리듬이 보이게 했습니다.",
    "A hex with two reports, both failures, has an observed rate of 100 %, yet that alone does not make it the "
    "worst place in Seoul. The map therefore uses **empirical-Bayes shrinkage**:\n"
    "- Rates: a beta-binomial model with two levels. Each hex is taken to be 'ordinary' or 'weak'; the two levels "
    "(their mean rates and spread) and the share of weak hexes are fitted by maximum likelihood to all hexes of "
    "the same view, and each hex shows its posterior mean rate. Hexes with few reports are pulled towards the "
    "typical level; hexes with many keep nearly their own value. How far a hex borrows from its neighbours is "
    "section 4.\n"
    "- Densities: the same with a gamma-Poisson model.\n"
    "- Every value comes with a **95 % interval** (2.5 %–97.5 % of the posterior), shown on hover.\n"
    f"- Hexes with fewer than {MIN_ATTEMPTS_TO_RATE:,} reports, or no 'all good' sample at all, are drawn **grey** "
    "(too few to rate) and left out of rankings.\n"
    "- Colour classes are the quintiles of the shrunk values, with the highest 2.5 % as a class of its own. "
    "When hours are chosen, the whole day's classes are "
    "kept, so playing through the 24 hours shows the daily rhythm.",
))

st.header(tr("4. 이웃과 함께 약한 곳", "4. Weak places that span neighbours"))
st.markdown(tr(
    "약한 곳은 기지국 하나의 영역, 터널, 능선, 높은 건물 무리처럼 이웃한 육각형 여러 개에 걸쳐 있는 경우가 많습니다. "
    "지도는 보기마다 '약한 육각형 곁에 약한 육각형이 모여 있는가'를 자료에서 배우고, "
    "모여 있는 만큼만 이웃의 증거를 빌려 옵니다.\n"
    "- **어떻게**: 이웃 여섯 곳의 제보가 '약함'을 얼마나 가리키는지(이웃마다 로그 베이즈 인자, 0–2로 제한)의 평균이 "
    "클수록 그 육각형이 약할 사전 확률이 커집니다. 그 세기(**끌림**)는 통신사·해상도·필터마다 따로, 의사가능도"
    "(Besag 1975)로 맞춥니다. 끌림이 0이면 육각형을 하나씩 따로 보는 것과 같습니다. 약한 곳이 홀로 떨어진 도시에서는 "
    "0 가까이, 모여 있는 도시에서는 크게 나옵니다.\n"
    "- **이웃만으로는 약해지지 않음**: 자기 제보가 '약함'을 가리키지 않는(보통 수준에서 나올 법한) 육각형은, "
    "이웃 때문에 자기 값보다 올라가지 않습니다(자기 자료만의 값과 구간을 그대로 씁니다).\n"
    "- **정직한 구간**: 95% 구간은 두 수준의 사후분포에서 나옵니다. 자기 제보와 이웃이 서로 다른 쪽을 가리키거나 "
    "이웃끼리 갈릴 때 넓어집니다.\n"
    f"- **개인정보**: 수치가 공개되는 육각형(서로 다른 제보자 {k}명 이상, 수치 공개)만 증거를 빌려 주고 모형 추정에 "
    "쓰입니다. 그래서 이웃을 통해 숨겨진 육각형이 드러나지 않습니다.\n"
    "- 밀도(‘정상’ 표본이 없을 때)는 이웃을 빌리지 않고 육각형마다 따로 봅니다.",
    "Weak places often span several neighbouring hexes: a tower's footprint, a tunnel, a ridge, a block of tall "
    "buildings. For each view the map learns from the data whether weak hexes sit next to weak hexes, and "
    "borrows evidence from neighbours only as far as they do.\n"
    "- **How**: a hex's prior odds of being weak rise with how strongly its six neighbours' own reports point to "
    "'weak' (the mean of each neighbour's log Bayes factor, kept within 0–2). That strength (the **attraction**) "
    "is fitted per carrier, resolution and filter by pseudo-likelihood (Besag 1975). An attraction of 0 is each "
    "hex alone; a city whose weak places are single hexes fits one near 0, a city whose weak places cluster a "
    "large one.\n"
    "- **Never weak on neighbours alone**: a hex whose own reports do not point to 'weak' (they are as likely "
    "at the ordinary level) is never lifted above its own estimate by its neighbours (it keeps its own "
    "estimate and interval).\n"
    "- **Honest intervals**: the 95 % interval comes from the two-level posterior. It widens where a hex's own "
    "reports and its neighbours point different ways, or where its neighbours are split.\n"
    f"- **Privacy**: only hexes whose counts are published (at least {k} distinct reporters, counts shown) "
    "lend evidence and enter the model's fit, so no hidden hex shows through its neighbours.\n"
    "- Densities (when there are no 'all good' samples) are not pooled: each hex stands alone.",
))
_pooling_figure()

st.header(tr("5. 통신사 비교", "5. Comparing carriers"))
st.markdown(tr(
    "'통신사 비교' 보기는 육각형마다 고른 통신사의 장애 수준을 "
    "**같은 육각형·같은 시간대의 다른 통신사**와 비교합니다.\n"
    "- 비율이 있으면 **상대위험도**(RR) = 고른 통신사 비율 ÷ 다른 통신사 비율. 95% 구간은 Katz 로그 방법"
    "(log RR ± 1.96·√(1/a − 1/(a+b) + 1/c − 1/(c+d)))이고, 0이 있으면 각 칸에 0.5를 더합니다.\n"
    "- 밀도뿐이면 **장애 비중 비** = (이 육각형의 고른 통신사 장애 ÷ 다른 통신사 장애) ÷ (보기 전체의 같은 비). "
    "가입자 수 차이를 보정합니다.\n"
    "- 구간 전체가 1보다 크면 '나쁨', 1보다 작으면 '나음', 1을 포함하면 '뚜렷한 차이 없음'입니다. "
    "'내 통신사 문제인가, 이 장소 문제인가'에 대한 답: 모든 통신사가 나쁜 곳은 장소 문제, "
    "한 통신사만 나쁜 곳은 그 통신사 문제일 가능성이 큽니다.",
    "The 'Compare carriers' view sets, per hex, the chosen carrier's failure level against **the other carriers "
    "in the same hex and hours**.\n"
    "- With rates: the **relative risk** RR = chosen carrier's rate ÷ the others' rate, with the Katz log "
    "interval (log RR ± 1.96·√(1/a − 1/(a+b) + 1/c − 1/(c+d))); 0.5 is added to every cell when one is zero.\n"
    "- With densities only: the **share ratio** = (chosen carrier's failures ÷ the others' in this hex) ÷ (the "
    "same ratio over the whole view), which corrects for the carriers' different numbers of subscribers.\n"
    "- A whole interval above 1 reads 'worse', below 1 'better', one containing 1 'no clear difference'. "
    "'Is it my carrier, or this place?': where every carrier is bad it is likely the place; where only one is, "
    "likely that carrier.",
))

st.header(tr("6. 개인정보 보호 기준", "6. Privacy thresholds"))
st.markdown(tr(
    f"- 육각형(그리고 상세 패널의 통신사·시간·유형·단말기 칸 하나하나)은 **서로 다른 제보자 {k}명 이상**일 때만 "
    "공개합니다(설정 DROPMAP_MIN_REPORTERS, 3 미만으로는 내릴 수 없음). 그보다 적은 육각형은 지도에 그리지 않고, "
    "범례에 그 개수만 밝힙니다.\n"
    "- 제보 위치 좌표, 메모, 제보자 코드, IP는 지도·표·다운로드 어디에도 나오지 않습니다. "
    "제보자 코드와 IP는 비밀키로 만든 해시로만 저장합니다.\n"
    "- 밀도는 장애 제보자 수, 비율은 (장애와 '정상' 표본을 합친) 전체 제보자 수로 기준을 적용합니다.\n"
    f"- 한 화면에 육각형은 최대 {MAX_HEXES:,}개까지 그리고, 넘으면 더 큰 육각형으로 묶습니다.",
    f"- A hex (and every carrier, hour, kind and device cell of the detail panel) is published only with at "
    f"least **{k} distinct reporters** (setting DROPMAP_MIN_REPORTERS, never below 3). Smaller hexes are not "
    "drawn; the legend says how many were left out.\n"
    "- No report coordinate, note, reporter code or IP appears on the map, in a table or in a download. "
    "Reporter codes and IPs are stored only as keyed hashes.\n"
    "- For densities the threshold counts reporters of the failures; for rates, reporters of all reports "
    "(failures and 'all good' samples) behind the number.\n"
    f"- A view draws at most {MAX_HEXES:,} hexes; beyond that it goes to coarser hexes.",
))

st.header(tr("7. 한계", "7. Limits"))
st.markdown(tr(
    "- 제보는 스스로 알린 것이라 표본이 고르지 않습니다. 통신 장애의 '공식 측정'이 아닙니다.\n"
    "- 위치는 제보자가 고른 곳이며 GPS 정확도가 다릅니다. 구 이름은 육각형 중심점 기준입니다.\n"
    f"- 지도는 최신 제보보다 최대 {3 * settings.get_int('DROPMAP_CACHE_SECONDS'):d}초 늦을 수 있습니다.",
    "- Reports are self-selected; the sample is uneven. This is not an official network measurement.\n"
    "- Locations are chosen by reporters and GPS accuracy varies; district names use each hex's centre.\n"
    f"- The map may be up to {3 * settings.get_int('DROPMAP_CACHE_SECONDS'):d} s behind the newest report.",
))
