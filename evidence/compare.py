"""What other people report where and when you do, and "is it my phone or the network?".

Places are the res-8 hexagons (about 0.7 km²) of your failure reports; hours
are the 4-hour buckets (evidence.mine.TIME_BUCKETS) in which you reported
there; the period runs from 30 days before your first report to 30 days after
your last, within the stored data. Only (hexagon, bucket, carrier) cells with at least k other
reporters count (the same rule as the public map), so nothing here reveals
less than what the map already publishes.

Phone groups (same model on other carriers, and so on) are built from one
partition fixed by the site, not by the asker: per carrier, the phone models
(folded as model_key) of the other reporters. A (carrier, model) part is used
only with k reporters behind its failures and k behind its 'all good' samples,
and when the small parts of a carrier would be its total minus the parts shown,
the smallest shown part is left out too (geo.privacy.suppress). Every group is
then a sum of usable parts, or a carrier total minus them, so two codes that
name different models (or any number of codes) learn nothing smaller than k
people: see docs/SECURITY.md, "Differencing".

Rates are failure shares: failure reports / (failure reports + "all good"
samples). Reporters choose to report, so these are not the share of calls
that fail; comparing carriers in the same places and hours is what makes them
useful.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

import pandas as pd

from core.cellkey import with_noise
from core.city import load_city
from evidence.mine import failures_of, main_model, main_network, model_key, reporter_of
from evidence.stats import higher_rate_p_value, wilson_interval
from geo.privacy import min_reporters, suppress
from store import evidence_sql
from store.reports import observed_span

PERIOD_PADDING = timedelta(days=30)
MIN_REPORTS_FOR_VERDICT = 30  # failures + samples in each compared group
ALPHA = 0.01  # stricter than 0.05: one person's reports are not independent of each other


@dataclass
class Line:
    """Counts of one group of other reporters, with the failure share and its 95% interval."""

    failures: int = 0
    ok_samples: int = 0
    reporters: int = 0
    failure_reporters: int = 0

    @property
    def total(self) -> int:
        return self.failures + self.ok_samples

    @property
    def rate(self) -> float:
        return self.failures / self.total if self.ok_samples and self.total else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.failures, self.total) if self.ok_samples else (math.nan, math.nan)


@dataclass
class Comparison:
    network: str
    model: str | None
    hexes: int
    buckets: list[int]
    start: pd.Timestamp
    end: pd.Timestamp
    k: int
    networks: dict[str, Line] = field(default_factory=dict)  # only networks with a published cell
    by_bucket: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: dict[str, Line] = field(default_factory=dict)
    model_networks: tuple[str, ...] = ()  # the other carriers summed in "same model, other carriers"
    demo_share: float = 0.0


def compare_nearby(cur, code: str, mine: pd.DataFrame, *, k: int | None = None) -> Comparison | None:
    """Others' reports in the places and hours of ``mine``; None when there are no failures to compare."""
    failures = failures_of(mine)
    if failures.empty:
        return None
    k = k or min_reporters()
    network, model = main_network(mine), main_model(mine)
    units = failures[["h3_r8", "bucket"]].drop_duplicates()
    start = failures["observed_at"].min() - PERIOD_PADDING
    end = failures["observed_at"].max() + PERIOD_PADDING
    # The period said on the page and in the dossier is never wider than the data: no report lies outside it.
    first, last = observed_span(cur)
    # (the end is exclusive in the query: just past the last report)
    start, end = max(start, pd.Timestamp(first)), min(end, pd.Timestamp(last) + pd.Timedelta(microseconds=1))
    tz = load_city().tz  # shown as Seoul dates
    start, end = start.tz_convert(tz), end.tz_convert(tz)
    rows = _with_noise(evidence_sql.nearby_groups(cur, me=reporter_of(code), units=units, start=start.to_pydatetime(),
                                         end=end.to_pydatetime(), k=k), k)
    result = Comparison(network=network, model=model, hexes=units["h3_r8"].nunique(),
                        buckets=sorted(int(b) for b in units["bucket"].unique()), start=start, end=end, k=k)
    per_network = rows[rows["grouping_id"] == 3]
    result.networks = {r.network: _line(r) for r in per_network[_counts_usable(per_network, k)].itertuples()}
    by_bucket = rows[rows["grouping_id"] == 1].reset_index(drop=True)
    hidden = suppress(by_bucket, ~_counts_usable(by_bucket, k), _FIGURES, k, [["network"]])
    by_bucket = by_bucket[~hidden & by_bucket["network"].isin(list(result.networks))]
    result.by_bucket = by_bucket[["network", "bucket", "failures", "ok_samples", "reporters",
                                  "failure_reporters"]].reset_index(drop=True)
    result.groups, result.model_networks = phone_groups(rows[rows["grouping_id"] == 2], result.networks, network,
                                                        model_key(model), k)
    total = per_network["all_rows"].sum()
    result.demo_share = float(per_network["demo_rows"].sum() / total) if total else 0.0
    return result


