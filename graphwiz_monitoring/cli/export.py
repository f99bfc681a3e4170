"""Generated files: Grafana dashboards and provisioning, Prometheus config and alert rule file."""

from __future__ import annotations

import click

from graphwiz_monitoring.cli import main
from graphwiz_monitoring.cli.common import _load


@main.command("export-dashboards")
@click.option("--out", "out_dir", default="dashboards", show_default=True, type=click.Path(file_okay=False),
              help="directory for the dashboards, Prometheus/Alertmanager config and Grafana provisioning")
@click.pass_context
def export_dashboards(ctx: click.Context, out_dir: str) -> None:
    """Write the Grafana dashboards, provisioning files, prometheus.yml and the alert rule file."""
    from graphwiz_monitoring.dashboards import export_all

    for path in export_all(out_dir, _load(ctx)):
        click.echo(f"wrote {path}")


@main.command("export-rules")
@click.option("--out", "out_file", default="dashboards/prometheus-rules.yml", show_default=True,
              type=click.Path(dir_okay=False), help="Prometheus rule file to write")
@click.pass_context
def export_rules_command(ctx: click.Context, out_file: str) -> None:
    """Write the built-in alert rules (thresholds and overrides from the config) as a Prometheus rule file."""
    from graphwiz_monitoring.dashboards import export_rules

    click.echo(f"wrote {export_rules(out_file, _load(ctx))}")
