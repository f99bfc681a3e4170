"""Trading and risk math: pure functions with the definitions every exported number follows.

Definitions (all money in USD, all ratios as fractions, time in UTC epoch seconds):

- Realized P&L: the sum of the ``pnl`` of every counted trade; daily P&L groups trades by the UTC
  day of the trade's own timestamp.
- Win rate = trades with pnl > 0 / trades that carry a pnl (trades without one are not judged).
- Equity: the latest portfolio value when portfolio snapshots are reported, otherwise
  ``monitoring.initial_capital_usd`` + cumulative realized P&L (None when neither is known).
- Drawdown on an equity curve e_t: running peak P_t = max(e_0..e_t) (the peak always comes before the
  trough); drawdown_t = (P_t - e_t) / P_t; max drawdown = max over t; current = the last one.
  The trade-based curve starts at the initial capital (before the first trade).
- Sharpe ratio: daily returns r_d = realized P&L of UTC day d / equity at the start of day d, for
  every calendar day from the first trading day in the window to today (no-trade days count as 0,
  today's partial day included); Sharpe = mean(r) / stdev(r, ddof=1) x sqrt(365) (crypto trades every
  day), risk-free rate 0; None with fewer than ``SHARPE_MIN_DAYS`` days or zero deviation.
- VaR (historical, horizon = one trade): the q-VaR is the loss of the k-th worst realized trade P&L,
  k = ceil((1 - q) x n), over the last n trades; reported as a positive loss, 0 when that quantile
  is a gain; None below ``VAR_MIN_SAMPLES`` samples.
- Exposure = sum of |position value|; leverage = exposure / portfolio value (None if value <= 0).
- Correlation: average over symbol pairs of the Pearson correlation of simple price returns between
  consecutive stored snapshots (pairs with fewer than ``CORRELATION_MIN_POINTS`` common returns or a
  constant series are skipped; None when no pair qualifies).
- Period return over h = value now / value of the newest snapshot at least h old - 1 (None when no
  snapshot is that old, so a "7 d" return never silently covers less).
- Percentiles: linear interpolation between closest ranks (numpy's default).
- Fill rate = filled orders / orders (trades with an exchange, in the rate window); error rate =
  (failed orders + failed API calls) / (orders + API calls timed with ``record_exchange_latency``).
- Agent accuracy = correct / scored predictions (scored = an actual outcome is known; correct = the
  same direction: sign of a number, or buy/long/up = +1, sell/short/down = -1, hold/flat = 0, other
  labels compared as text); confidence = mean reported confidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

SECONDS_PER_DAY = 86_400
TRADING_DAYS_PER_YEAR = 365  # crypto markets never close
SHARPE_MIN_DAYS = 2
VAR_MIN_SAMPLES = 20
CORRELATION_MIN_POINTS = 3

# Prometheus' default histogram buckets (seconds), used for execution time and exchange latency.
LATENCY_BUCKETS_SECONDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0,
                                              2.5, 5.0, 7.5, 10.0)


def utc_day(ts: float) -> int:
    """Days since the epoch of the UTC day containing ``ts``."""
    return int(ts // SECONDS_PER_DAY)


def day_label(day: int) -> str:
    return datetime.fromtimestamp(day * SECONDS_PER_DAY, UTC).strftime("%Y-%m-%d")


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def win_rate(wins: int, judged_trades: int) -> float | None:
    """Wins over trades that carry a P&L."""
    return ratio(wins, judged_trades)


def pnl_by_day(trades: Iterable[tuple[float, float]]) -> dict[int, float]:
    """(timestamp, pnl) pairs -> {utc_day: realized P&L}."""
    out: dict[int, float] = {}
    for ts, pnl in trades:
        day = utc_day(ts)
        out[day] = out.get(day, 0.0) + pnl
    return out


def daily_returns(pnl_daily: Mapping[int, float], equity_now: float | None, today: int,
                  max_days: int = 365) -> list[float]:
    """Daily returns on start-of-day equity, oldest first (see module doc); [] when undefined."""
    if equity_now is None or not pnl_daily:
        return []
    first = max(min(pnl_daily), today - max_days + 1)
    returns: list[float] = []
    end_equity = equity_now
    for day in range(today, first - 1, -1):  # walk back: start equity = end equity - that day's P&L
        pnl = pnl_daily.get(day, 0.0)
        start_equity = end_equity - pnl
        if start_equity <= 0:
            break  # returns on non-positive equity are meaningless; stop at the older boundary
        returns.append(pnl / start_equity)
        end_equity = start_equity
    returns.reverse()
    return returns


def mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def stdev(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof=1)."""
    n = len(values)
    if n < 2:
        return None
    mu = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mu) ** 2 for v in values) / (n - 1))