def _with_noise(rows: pd.DataFrame, k: int) -> pd.DataFrame:
    """Others' counts as shown (core.cellkey): failures and their reporters with the key of the failure
    reports, samples and theirs with the samples' key, all reporters with the key of all. Every comparison
    with k below comes out as on the exact counts (0 stays 0, under k is not moved, k or more stays so);
    which equal part is hidden, and whether a total minus a part reaches k, are read from these figures."""
    out = with_noise(rows, {"failures": "failure_key", "failure_reporters": "failure_key", "ok_samples": "ok_key",
                            "ok_reporters": "ok_key", "reporters": "cell_key"}, k)
    # One line never contradicts itself: all its people at least those behind each figure, and no
    # more people behind a figure than its reports.
    out["failure_reporters"] = out[["failure_reporters", "failures"]].min(axis=1)
    out["ok_reporters"] = out[["ok_reporters", "ok_samples"]].min(axis=1)
    out["reporters"] = out[["reporters", "failure_reporters", "ok_reporters"]].max(axis=1)
    return out


def _line(r) -> Line:
    return Line(int(r.failures), int(r.ok_samples), int(r.reporters), int(r.failure_reporters))


_FIGURES = {"failures": "failure_reporters", "ok_samples": "ok_reporters"}


def _counts_usable(frame: pd.DataFrame, k: int):
    """Lines whose failures and 'all good' samples are each 0 or from k reporters (and k reporters in all)."""
    return ((frame["reporters"] >= k)
            & ((frame["failures"] == 0) | (frame["failure_reporters"] >= k))
            & ((frame["ok_samples"] == 0) | (frame["ok_reporters"] >= k))).to_numpy(dtype=bool)


def usable_parts(parts: pd.DataFrame, k: int) -> pd.DataFrame:
    """The (network, model_key) parts whose counts may be used: failures and samples each 0 or from
    k reporters, and per network, the parts left out never rest on fewer than k reporters together."""
    if parts.empty:
        return parts
    # The same order whoever asks: which of two equal parts is hidden must never depend on the asker.
    parts = parts.sort_values(["network", "model_key"]).reset_index(drop=True)
    hidden = suppress(parts, ~_counts_usable(parts, k), _FIGURES, k, [["network"]])
    return parts[~hidden].reset_index(drop=True)


def _sum(lines) -> Line:
    out = Line()
    for line in lines:
        out = Line(out.failures + line.failures, out.ok_samples + line.ok_samples, out.reporters + line.reporters,
                   out.failure_reporters + line.failure_reporters)
    return out


def _minus(total: Line, part: Line) -> Line:
    return Line(total.failures - part.failures, total.ok_samples - part.ok_samples,
                max(total.reporters - part.reporters, 0), max(total.failure_reporters - part.failure_reporters, 0))


def phone_groups(parts: pd.DataFrame, networks: dict[str, Line], network: str, model: str,
                 k: int) -> tuple[dict[str, Line], tuple[str, ...]]:
    """The comparison groups of someone on ``network`` with phone ``model`` (a model_key; '' = not given),
    and which other carriers "same model, other carriers" sums (shown with it: a reader may know anyway).

    Carrier totals always; with a model, its usable parts (``usable_parts``) on my carrier and on the
    others, and each carrier total minus them. A group whose model part is not usable is left out, so
    the asker's choice of model only picks among figures that are the same for everyone.
    """
    mine = networks.get(network)
    others = [line for name, line in networks.items() if name != network]
    groups = {"others_all_models": _sum(others)} if others else {}
    if mine is not None:
        groups["network_all_models"] = mine
    if not model:
        return groups, ()
    usable = usable_parts(parts[parts["network"].isin(list(networks))], k)
    same = usable[usable["model_key"] == model]
    on_mine = [_line(r) for r in same[same["network"] == network].itertuples()]
    elsewhere = same[same["network"] != network]
    if on_mine and mine is not None:
        groups["same_setup"] = on_mine[0]
        groups["network_other_models"] = _minus(mine, on_mine[0])
    if len(elsewhere) and others:
        groups["model_other_networks"] = _sum(_line(r) for r in elsewhere.itertuples())
        groups["baseline"] = _minus(groups["others_all_models"], groups["model_other_networks"])
        return groups, tuple(sorted(elsewhere["network"]))
    return groups, ()


