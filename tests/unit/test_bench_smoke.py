"""The bench's pure helpers: percentiles, summaries, ratio rows, profile summaries (no timing asserted)."""

from __future__ import annotations

import pytest

from bench.cli import SECTIONS, parse_args
from bench.profile import summarize_collapsed
from bench.stats import Ratio, cpu_ratio, percentile, ratio, ratio_rows, summarize


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 100) == 5.0
    assert percentile([1.0, 2.0], 0) == 1.0
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_a_series_and_of_nothing() -> None:
    summary = summarize([0.1, 0.2, 0.3, 0.4])
    assert summary.count == 4 and summary.max == 0.4
    assert summary.p50 == pytest.approx(0.25) and summary.mean == pytest.approx(0.25)
    empty = summarize([])
    assert empty.count == 0 and empty.p50 is None and empty.mean is None


def test_ratio_rows_pair_series_both_sides_measured() -> None:
    ours = {"start->ack": summarize([2.0, 2.0]), "start->done": summarize([3.0]), "only ours": summarize([1.0])}
    reference = {"start->ack": summarize([1.0, 1.0]), "start->done": summarize([2.0])}
    rows = ratio_rows(ours, reference, stat="p50", target=1.3)
    assert [r.metric for r in rows] == ["start->ack p50", "start->done p50"]
    assert rows[0].ratio == pytest.approx(2.0) and rows[0].meets_target is False
    assert rows[1].ratio == pytest.approx(1.5)


def test_ratio_targets_for_latency_and_throughput() -> None:
    assert ratio(1.0, 0) is None and ratio(None, 1.0) is None
    assert Ratio("p50", 1.2, 1.0, 1.2, 1.3).meets_target is True
    assert Ratio("throughput", 8.0, 10.0, 0.8, 1.3, higher_is_better=True).meets_target is True
    assert Ratio("throughput", 5.0, 10.0, 0.5, 1.3, higher_is_better=True).meets_target is False
    assert Ratio("no target", 1.0, 1.0, 1.0).as_dict()["meets_target"] is None


def test_profile_summary_groups_by_library_phase_and_our_code() -> None:
    lines = [
        "main (bench/cli.py:1);_ActivityInboundImpl.execute_activity (temporalio/worker/_activity.py:9);"
        "OrderActivities.record_order (activities/order_activities.py:5);execute (sqlalchemy/orm/session.py:3) 30",
        "run (asyncio/runners.py:1);EpollSelector.select (selectors.py:468) 10",
        "not a sample line",
    ]
    summary = summarize_collapsed(lines)
    assert summary.samples == 40
    assert summary.by_library == {"sqlalchemy": 30, "stdlib": 10}
    assert summary.by_phase["activity OrderActivities.record_order"] == 30
    assert summary.our_functions == {"activities:OrderActivities.record_order": 30}


def test_sections_and_defaults() -> None:
    args = parse_args([])
    assert args.sections == list(SECTIONS) and args.orders > 0 and args.resting == 200
    assert parse_args(["--section", "history", "--section", "fill"]).sections == ["history", "fill"]


def test_the_cpu_ratio_is_the_reference_total_over_ours() -> None:
    ours = {"worker": 133.0, "temporal server": 82.0, "postgresql": 18.7, "simulator": 9.3}
    baseline = {"worker": 44.0, "temporal server": 61.8, "postgresql": 0.0, "simulator": 0.0}
    assert cpu_ratio(ours, baseline) == pytest.approx(105.8 / 243.0)
    assert cpu_ratio({}, baseline) is None and cpu_ratio(ours, {}) is None
