"""`graphwiz-monitoring`: the command line (click). Each command resolves settings, then calls the library."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import yaml

from .config import CONFIG_ENV_VAR, Settings
from .errors import ConfigError, GraphwizError


def _load(ctx: click.Context) -> Settings:
    """Settings for this invocation; --config is exported so child processes see the same file."""
    from . import context

    path = ctx.find_root().params.get("config")
    if path:
        os.environ[CONFIG_ENV_VAR] = os.path.abspath(path)
        context.reset()
    return context.get_settings()  # a ConfigError becomes a clean exit through _Main


def _fail(exc: GraphwizError) -> None:
    raise click.ClickException(str(exc))


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("  (none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    click.echo("  " + "  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


class _Main(click.Group):
    """Every library error ends the command with its message (exit 1), never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GraphwizError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main)
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help=f"monitoring.yaml to use (default: ${CONFIG_ENV_VAR}, then ./monitoring.yaml)")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """graphwiz-monitoring: monitoring and alerting for the graphwiz trading bot."""


@main.command("check-config")
@click.option("--config", "local_config", type=click.Path(dir_okay=False), default=None, help="file to check")
@click.pass_context
def check_config(ctx: click.Context, local_config: str | None) -> None:
    """Print the effective configuration (secrets masked), or every error; non-zero exit on error."""
    from .config import load_settings

    path = local_config or ctx.find_root().params.get("config")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(yaml.safe_dump(settings.masked(), sort_keys=False))
    click.echo("configuration OK", err=True)


@main.command("run")
@click.option("--demo", is_flag=True, help="add a clearly labelled synthetic trader feed")
@click.option("--state-dir", default=".graphwiz", show_default=True, type=click.Path(file_okay=False),
              help="where a locally started Redis keeps its data (AOF) and beat its schedule")
@click.pass_context
def run(ctx: click.Context, demo: bool, state_dir: str) -> None:
    """Run the whole system on this machine: Redis (reused or started), worker + beat, exporter, realtime."""
    from pathlib import Path

    from .supervisor import run_all

    settings = _load(ctx)
    code = run_all(settings, demo=demo, config_path=os.environ.get(CONFIG_ENV_VAR), state_dir=Path(state_dir))
    sys.exit(code)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


# ------------------------------------------------------------------ metrics (issue 3 adds commands here)