@dataclass
class Verdict:
    code: str  # network | phone | both | none | not_enough
    text_ko: str
    text_en: str
    tests: list[dict] = field(default_factory=list)  # what was compared, with p-values


# Phone groups compared against the baseline (other carriers, other models).
NETWORK_GROUP = {True: "network_other_models", False: "network_all_models"}
MODEL_GROUP = "model_other_networks"
BASELINE = {True: "baseline", False: "others_all_models"}


def phone_or_network(comparison: Comparison) -> Verdict:
    """A plain-language answer, only when the numbers support one (see module docstring)."""
    has_model = bool(comparison.model and model_key(comparison.model))
    groups = comparison.groups
    # Without a usable part for my model on my carrier (or on the others), the whole carrier(s).
    network_line = groups.get(NETWORK_GROUP[has_model]) or groups.get(NETWORK_GROUP[False])
    model_line = groups.get(MODEL_GROUP) if has_model else None
    baseline = groups.get(BASELINE[has_model]) or groups.get(BASELINE[False])
    tests = []
    network_worse = _worse(network_line, baseline, "network", comparison.k, tests)
    model_worse = _worse(model_line, baseline, "phone", comparison.k, tests) if has_model else None
    if not any(t["decided"] for t in tests):
        return Verdict("not_enough", *_not_enough(comparison.k), tests=tests)
    net = comparison.network
    if network_worse and not model_worse:
        return Verdict("network", (
            f"같은 곳·같은 시간대에서 다른 기종을 쓰는 {net} 이용자도 다른 통신사 이용자보다 실패가 "
            "뚜렷이 많았습니다. 단말기만의 문제로 보기 어렵고, 망 쪽 원인을 확인할 근거가 됩니다."
        ), (
            f"In the same places and hours, {net} users with other phone models also failed clearly more "
            "often than users of other carriers. That is hard to explain by your phone alone and supports "
            "asking the carrier to check its network."
        ), tests)
    if model_worse and not network_worse:
        return Verdict("phone", (
            "같은 기종을 다른 통신사에서 쓰는 사람들도 실패가 뚜렷이 많았습니다. 단말기(기종) 쪽 원인일 "
            "가능성을 먼저 확인해 보세요."
        ), (
            "People with the same phone model on other carriers also failed clearly more often. Check the "
            "phone model first."
        ), tests)
    if model_worse and network_worse:
        return Verdict("both", (
            "통신사와 기종 모두 비교 대상보다 실패가 많았습니다. 어느 한쪽 탓이라고 말할 수 없습니다."
        ), (
            "Both your carrier and your phone model fail more often than the comparison; neither alone "
            "can be blamed."
        ), tests)
    return Verdict("none", (
        "비교한 집단들 사이에 뚜렷한 차이가 없습니다(우연으로 설명될 수 있는 정도)."
    ), (
        "No clear difference between the compared groups (chance could explain what differences there are)."
    ), tests)


def _not_enough(k: int) -> tuple[str, str]:
    return (
        f"판단할 만큼 자료가 충분하지 않습니다: 비교할 집단마다 다른 제보자가 {k}명 이상, 장애 제보와 '잘 됨' 표본이 "
        f"합쳐서 {MIN_REPORTS_FOR_VERDICT}건 이상 필요합니다.",
        f"Not enough data for an answer: each compared group needs at least {k} other reporters and "
        f"{MIN_REPORTS_FOR_VERDICT} failure reports and 'all good' samples together.",
    )


def _worse(group: Line | None, baseline: Line | None, what: str, k: int, tests: list[dict]) -> bool | None:
    """Whether ``group`` fails significantly more than ``baseline``; None when it cannot be tested."""
    test = {"what": what, "group": group, "baseline": baseline, "p_value": None, "decided": False}
    tests.append(test)
    for line in (group, baseline):
        if line is None or line.reporters < k or line.total < MIN_REPORTS_FOR_VERDICT or not line.ok_samples:
            return None
    test["p_value"] = higher_rate_p_value(group.failures, group.total, baseline.failures, baseline.total)
    test["decided"] = True
    return test["p_value"] < ALPHA
