"""Build data/subway_line_order.csv: the order of stations along lines 1-9, from the shipped station list.

Run ``python -m geo._build_line_order`` after changing data/seoul_subway_stations.csv;
tests/test_stations.py fails when the shipped file differs from what this writes.

How the order is derived (docs/DATA.md, "Subway line order"):
- Stations are sorted by their operator code (서울교통공사 외부역코드, e.g. 201-243 on line 2),
  which numbers them along the track.
- Line 9's first phase (개화 ~ 신논현) has no code in the source: those 25 stations run
  west to east, so they are sorted by longitude and put before code 926 (언주). This gives
  the operator's numbering 901-925.
- Codes given later, out of sequence, are moved to where the track puts them (MOVES).
- Branches (BRANCHES) follow the trunk: each is listed from the junction outwards, and its
  first station's ``after`` is the junction. Line 2's trunk is a loop: 시청's ``after`` is 충정로.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from core.settings import DATA_DIR

SOURCE = DATA_DIR / "seoul_subway_stations.csv"
TARGET = DATA_DIR / "subway_line_order.csv"
COLUMNS = ("line", "order", "station", "station_en", "branch", "after", "station_code", "lat", "lon")

# (line, station, put after this station): stations whose code is out of track order.
MOVES: tuple[tuple[str, str, str], ...] = (
    ("1", "동묘앞", "동대문"),  # 159, opened 1993 between 동대문 (155) and 신설동 (156)
    ("2", "용두", "신답"),  # 250 on the 성수 branch: 성수-용답-신답-용두-신설동
    ("2", "까치산", "신정네거리"),  # 200, the end of the 신정 branch
    ("6", "봉화산", "화랑대"),  # 2615, between 화랑대 (2648) and 신내 (2649)
    ("8", "남위례", "복정"),  # 2828, opened 2021 between 복정 (2821) and 산성 (2822)
    ("5", "강일", "상일동"),  # 2562-2566: the 하남 extension continues from 상일동
    ("5", "미사", "강일"),
    ("5", "하남풍산", "미사"),
    ("5", "하남시청", "하남풍산"),
    ("5", "하남검단산", "하남시청"),
)
# line -> ((branch name, junction, first station, last station), ...): stations from first to last
# (in the order after MOVES) form the branch; the others are the trunk.
BRANCHES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "2": (("성수지선", "성수", "용답", "신설동"), ("신정지선", "신도림", "도림천", "까치산")),
    "5": (("상일동·하남", "강동", "길동", "하남검단산"), ("마천", "강동", "둔촌동", "마천")),
}
LOOPS = ("2",)  # the trunk closes on itself


def _sort_key(row: dict) -> tuple:
    if row["station_code"]:
        return (int(row["station_code"]), 0.0)
    return (925, float(row["lon"]))  # line 9 phase 1: west to east, before 926


def _apply_moves(line: str, names: list[str]) -> list[str]:
    for move_line, station, after in MOVES:
        if move_line == line:
            names.remove(station)
            names.insert(names.index(after) + 1, station)
    return names


def line_order(rows: list[dict]) -> list[dict]:
    """The rows of the output file, line by line in track order (trunk first, then each branch)."""
    out: list[dict] = []
    by_line: dict[str, list[dict]] = {}
    for row in rows:
        by_line.setdefault(row["line"], []).append(row)
    for line in sorted(by_line, key=int):
        found = {r["name"]: r for r in by_line[line]}
        names = _apply_moves(line, [r["name"] for r in sorted(by_line[line], key=_sort_key)])
        branch_of: dict[str, tuple[str, str]] = {}
        for branch, junction, first, last in BRANCHES.get(line, ()):
            part = names[names.index(first):names.index(last) + 1]
            for i, name in enumerate(part):
                branch_of[name] = (branch, junction if i == 0 else part[i - 1])
        trunk = [n for n in names if n not in branch_of]
        sequence = [(n, "", trunk[i - 1] if i else (trunk[-1] if line in LOOPS else "")) for i, n in enumerate(trunk)]
        for branch, *_ in BRANCHES.get(line, ()):
            sequence += [(n, branch, branch_of[n][1]) for n in names if branch_of.get(n, ("",))[0] == branch]
        for order, (name, branch, after) in enumerate(sequence, start=1):
            row = found[name]
            out.append({"line": line, "order": order, "station": name, "station_en": romanize(name),
                        "branch": branch, "after": after, "station_code": row["station_code"],
                        "lat": row["lat"], "lon": row["lon"]})
    return out


def render(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def build(source: Path = SOURCE) -> str:
    with open(source, encoding="utf-8") as fh:
        return render(line_order(list(csv.DictReader(fh))))


# --- Revised Romanization of Korean (국어의 로마자 표기법, 2000), for English-language pages ----------

_INITIAL = ("g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p", "h")
_VOWEL = ("a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u", "wo", "we", "wi",
          "yu", "eu", "ui", "i")
# Final consonant (index 0 = none) -> its sound before a pause, and before a vowel (linked).
_FINAL = ("", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m", "p", "p", "t", "t",
          "ng", "t", "t", "k", "t", "p", "t")
_LINKED = ("", "g", "kk", "gs", "n", "nj", "n", "d", "r", "lg", "lm", "lb", "ls", "lt", "lp", "r", "m", "b", "bs",
           "s", "ss", "ng", "j", "ch", "k", "t", "p", "")


def _jamo(char: str) -> tuple[int, int, int] | None:
    code = ord(char) - 0xAC00
    if not 0 <= code < 11172:
        return None
    return code // 588, (code % 588) // 28, code % 28


def romanize(text: str) -> str:
    """'강남' -> 'Gangnam', '종로3가' -> 'Jongno 3-ga', '선릉' -> 'Seolleung' (common sound changes only)."""
    out: list[str] = []
    chars = list(text)
    for i, char in enumerate(chars):
        parts = _jamo(char)
        if parts is None:
            out.append(char)
            continue
        initial, vowel, final = parts
        prev = _jamo(chars[i - 1]) if i else None
        nxt = _jamo(chars[i + 1]) if i + 1 < len(chars) else None
        start = _INITIAL[initial]
        if prev and prev[2] and initial == 5:  # ㄹ after a final: ㄴ/ㄹ -> l, other finals -> n
            start = "l" if _FINAL[prev[2]] in ("l", "n") else "n"
        elif prev and initial == 2 and _FINAL[prev[2]] == "l":  # ㄹ + ㄴ -> ll
            start = "l"
        if prev and initial == 11 and _LINKED[prev[2]] not in ("", "ng"):
            start = ""  # the final was carried over to this syllable
        end = _FINAL[final]
        if nxt:
            if nxt[0] == 11 and final:  # linked onto the next vowel
                end = "ng" if _LINKED[final] == "ng" else _LINKED[final]
            elif nxt[0] in (2, 6, 5) and end in ("k", "p", "t"):  # nasalised before ㄴ/ㅁ/ㄹ
                end = {"k": "ng", "p": "m", "t": "n"}[end]
            elif nxt[0] == 5 and end == "n":
                end = "l"
        out.append(start + _VOWEL[vowel] + end)
    word = "".join(out)
    for digit in "123456789":
        word = word.replace(f"{digit}ga", f" {digit}-ga")
    return word[:1].upper() + word[1:]


def main() -> None:
    TARGET.write_text(build(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