def sharpe_ratio(returns: Sequence[float], periods_per_year: int = TRADING_DAYS_PER_YEAR,
                 min_samples: int = SHARPE_MIN_DAYS) -> float | None:
    """Annualized Sharpe of per-period returns (risk-free 0)."""
    if len(returns) < min_samples:
        return None
    sd = stdev(returns)
    if not sd:
        return None
    return (math.fsum(returns) / len(returns)) / sd * math.sqrt(periods_per_year)


def drawdowns(equity: Iterable[float]) -> tuple[float | None, float | None]:
    """(max drawdown, current drawdown) of an equity curve, as fractions of the running peak."""
    peak: float | None = None
    max_dd: float | None = None
    current: float | None = None
    for value in equity:
        peak = value if peak is None or value > peak else peak
        current = (peak - value) / peak if peak > 0 else None
        if current is not None and (max_dd is None or current > max_dd):
            max_dd = current
    return max_dd, current


def current_drawdown(peak: float | None, equity: float | None) -> float | None:
    if peak is None or equity is None or peak <= 0:
        return None
    return max(0.0, (peak - equity) / peak)


def historical_var(pnls: Sequence[float], confidence: float,
                   min_samples: int = VAR_MIN_SAMPLES) -> float | None:
    """Historical one-trade VaR at ``confidence`` (0.95, 0.99) as a positive loss in USD."""
    n = len(pnls)
    if n < min_samples:
        return None
    k = max(1, math.ceil((1.0 - confidence) * n - 1e-9))
    kth_worst = sorted(pnls)[k - 1]
    return max(0.0, -kth_worst)


def exposure(position_values: Iterable[float]) -> float:
    return math.fsum(abs(v) for v in position_values)


def leverage(exposure_usd: float, portfolio_value: float | None) -> float | None:
    if portfolio_value is None or portfolio_value <= 0:
        return None
    return exposure_usd / portfolio_value


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n != len(ys) or n < 2:
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def average_correlation(prices: Sequence[Mapping[str, float]],
                        min_points: int = CORRELATION_MIN_POINTS) -> float | None:
    """Average pairwise correlation of per-symbol returns from consecutive snapshots (oldest first)."""
    returns: list[dict[str, float]] = []
    for before, after in zip(prices, prices[1:], strict=False):
        step = {s: after[s] / before[s] - 1.0 for s in after if s in before and before[s] > 0}
        returns.append(step)
    symbols = sorted({s for step in returns for s in step})
    values: list[float] = []
    for i, a in enumerate(symbols):
        for b in symbols[i + 1:]:
            common = [(step[a], step[b]) for step in returns if a in step and b in step]
            if len(common) < min_points:
                continue
            rho = pearson([x for x, _ in common], [y for _, y in common])
            if rho is not None:
                values.append(rho)
    return mean(values)


def period_return(value_now: float | None, value_then: float | None) -> float | None:
    if value_now is None or value_then is None or value_then <= 0:
        return None
    return value_now / value_then - 1.0


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of ascending values, linear interpolation between closest ranks."""
    n = len(sorted_values)
    if n == 0:
        return None
    pos = (n - 1) * q
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_percentiles(samples: Iterable[float]) -> dict[str, float | None]:
    ordered = sorted(samples)
    return {"p50_latency": percentile(ordered, 0.50), "p95_latency": percentile(ordered, 0.95),
            "p99_latency": percentile(ordered, 0.99)}


def bucket_index(value: float, bounds: Sequence[float]) -> int:
    """Index of the first histogram bucket whose upper bound holds ``value`` (len(bounds) = +Inf)."""
    for i, bound in enumerate(bounds):
        if value <= bound:
            return i
    return len(bounds)


_DIRECTIONS = {"buy": 1, "long": 1, "up": 1, "bullish": 1, "bull": 1,
               "sell": -1, "short": -1, "down": -1, "bearish": -1, "bear": -1,
               "hold": 0, "flat": 0, "neutral": 0}


def direction(value: Any) -> int | str | None:
    """+1/-1/0 for numbers and known labels; other text as lower-case label; None for None."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value > 0) - (value < 0)
    text = str(value).strip().lower()
    return _DIRECTIONS.get(text, text)


def prediction_correct(prediction: Any, actual: Any) -> bool | None:
    """Whether a prediction matched the outcome; None when it cannot be scored."""
    p, a = direction(prediction), direction(actual)
    if p is None or a is None:
        return None
    return p == a
