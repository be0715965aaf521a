"""Methodology: what the map's numbers mean, how small counts are handled, what privacy hides."""

from __future__ import annotations

import streamlit as st

from core import settings
from geo.mapview import MAX_HEXES, MIN_ATTEMPTS_TO_RATE, SAMPLED_SHARE
from geo.privacy import min_reporters
from store.summary import demo_share
from ui.common import read, tr

k = min_reporters()

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
    "- 비율: 베타-이항 모형. 같은 보기의 모든 육각형에 맞춘 사전분포 Beta(α, β)를 최대가능도로 추정하고, "
    "각 육각형의 값은 (장애 + α) ÷ (전체 + α + β)입니다. 제보가 적은 곳은 서울 전체의 보통 수준 쪽으로 당겨지고, "
    "많은 곳은 자기 값을 거의 그대로 유지합니다.\n"
    "- 밀도: 감마-푸아송 모형으로 같은 방식.\n"
    "- 모든 값에는 **95% 구간**(사후분포의 2.5%–97.5%)이 함께 나옵니다(마우스를 올리면 보임).\n"
    f"- 제보가 {MIN_ATTEMPTS_TO_RATE:,}건 미만이거나 '정상' 표본이 하나도 없는 육각형은 **회색**(판단 보류)으로 그리고 "
    "순위에서 뺍니다.\n"
    "- 색 구간은 보정값의 5분위이고, 맨 위 구간은 상위 2.5%만 따로 표시합니다. "
    "시간대를 고르면 하루 전체 기준의 구간을 그대로 써서, 24시간 재생 때 하루의 리듬이 보이게 했습니다.",
    "A hex with two reports, both failures, has an observed rate of 100 %, yet that alone does not make it the "
    "worst place in Seoul. The map therefore uses **empirical-Bayes shrinkage**:\n"
    "- Rates: a beta-binomial model. A prior Beta(α, β) is fitted by maximum likelihood to all hexes of the same "
    "view, and each hex shows (failures + α) ÷ (reports + α + β). Hexes with few reports are pulled towards the "
    "city's typical level; hexes with many keep nearly their own value.\n"
    "- Densities: the same with a gamma-Poisson model.\n"
    "- Every value comes with a **95 % interval** (2.5 %–97.5 % of the posterior), shown on hover.\n"
    f"- Hexes with fewer than {MIN_ATTEMPTS_TO_RATE:,} reports, or no 'all good' sample at all, are drawn **grey** "
    "(too few to rate) and left out of rankings.\n"
    "- Colour classes are the quintiles of the shrunk values, with the highest 2.5 % as a class of its own. "
    "When hours are chosen, the whole day's classes are "
    "kept, so playing through the 24 hours shows the daily rhythm.",
))

st.header(tr("4. 통신사 비교", "4. Comparing carriers"))
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

st.header(tr("5. 개인정보 보호 기준", "5. Privacy thresholds"))
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

st.header(tr("6. 한계", "6. Limits"))
st.markdown(tr(
    "- 제보는 스스로 알린 것이라 표본이 고르지 않습니다. 통신 장애의 '공식 측정'이 아닙니다.\n"
    "- 위치는 제보자가 고른 곳이며 GPS 정확도가 다릅니다. 구 이름은 육각형 중심점 기준입니다.\n"
    f"- 지도는 최대 {settings.get_int('DROPMAP_CACHE_SECONDS')}초 전의 자료입니다.",
    "- Reports are self-selected; the sample is uneven. This is not an official network measurement.\n"
    "- Locations are chosen by reporters and GPS accuracy varies; district names use each hex's centre.\n"
    f"- The map may be up to {settings.get_int('DROPMAP_CACHE_SECONDS')} s behind the newest report.",
))
