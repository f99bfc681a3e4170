"""The trading/risk math against hand-computed values (definitions in metrics/calculations.py)."""

from __future__ import annotations

import math

import pytest

from graphwiz_monitoring.metrics import calculations as calc

DAY = 20_000  # an arbitrary UTC day number


def test_utc_day_boundaries() -> None:
    assert calc.utc_day(86_400 * DAY) == DAY
    assert calc.utc_day(86_400 * DAY - 0.001) == DAY - 1
    assert calc.day_label(0) == "1970-01-01"


def test_pnl_by_day_groups_by_utc_day_of_the_trade() -> None:
    start = 86_400 * DAY
    trades = [(start - 1, 10.0), (start, 5.0), (start + 86_399, -2.0), (start + 86_400, 1.0)]
    assert calc.pnl_by_day(trades) == {DAY - 1: 10.0, DAY: 3.0, DAY + 1: 1.0}


def test_win_rate_counts_only_trades_with_a_pnl() -> None:
    assert calc.win_rate(3, 4) == 0.75
    assert calc.win_rate(0, 0) is None


def test_daily_returns_walk_back_from_equity_now() -> None:
    # equity 1000 -> +50 -> 1050 -> -20 -> 1030 -> +70 -> 1100 (today)
    returns = calc.daily_returns({DAY - 2: 50.0, DAY - 1: -20.0, DAY: 70.0}, 1100.0, today=DAY)
    assert returns == pytest.approx([0.05, -20 / 1050, 70 / 1030])


def test_daily_returns_fill_days_without_trades_with_zero() -> None:
    returns = calc.daily_returns({DAY - 2: 100.0}, 1100.0, today=DAY)
    assert returns == pytest.approx([0.1, 0.0, 0.0])


def test_sharpe_of_daily_returns_annualized_sqrt_365() -> None:
    returns = [0.05, -20 / 1050, 70 / 1030]
    # mean 0.032971182, sample stdev 0.045936016 -> 0.717762 * sqrt(365)
    assert calc.sharpe_ratio(returns) == pytest.approx(13.712846607666336, rel=1e-9)
    assert calc.sharpe_ratio([0.01]) is None  # below SHARPE_MIN_DAYS
    assert calc.sharpe_ratio([0.01, 0.01, 0.01]) is None  # zero deviation


def test_drawdown_peak_comes_before_trough() -> None:
    # 100 -> 80 is a 20% drawdown; the later peak at 150 must not be compared with the earlier 80.
    assert calc.drawdowns([100, 80, 150]) == (pytest.approx(0.2), 0.0)
    max_dd, current = calc.drawdowns([100, 120, 90, 130, 117])
    assert max_dd == pytest.approx(0.25)  # 120 -> 90
    assert current == pytest.approx(0.1)  # 130 -> 117
    assert calc.drawdowns([]) == (None, None)


def test_current_drawdown() -> None:
    assert calc.current_drawdown(200.0, 150.0) == 0.25
    assert calc.current_drawdown(0.0, 10.0) is None
    assert calc.current_drawdown(None, 10.0) is None


def test_historical_var_is_the_kth_worst_loss() -> None:
    pnls = [float(x) for x in range(-10, 10)]  # 20 samples
    assert calc.historical_var(pnls, 0.95) == 10.0  # k = ceil(0.05 * 20) = 1
    pnls = [float(x) for x in range(-20, 20)]  # 40 samples
    assert calc.historical_var(pnls, 0.95) == 19.0  # k = 2 -> second worst, -19
    assert calc.historical_var(pnls, 0.99) == 20.0  # k = ceil(0.4) = 1


def test_var_is_zero_when_the_quantile_is_a_gain_and_none_below_min_samples() -> None:
    assert calc.historical_var([float(x) for x in range(1, 21)], 0.95) == 0.0
    assert calc.historical_var([-5.0] * 19, 0.95) is None


def test_exposure_and_leverage() -> None:
    assert calc.exposure([500.0, -300.0, 0.0]) == 800.0
    assert calc.leverage(800.0, 400.0) == 2.0
    assert calc.leverage(800.0, 0.0) is None
    assert calc.leverage(800.0, None) is None


def test_average_correlation_of_position_returns() -> None:
    a = [100, 110, 99, 120, 118]
    snapshots = [{"A": pa, "B": pa * 2, "C": 1000 / pa} for pa in a]
    # A and B move identically (rho 1); C moves against them (rho close to -1, not exactly: 1/x).
    rho_ac = calc.pearson(*[[s2[k] / s1[k] - 1 for s1, s2 in zip(snapshots, snapshots[1:], strict=False)]
                            for k in ("A", "C")])
    assert rho_ac is not None and rho_ac < -0.99
    expected = (1.0 + 2 * rho_ac) / 3
    assert calc.average_correlation(snapshots) == pytest.approx(expected)


def test_correlation_needs_enough_common_points() -> None:
    assert calc.average_correlation([{"A": 1, "B": 2}, {"A": 2, "B": 3}, {"A": 3, "B": 1}]) is None  # 2 returns
    assert calc.average_correlation([{"A": 1.0}] * 10) is None  # one symbol, no pair


def test_period_return() -> None:
    assert calc.period_return(110.0, 100.0) == pytest.approx(0.1)
    assert calc.period_return(110.0, None) is None
    assert calc.period_return(110.0, 0.0) is None


def test_percentiles_interpolate_linearly() -> None:
    assert calc.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert calc.percentile([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)
    assert calc.percentile([1.0, 2.0, 3.0, 4.0], 0.99) == pytest.approx(3.97)
    assert calc.percentile([], 0.5) is None
    p = calc.latency_percentiles([0.3, 0.1, 0.2])
    assert p == {"p50_latency": 0.2, "p95_latency": pytest.approx(0.29), "p99_latency": pytest.approx(0.298)}


def test_bucket_index() -> None:
    bounds = (0.1, 1.0)
    assert [calc.bucket_index(v, bounds) for v in (0.05, 0.1, 0.5, 1.0, 2.0)] == [0, 0, 1, 1, 2]


@pytest.mark.parametrize(("prediction", "actual", "expected"), [
    (1, 0.5, True), (1, -0.2, False), ("buy", -2, False), ("BUY", "up", True), ("hold", 0, True),
    ("sell", "short", True), (None, 1, None), (1, None, None), ("cat", "CAT", True), ("cat", "dog", False),
])
def test_prediction_correct_compares_direction(prediction, actual, expected) -> None:
    assert calc.prediction_correct(prediction, actual) is expected


def test_stdev_and_mean() -> None:
    assert calc.mean([1.0, 2.0, 3.0]) == 2.0
    assert calc.stdev([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert calc.stdev([1.0]) is None
    assert math.isclose(calc.pearson([1, 2, 3], [2, 4, 6]), 1.0)