@main.command("exporter")
@click.option("--host", default=None, help="bind address (default: monitoring.prometheus_host)")
@click.option("--port", type=int, default=None, help="port (default: monitoring.prometheus_port)")
@click.pass_context
def exporter(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve /metrics (read from Redis at scrape time) and /healthz in the foreground until SIGTERM/Ctrl-C."""
    from .metrics.exporter import serve_forever

    settings = _load(ctx)
    if not settings.monitoring.enable_prometheus:
        click.echo("note: monitoring.enable_prometheus is false; starting the exporter anyway", err=True)
    try:
        serve_forever(settings, host, port, announce=lambda line: click.echo(line, err=True))
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host or settings.monitoring.prometheus_host}:"
                                   f"{port or settings.monitoring.prometheus_port}: {exc.strerror}") from None


@main.command("metrics")
@click.pass_context
def metrics_snapshot(ctx: click.Context) -> None:
    """Print the current metrics snapshot (JSON) as rules and health checks see it."""
    from .context import get_keys, get_store
    from .metrics.snapshot import build_snapshot

    settings = _load(ctx)
    click.echo(_json(build_snapshot(get_store(settings), get_keys(settings), settings)))


# ------------------------------------------------------------------ alerting (issue 4 adds commands here)

# --- rules + lifecycle: silence add|list|remove, alerts list

def _matchers(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected label=value, got {item!r}", param_hint="--matcher")
        out[name.strip()] = value.strip()
    return out


def _when(epoch: float | None) -> str:
    from datetime import datetime, timezone

    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@main.group("silence")
def silence() -> None:
    """Mute alerts by rule, label or severity for a while (shared by every worker)."""


@silence.command("add")
@click.option("--matcher", "-m", "matchers", multiple=True, required=True,
              help="label=value (repeatable; shell patterns allowed; labels include rule and severity)")
@click.option("--duration", default=None, help="how long, e.g. 30m, 2h, 1d (default 1h)")
@click.option("--until", "until", default=None, help="end time, ISO-8601 (instead of --duration)")
@click.option("--starts", default=None, help="start time, ISO-8601 (default now)")
@click.option("--author", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@click.option("--reason", default="", help="why (shown in silence list)")
@click.pass_context
def silence_add(ctx: click.Context, matchers: tuple[str, ...], duration: str | None, until: str | None,
                starts: str | None, author: str, reason: str) -> None:
    """Add a silence; prints its id."""
    import time

    from . import context
    from .alerting.silences import add_silence, parse_duration, parse_time

    if duration and until:
        raise click.UsageError("give --duration or --until, not both")
    settings = _load(ctx)
    start = parse_time(starts) if starts else None
    base = start if start is not None else time.time()
    end = parse_time(until) if until else base + parse_duration(duration or "1h")
    created = add_silence(context.get_store(settings), context.get_keys(settings), _matchers(matchers),
                          ends_at=end, starts_at=start, author=author, reason=reason)
    click.echo(created.id)


@silence.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def silence_list(ctx: click.Context, as_json: bool) -> None:
    """Current and upcoming silences (runtime and from the config file)."""
    from . import context
    from .alerting.silences import list_silences

    settings = _load(ctx)
    found = list_silences(context.get_store(settings), context.get_keys(settings), settings)
    if as_json:
        click.echo(_json([s.to_dict() for s in found]))
        return
    _print_table([{"id": s.id, "matchers": ",".join(f"{k}={v}" for k, v in s.matchers.items()),
                   "starts": _when(s.starts_at), "ends": _when(s.ends_at), "author": s.author,
                   "reason": s.reason[:60], "source": s.source} for s in found],
                 ["id", "matchers", "starts", "ends", "author", "reason", "source"])


@silence.command("remove")
@click.argument("silence_id")
@click.pass_context
def silence_remove(ctx: click.Context, silence_id: str) -> None:
    """End a runtime silence now."""
    from . import context
    from .alerting.silences import remove_silence

    settings = _load(ctx)
    removed = remove_silence(context.get_store(settings), context.get_keys(settings), silence_id)
    if not removed:
        raise click.ClickException(f"no silence with id {silence_id}")
    click.echo(f"removed {silence_id}")


@main.group("alerts")
def alerts_group() -> None:
    """Inspect alerts (active ones, history)."""


@alerts_group.command("list")
@click.option("--history", is_flag=True, help="alerts created in the last --hours, not only active ones")
@click.option("--hours", default=24.0, show_default=True, help="history window")
@click.option("--severity", default=None, help="only this severity (info, warning, critical, emergency)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def alerts_list(ctx: click.Context, history: bool, hours: float, severity: str | None, as_json: bool) -> None:
    """Active alerts (newest first), or with --history every alert of the window."""
    from . import context
    from .alerting.manager import get_active_alerts, get_alert_history
    from .alerting.models import AlertSeverity

    settings = _load(ctx)
    store, keys = context.get_store(settings), context.get_keys(settings)
    try:
        wanted = AlertSeverity.parse(severity) if severity else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--severity") from None
    found = (get_alert_history(store, keys, hours=hours, severity=wanted) if history
             else [a for a in get_active_alerts(store, keys) if wanted is None or a.severity is wanted])
    if as_json:
        click.echo(_json([a.to_dict() for a in found]))
        return
    _print_table([{"id": a.alert_id[:12], "severity": a.severity.value.upper(), "rule": a.rule_name,
                   "labels": ",".join(f"{k}={v}" for k, v in a.labels.items()), "state": a.state.value,
                   "created": _when(a.created_at), "title": a.title[:60]} for a in found],
                 ["id", "severity", "rule", "labels", "state", "created", "title"])


# --- notification channels + delivery: dlq list|retry, test-alert

@main.group("dlq")
def dlq() -> None:
    """The dead-letter list: notifications that exhausted their retries, rejected payloads."""


@dlq.command("list")
@click.option("--limit", default=50, show_default=True, help="newest entries to show")
@click.option("--kind", default=None, help="only this kind (e.g. notification)")
@click.option("--json", "as_json", is_flag=True, help="print the entries as JSON")
@click.pass_context
def dlq_list(ctx: click.Context, limit: int, kind: str | None, as_json: bool) -> None:
    """Show dead-lettered items, newest first."""
    from datetime import datetime, timezone

    from . import context
    from .state.dead_letters import dead_letter_count, list_dead_letters

    settings = _load(ctx)
    store, keys = context.get_store(settings), context.get_keys(settings)
    entries = list_dead_letters(store, keys, limit=limit, kind=kind)
    total = dead_letter_count(store, keys)
    if as_json:
        click.echo(_json(entries))
        return
    rows = [{"id": e["id"], "time": datetime.fromtimestamp(e["time"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
             "kind": e["kind"], "channel": (e.get("payload") or {}).get("channel", ""),
             "alert": (e.get("payload") or {}).get("alert_id", ""), "reason": str(e["reason"])[:80]} for e in entries]
    click.echo(f"dead letters: {total} in total")
    _print_table(rows, ["id", "time", "kind", "channel", "alert", "reason"])


@dlq.command("retry")
@click.argument("entry_id", required=False)
@click.option("--all", "retry_all", is_flag=True, help="re-queue every dead-lettered notification")
@click.pass_context
def dlq_retry(ctx: click.Context, entry_id: str | None, retry_all: bool) -> None:
    """Re-queue dead-lettered notifications (one ID, or --all) to the workers."""
    from . import context
    from .alerting.delivery import DEAD_LETTER_KIND, requeue_dead_letter
    from .celery import create_app, send
    from .state.dead_letters import list_dead_letters

    if bool(entry_id) == retry_all:
        raise click.UsageError("give one entry ID or --all")
    settings = _load(ctx)
    store, keys = context.get_store(settings), context.get_keys(settings)
    app = create_app(settings)

    def enqueue(alert_id: str, channel: str, kind: str) -> None:
        send("workers.notify.deliver", alert_id, channel, kind, celery_app=app)

    try:
        entries = list_dead_letters(store, keys, limit=settings.retention.dead_letters_max,
                                    kind=DEAD_LETTER_KIND if retry_all else None)
        if entry_id:
            entries = [e for e in entries if e.get("id") == entry_id]
            if not entries:
                raise click.ClickException(f"no dead letter with id {entry_id}")
        problems = [p for p in (requeue_dead_letter(store, keys, e, enqueue) for e in entries) if p]
    except GraphwizError as exc:
        _fail(exc)
    except Exception as exc:  # broker unreachable: kombu's own errors
        raise click.ClickException(f"could not queue: {type(exc).__name__}") from None
    for problem in problems:
        click.echo(f"skipped: {problem}", err=True)
    click.echo(f"re-queued {len(entries) - len(problems)} notification(s)")
    from .health.breaker import BreakerState, CircuitBreaker

    for channel in sorted({(e.get("payload") or {}).get("channel") for e in entries} - {None}):
        status = CircuitBreaker(store, keys, f"channel.{channel}", settings.circuit_breakers).status()
        if status.state is BreakerState.OPEN:  # the retries wait for the breaker's trial
            click.echo(f"note: circuit channel.{channel} is open; its retries wait for the half-open trial",
                       err=True)
    if entry_id and problems:
        sys.exit(1)


@main.command("test-alert")
@click.option("--channel", "channels", multiple=True, required=True,
              help="channel to test (repeatable), or 'all' for every active channel")
@click.option("--severity", default="info", show_default=True)
@click.option("--message", default="This is a test notification. If you can read it, the channel works.")
@click.option("--queue", "via_queue", is_flag=True,
              help="deliver through the workers (with their retries) instead of from this process")
@click.pass_context
def test_alert(ctx: click.Context, channels: tuple[str, ...], severity: str, message: str, via_queue: bool) -> None:
    """Send a test notification. By default it is delivered from this process, once, and the outcome
    printed (rate limits are waited out, a failure is reported, not retried); --queue hands it to the
    workers instead."""
    from . import context
    from .alerting.delivery import SENT, deliver_now
    from .alerting.models import Alert, AlertChannel, AlertSeverity

    settings = _load(ctx)
    store, keys = context.get_store(settings), context.get_keys(settings)
    try:
        names = ([c.value for c in AlertChannel if settings.notifications.for_channel(c).active]
                 if "all" in [c.lower() for c in channels] else [AlertChannel.parse(c).value for c in channels])
        level = AlertSeverity.parse(severity)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    alert = Alert(rule_name="test_alert", title="Test notification from graphwiz-monitoring", message=message,
                  severity=level, channels=[AlertChannel(n) for n in names],
                  labels={"source": "cli"}, metadata={"host": context.hostname()})
    failed = 0
    try:
        store.r.set(keys.alert(alert.alert_id), json.dumps(alert.to_dict()),
                    ex=int(settings.alerts.history_retention_hours * 3600))
        if via_queue:
            from .celery import create_app, send

            app = create_app(settings)
            for name in names:
                send("workers.notify.deliver", alert.alert_id, name, "firing", celery_app=app)
                click.echo(f"{name}: queued (alert {alert.alert_id})")
            return
        for name in names:
            result = deliver_now(store, keys, settings, alert.alert_id, name)
            failed += result.outcome != SENT
            click.echo(f"{name}: {result.outcome}" + (f" ({result.reason})" if result.reason else ""))
    except GraphwizError as exc:
        _fail(exc)
    except Exception as exc:  # broker unreachable: kombu's own errors
        raise click.ClickException(f"could not queue: {type(exc).__name__}") from None
    if failed:
        sys.exit(1)


# ------------------------------------------------------------------ health / recovery (issue 5 adds commands here)

def _health_env(ctx: click.Context) -> tuple[Settings, Any, Any]:
    from . import context

    settings = _load(ctx)
    return settings, context.get_store(settings), context.get_keys(settings)


@main.command("health")
@click.option("--run", "run_now", is_flag=True, help="run every check now (from this host) before printing")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def health(ctx: click.Context, run_now: bool, as_json: bool) -> None:
    """Health summary: each check's latest result, breakers, trader heartbeat, trading-paused flag."""
    import asyncio

    from .health.checker import HealthChecker

    settings, store, keys = _health_env(ctx)
    checker = HealthChecker(settings, store, keys)
    if run_now:
        asyncio.run(checker.run_all_health_checks())
    summary = checker.get_health_summary()
    if as_json:
        click.echo(_json(summary))
        return
    trader = summary["trader"]
    click.echo(f"overall: {summary['status']}   trading paused: {summary['trading']['paused']}   trader: "
               + (f"{trader['host']} pid {trader['pid']}, seen {trader['age_seconds']:.0f}s ago"
                  + (" (STALE)" if trader["stale"] else "") if trader else "never reported"))
    _print_table([{"check": n, "status": c["status"] or "-", "breaker": c["breaker"]["state"],
                   "at": _when(c.get("timestamp")), "message": (c["message"] or "")[:70]}
                  for n, c in summary["checks"].items()], ["check", "status", "breaker", "at", "message"])


@main.group("breaker")
def breaker_group() -> None:
    """Circuit breakers of health checks and notification channels."""


@breaker_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def breaker_list(ctx: click.Context, as_json: bool) -> None:
    """Every breaker that has been used, with its state."""
    from .health.breaker import list_breakers

    settings, store, keys = _health_env(ctx)
    found = list_breakers(store, keys, settings.circuit_breakers)
    if as_json:
        click.echo(_json([b.to_dict() for b in found]))
        return
    _print_table([{"name": b.name, "state": b.state.value, "failures": b.failures, "retry_at": _when(b.retry_at),
                   "last_error": b.last_error[:60]} for b in found], ["name", "state", "failures", "retry_at",
                                                                     "last_error"])


@breaker_group.command("reset")
@click.argument("name")
@click.pass_context
def breaker_reset(ctx: click.Context, name: str) -> None:
    """Close breaker NAME by hand (its next call runs normally)."""
    from .health.breaker import reset_circuit_breaker

    settings, store, keys = _health_env(ctx)
    status = reset_circuit_breaker(store, keys, name, settings.circuit_breakers)
    click.echo(f"{name}: {status.state.value}")


@main.group("trading")
def trading_group() -> None:
    """The persistent trading-paused flag (survives restarts; only resume clears it)."""


def _tell_trader(store: Any, keys: Any, action: str, wait: float, params: dict[str, Any]) -> None:
    from .health.commands import ask_trader

    result = ask_trader(store, keys, action, timeout=wait, params=params) if wait > 0 else None
    if result is None:
        click.echo(f"trader: no answer within {wait:g}s (the flag applies when it next starts or checks it)")
    else:
        click.echo(f"trader: {result['outcome']}: {result['reason']}")


@trading_group.command("pause")
@click.option("--reason", default="paused by hand", show_default=True)
@click.option("--wait", default=5.0, show_default=True, help="seconds to wait for the trader to pause its engine")
@click.pass_context
def trading_pause(ctx: click.Context, reason: str, wait: float) -> None:
    """Set the flag and ask the trader to pause its engine."""
    from .health.pause import set_trading_paused

    _, store, keys = _health_env(ctx)
    set_trading_paused(store, keys, True, reason=reason, by=f"cli:{os.environ.get('USER', '?')}")
    click.echo("trading paused")
    _tell_trader(store, keys, "pause_trading", wait, {"reason": reason})


@trading_group.command("resume")
@click.option("--wait", default=5.0, show_default=True, help="seconds to wait for the trader to resume its engine")
@click.pass_context
def trading_resume(ctx: click.Context, wait: float) -> None:
    """Clear the flag and ask the trader to resume its engine."""
    from .health.commands import RESUME_TRADING
    from .health.pause import set_trading_paused

    _, store, keys = _health_env(ctx)
    set_trading_paused(store, keys, False, reason="resumed", by=f"cli:{os.environ.get('USER', '?')}")
    click.echo("trading resumed")
    _tell_trader(store, keys, RESUME_TRADING, wait, {})


@trading_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def trading_status(ctx: click.Context, as_json: bool) -> None:
    """Is trading paused, since when, by whom, why."""
    from .health.pause import trading_pause_status

    _, store, keys = _health_env(ctx)
    status = trading_pause_status(store, keys)
    if as_json:
        click.echo(_json(status))
        return
    if status["paused"]:
        click.echo(f"PAUSED since {_when(status['since'])} by {status['by']}: {status['reason']}")
    else:
        click.echo("running" + (f" (resumed {_when(status['since'])} by {status['by']})" if status["since"] else ""))


# ------------------------------------------------------------------ dashboards / realtime / status (issue 6 adds commands here)

@main.command("export-dashboards")
@click.option("--out", "out_dir", default="dashboards", show_default=True, type=click.Path(file_okay=False),
              help="directory for the dashboards, Prometheus/Alertmanager config and Grafana provisioning")
@click.pass_context
def export_dashboards(ctx: click.Context, out_dir: str) -> None:
    """Write the Grafana dashboards, provisioning files, prometheus.yml and the alert rule file."""
    from .dashboards import export_all

    for path in export_all(out_dir, _load(ctx)):
        click.echo(f"wrote {path}")


@main.command("export-rules")
@click.option("--out", "out_file", default="dashboards/prometheus-rules.yml", show_default=True,
              type=click.Path(dir_okay=False), help="Prometheus rule file to write")
@click.pass_context
def export_rules_command(ctx: click.Context, out_file: str) -> None:
    """Write the built-in alert rules (thresholds and overrides from the config) as a Prometheus rule file."""
    from .dashboards import export_rules

    click.echo(f"wrote {export_rules(out_file, _load(ctx))}")


@main.command("flower", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def flower(ctx: click.Context, flower_args: tuple[str, ...]) -> None:
    """Run Flower with auth, address and port from the config (extra arguments go to Flower)."""
    from .flower import flower_command, flower_options

    try:
        flower_options(_load(ctx))  # fail here, readably, rather than inside Flower
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    argv = flower_command(flower_args)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # Flower becomes this process: signals and exit code are its own


@main.command("realtime")
@click.pass_context
def realtime(ctx: click.Context) -> None:
    """Serve the live WebSocket stream and status page (websocket.host/port) until SIGTERM or Ctrl-C."""
    import logging

    from . import context
    from .realtime.server import run_realtime

    settings = _load(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_realtime(settings, context.get_store(settings), context.get_keys(settings))


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Terminal summary: trading, health, breakers, active alerts, queue lengths, dead letters."""
    from . import context
    from .status import gather_status, render_status

    settings = _load(ctx)
    store = context.get_store(settings)
    if not store.is_available():
        raise click.ClickException(f"Redis at {store.safe_url} does not answer")
    data = gather_status(store, context.get_keys(settings), settings)
    click.echo(_json(data) if as_json else render_status(data), nl=as_json)



if __name__ == "__main__":  # pragma: no cover
    main()
