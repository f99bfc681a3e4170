"""docker-compose.yml is a valid Compose file whose commands, files and secrets all exist.

There is no Docker engine on our machines, so this is the proof: the file (raw, and interpolated with
.env.example the way compose does it) validates against the Compose Specification JSON schema
(vendored in tests/data/compose-spec.json from compose-spec/compose-spec), every service command
names a real entry point, every referenced file exists, and the config the containers read works.
"""

from __future__ import annotations

import re
import shlex
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from graphwiz_monitoring.celery.flower import flower_options
from graphwiz_monitoring.cli import main as cli
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.config.redis_url import parse_sentinel_url
from graphwiz_monitoring.dashboards.provisioning import (
    ALERTMANAGER_TARGET,
    EXPORTER_SERVICE,
    GRAFANA_DASHBOARDS_PATH,
    PROMETHEUS_URL,
)
from graphwiz_monitoring.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
CELERY_SUBCOMMANDS = {"worker", "beat", "flower"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?")


def dotenv(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


ENV = dotenv(ROOT / ".env.example")


def interpolate(node: Any, env: dict[str, str], seen: set[str] | None = None) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR and $$, nested
    in defaults too (``${A:-${B}}``, which compose v2 supports)."""
    if isinstance(node, dict):
        return {k: interpolate(v, env, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, seen) for v in node]
    if not isinstance(node, str):
        return node
    return _expand(node, env, seen)


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start`` (nested ``${...}`` skipped)."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise AssertionError(f"unclosed ${{ in {text!r}")


def _expand(text: str, env: dict[str, str], seen: set[str] | None) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            body = text[i + 2:end]
            match = _BRACED.match(body)
            assert match, f"bad interpolation ${{{body}}}"
            name, op, arg = match.group(1), match.group(2), body[match.end():]
            if seen is not None:
                seen.add(name)
            value = env.get(name)
            unset = value is None or (op is not None and op.startswith(":") and value == "")
            if op in (":?", "?") and unset:
                raise AssertionError(f"required variable {name} is missing: {arg}")
            out.append(_expand(arg, env, seen) if unset and op in (":-", "-") else (value or ""))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if match is None:
                out.append("$")
                i += 1
                continue
            if seen is not None:
                seen.add(match.group(0))
            out.append(env.get(match.group(0)) or "")
            i = match.end()
    return "".join(out)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, ENV)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else list(command)


def _graphwiz_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("build")}


def test_validates_against_the_compose_specification(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    schema = yaml.safe_load(SCHEMA.read_text())  # JSON is YAML
    validator = jsonschema.Draft7Validator(schema)
    for document in (raw, compose):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # The schema must be able to fail: a typo'd key is rejected.
    broken = {**compose, "services": {**compose["services"], "redis": {**compose["services"]["redis"], "comand": []}}}
    assert not validator.is_valid(broken)


def test_every_variable_is_documented_and_every_required_secret_set(raw: dict[str, Any]) -> None:
    seen: set[str] = set()
    interpolate(raw, ENV, seen)
    assert seen - set(ENV) == set(), f"variables missing from .env.example: {sorted(seen - set(ENV))}"
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", COMPOSE.read_text()))
    assert {"REDIS_PASSWORD", "GRAPHWIZ_WS_TOKEN", "FLOWER_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= required
    assert all("change-me" in ENV[name] for name in required), "placeholders must be obviously fake"
    with pytest.raises(AssertionError, match="FLOWER_PASSWORD"):
        interpolate(raw, {k: v for k, v in ENV.items() if k != "FLOWER_PASSWORD"})


def test_commands_name_real_entry_points(compose: dict[str, Any]) -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["graphwiz-monitoring"] == "graphwiz_monitoring.cli:main"  # installed by `pip install .`
    for name, service in _graphwiz_services(compose).items():
        argv = _command(service)
        if argv[0] == "celery":
            assert argv[1:3] == ["-A", "graphwiz_monitoring"], name
            assert (ROOT / "graphwiz_monitoring" / "celery" / "__init__.py").is_file()
            assert argv[3] in CELERY_SUBCOMMANDS, f"{name}: celery {argv[3]}"
        else:
            assert argv[0] == "graphwiz-monitoring", f"{name}: unknown entry point {argv[0]}"
            assert argv[1] in cli.commands, f"{name}: `graphwiz-monitoring {argv[1]}` does not exist"


def test_worker_pools_cover_every_queue_once_and_there_is_exactly_one_beat(compose: dict[str, Any]) -> None:
    from graphwiz_monitoring.tasks import ALL_QUEUES

    consumed: list[str] = []
    beats = []
    for name, service in _graphwiz_services(compose).items():
        argv = _command(service)
        if argv[:4] == ["celery", "-A", "graphwiz_monitoring", "worker"]:
            queues = argv[argv.index("-Q") + 1].split(",")
            consumed += queues
            # A trader's plain Celery app sends record_trade to Celery's default queue: ingest workers take it.
            assert ("ingest" in queues) == ("celery" in queues), f"{name}: ingest workers consume `celery` too"
            assert "-B" not in argv and "--beat" not in argv, f"{name} embeds a second beat"
        if argv[:4] == ["celery", "-A", "graphwiz_monitoring", "beat"]:
            beats.append(service)
    assert sorted(consumed) == sorted(ALL_QUEUES), "each queue needs exactly one worker pool"
    assert len(beats) == 1 and beats[0].get("deploy", {}).get("replicas", 1) == 1 and "scale" not in beats[0]


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(v.split(":")[:2]) for v in service.get("volumes", [])]  # type: ignore[misc]


def _host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The repository path behind a container path, through the service's bind mounts."""
    target = PurePosixPath(container_path)
    for source, mount in _mounts(service):
        if source.startswith((".", "/")) and (target == PurePosixPath(mount) or PurePosixPath(mount) in target.parents):
            return ROOT / source / target.relative_to(mount)
    return None


def test_every_referenced_file_exists(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for source, _ in _mounts(service):
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: mounted {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"
        build = service.get("build")
        if build:
            dockerfile = ROOT / build["context"] / build["dockerfile"]
            assert dockerfile.is_file()
            for line in dockerfile.read_text().splitlines():
                if line.startswith("COPY "):
                    for src in line.split()[1:-1]:
                        assert (ROOT / build["context"] / src).exists(), f"Dockerfile copies missing {src}"
        # Paths the containers are told to read must come from a mount of an existing repo file.
        values = _command(service) + [str(v) for v in (service.get("environment") or {}).values()]
        for value in values:
            for path in re.findall(r"(?:^|=)(/etc/\S+|/var/lib/grafana/dashboards/\S+)", value):
                host = _host_path(service, path)
                assert host is not None and host.exists(), f"{name}: {path} is not backed by a repository file"


def test_services_and_generated_files_agree(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus_yml = yaml.safe_load((ROOT / "dashboards/prometheus.yml").read_text())
    exporter_target = prometheus_yml["scrape_configs"][0]["static_configs"][0]["targets"][0]
    assert exporter_target.split(":")[0] == EXPORTER_SERVICE in services
    assert services[EXPORTER_SERVICE]["expose"] == [exporter_target.split(":")[1]]
    assert ALERTMANAGER_TARGET.split(":")[0] in services
    assert services["alertmanager"]["profiles"] == ["alertmanager"]
    assert PROMETHEUS_URL.split("//")[1].split(":")[0] in services
    assert ("./dashboards", GRAFANA_DASHBOARDS_PATH) in _mounts(services["grafana"])
    redis = " ".join(_command(services["redis"]))
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    for name, service in _graphwiz_services(compose).items():
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"
        if not service.get("build"):
            assert ":" in service["image"] and not service["image"].endswith(":latest"), f"{name}: pin the image"


def _container_settings(service: dict[str, Any]):
    config = _host_path(service, service["environment"]["GRAPHWIZ_CONFIG"])
    assert config is not None
    env = {k: str(v) for k, v in service["environment"].items()}
    return parse_settings(yaml.safe_load(config.read_text()), source=str(config), env=env)


def test_containers_get_a_working_config_that_binds_and_protects(compose: dict[str, Any]) -> None:
    services = compose["services"]
    exporter = _container_settings(services["exporter"])
    assert exporter.monitoring.prometheus_host == "0.0.0.0"
    # Finding 8 (issue 11): Prometheus scrapes by the service name, which the Host check lets in; others get 403.
    from graphwiz_monitoring.http_access import HostAllowList

    hosts = HostAllowList.for_server(exporter.monitoring.prometheus_allowed_hosts, exporter.monitoring.prometheus_host)
    target = yaml.safe_load((ROOT / "dashboards" / "prometheus.yml").read_text())[
        "scrape_configs"][0]["static_configs"][0]["targets"][0]
    assert hosts.allows(target) and hosts.allows("127.0.0.1:8000")  # Prometheus; the container healthcheck
    assert not hosts.allows("evil.example:8000")
    assert exporter.redis.url == f"redis://:{ENV['REDIS_PASSWORD']}@redis:6379/0"
    realtime = _container_settings(services["realtime"])
    assert realtime.websocket.host == "0.0.0.0"
    assert realtime.websocket.token.get_secret_value() == ENV["GRAPHWIZ_WS_TOKEN"]
    flower = _container_settings(services["flower"])
    assert flower_options(flower)["basic_auth"] == [f"{ENV['FLOWER_USER']}:{ENV['FLOWER_PASSWORD']}"]
    worker = _container_settings(services["worker-notify"])
    assert not worker.notifications.discord.active  # empty in .env.example: the channel stays off
    # Without the password Flower refuses to start on 0.0.0.0 rather than run open.
    without = {**services["flower"], "environment": {**services["flower"]["environment"], "FLOWER_PASSWORD": ""}}
    with pytest.raises(ConfigError, match="basic_auth_password"):
        flower_options(_container_settings(without))


HA_ENV = {**ENV, "REDIS_SENTINEL_MASTER": "graphwiz", "REDIS_URL": ";".join(
    f"sentinel://:{ENV['REDIS_PASSWORD']}@sentinel-{n}:26379" for n in (1, 2, 3)) + "/0"}


def test_ha_profile_is_a_primary_a_replica_and_three_sentinels_the_services_reach(raw: dict[str, Any]) -> None:
    compose = interpolate(raw, HA_ENV)
    services = compose["services"]
    ha = sorted(name for name, service in services.items() if service.get("profiles") == ["ha"])
    assert ha == ["redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"]
    replica = " ".join(_command(services["redis-replica"]))
    assert "--replicaof redis 6379" in replica and f"--masterauth {ENV['REDIS_PASSWORD']}" in replica
    assert f"--masterauth {ENV['REDIS_PASSWORD']}" in " ".join(_command(services["redis"]))  # a replica after failover
    for n in (1, 2, 3):
        sentinel = services[f"sentinel-{n}"]
        script = _command(sentinel)[-1]
        env = sentinel["environment"]
        assert env["SENTINEL_NAME"] == f"sentinel-{n}" and env["MASTER_NAME"] == "graphwiz"
        # Quorum 2 of 3 on the `redis` service; the password comes from the environment, not the command line.
        assert "sentinel monitor $MASTER_NAME redis 6379 2" in script and "$REDIS_PASSWORD" in script
        assert ENV["REDIS_PASSWORD"] not in script and "--sentinel" in script
    # Every graphwiz service gets the sentinel URL and the master name, and its config loads as Sentinel.
    exporter = _container_settings(services["exporter"])
    assert exporter.redis.is_sentinel and exporter.redis.sentinel_master == "graphwiz"
    assert exporter.redis.replicas_to_wait == 1
    hosts = {host for host, _ in parse_sentinel_url(exporter.redis.url).sentinels}
    assert hosts == {"sentinel-1", "sentinel-2", "sentinel-3"} and hosts <= set(services)
    # Without the `ha` settings (.env.example as shipped) the same services use the single Redis.
    single = _container_settings(interpolate(raw, ENV)["services"]["exporter"])
    assert not single.redis.is_sentinel and single.redis.sentinel_master is None
