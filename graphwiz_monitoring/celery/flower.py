"""Flower (Celery's web UI) configured from the settings: address, basic auth, task events.

``graphwiz-monitoring flower`` runs ``celery -A graphwiz_monitoring flower --conf=<flowerconfig.py>``;
that file asks ``flower_options()`` for its options, so the password travels from monitoring.yaml
(or ``${VAR}`` in it) into Flower without ever appearing on a command line or in ``ps``. The plain
``celery -A graphwiz_monitoring flower``, from any directory, gets the same file: Flower itself reads
only ``FLOWER_*`` variables, its command line and ``./flowerconfig.py`` (relative to the working
directory), never the Celery app, so the app points Flower at it when it is loaded for that command
(``adopt_flower_command``). Whatever set them, Flower's final address and auth are checked before it
serves: bound off loopback without a password, it refuses to start, as the realtime server does.
Task arguments are summarised at the source (``redaction.task_argsrepr``) so Flower never shows
raw batches. The same file installs the Host/Origin check every HTTP server of ours applies
(http_access.py): a DNS-rebinding page must not read tasks or press Flower's buttons.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.http_access import HostAllowList, is_loopback_host, refusal, shown

log = logging.getLogger(__name__)

FLOWER_CONFIG_FILE = Path(__file__).with_name("flowerconfig.py")
# Columns of Flower's task list; args are safe to show because they are summaries.
TASK_COLUMNS = "name,uuid,state,args,received,started,runtime,worker"
PURGE_OFFLINE_WORKERS_SECONDS = 3600


is_loopback = is_loopback_host  # one rule for every server we run


def _exposed_without_password(address: str) -> ConfigError:
    return ConfigError([f"flower.basic_auth_password: required when {address} is not a loopback address; set it "
                        "(e.g. ${FLOWER_PASSWORD}) or bind flower to 127.0.0.1"])


def flower_options(settings: Settings) -> dict[str, Any]:
    """Flower's options (tornado option names); ConfigError if Flower would be exposed without auth."""
    flower = settings.flower
    password = flower.basic_auth_password.get_secret_value() if flower.basic_auth_password else ""
    if not password and not is_loopback(flower.host):
        raise _exposed_without_password(f"flower.host ({flower.host})")
    options: dict[str, Any] = {
        "address": flower.host,
        "port": flower.port,
        "enable_events": True,  # Flower re-enables worker events periodically so tasks always show
        "max_tasks": flower.max_tasks,
        "tasks_columns": TASK_COLUMNS,
        "purge_offline_workers": PURGE_OFFLINE_WORKERS_SECONDS,
    }
    if password:
        options["basic_auth"] = [f"{flower.basic_auth_user}:{password}"]
    return options


def flower_command(extra_args: tuple[str, ...] = ()) -> list[str]:
    """The argv that starts Flower with the settings-driven config file."""
    return [sys.executable, "-m", "celery", "-A", "graphwiz_monitoring", "flower",
            f"--conf={FLOWER_CONFIG_FILE}", *extra_args]


def adopt_flower_command() -> None:
    """Called when the app is loaded: inside ``celery ... flower``, make Flower read our flowerconfig.py.

    Celery's command group loads the app (``-A graphwiz_monitoring``) before it runs the ``flower``
    subcommand, so this is the moment our code runs in that process before Flower reads its options.
    Flower's ``conf`` option still at its default (``./flowerconfig.py``, a file the working directory
    may not have, or may have with other settings) is pointed at ``FLOWER_CONFIG_FILE``; a ``--conf``
    given on the command line is parsed later and wins. The Host check and the exposed-bind refusal
    are installed here too, so they hold whichever file is read.
    """
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.find_root().command.name != "celery" or ctx.invoked_subcommand != "flower":
        return
    from flower.options import DEFAULT_CONFIG_FILE  # importing it defines Flower's options
    from tornado.options import options

    from graphwiz_monitoring.context import get_settings

    if options.conf == DEFAULT_CONFIG_FILE:
        options.conf = str(FLOWER_CONFIG_FILE)
    install_host_check(get_settings())


def check_exposure(address: str, basic_auth: list[str] | None, oauth: str | None) -> None:
    """Flower's final options (file, ``FLOWER_*`` variables, command line): ConfigError when it would serve
    off loopback with neither basic auth nor Flower's OAuth. Flower's default address, ``""``, is every one."""
    if not is_loopback(address) and not basic_auth and not oauth:
        raise _exposed_without_password(f"Flower's address ({address or 'every address'})")


def install_host_check(settings: Settings) -> None:
    """Make the Flower app this process creates next answer 403 to an unexpected Host or Origin.

    Flower has no hook for this, so the class its command instantiates is swapped for a subclass whose
    ``find_handler`` (tornado's per-request dispatch) refuses first. Runs inside the Flower process,
    from flowerconfig.py, before Flower builds its app; a second call changes nothing.
    """
    import tornado.web
    from flower import command

    hosts = HostAllowList.for_server(settings.flower.allowed_hosts, settings.flower.host)
    base = command.Flower
    if getattr(base, "graphwiz_host_check", False):
        return

    class Refused(tornado.web.RequestHandler):
        def initialize(self, reason: str) -> None:
            self.reason = reason

        def prepare(self) -> None:
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            hint = "; allow a name with flower.allowed_hosts" if self.reason.startswith("Host") else ""
            self.finish(f"{self.reason}{hint}\n")

    class HostCheckedFlower(base):  # type: ignore[misc,valid-type]  # a class chosen at run time
        graphwiz_host_check = True

        def __init__(self, *args: Any, options: Any = None, **kwargs: Any) -> None:
            try:
                check_exposure(options.address, options.basic_auth, options.auth)
            except ConfigError as exc:
                sys.exit(str(exc))  # one message and exit 1 before anything listens, no traceback
            super().__init__(*args, options=options, **kwargs)

        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            host, origin = request.headers.get("Host"), request.headers.get("Origin")
            why = refusal(host, origin, hosts)
            if why is None:
                return super().find_handler(request, **kwargs)
            log.warning("flower: refused a request (%s: Host %s, Origin %s)", why, shown(host), shown(origin))
            return self.get_handler_delegate(request, Refused, {"reason": why})

    command.Flower = HostCheckedFlower
