"""Issue 15 item 1, unit part: Sentinel URLs in ``redis.url``, ``redis.sentinel_master`` / ``sentinel_password``,
the durable-write settings, and the broker options a Sentinel URL gets (the guarded Sentinel transport).

The failover itself, with real sentinels, is tests/chaos/test_sentinel_failover.py.
"""

from __future__ import annotations

import pytest

from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.celery.hardening import GUARDED_SENTINEL_TRANSPORT
from graphwiz_monitoring.celery.sentinel import sentinel_transport_options
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.config.redis_url import parse_sentinel_url
from graphwiz_monitoring.errors import ConfigError, StateError
from graphwiz_monitoring.state import Store

PW = "hunter2data"
SENTINEL_PW = "hunter2sentinel"
URL = f"sentinel://:{PW}@h1:26379;sentinel://:{PW}@h2:26380;sentinel://:{PW}@h3/2"


def load(**redis: object) -> object:
    return parse_settings({"redis": redis}, env={})


def problems(**redis: object) -> str:
    with pytest.raises(ConfigError) as err:
        load(**redis)
    return str(err.value)


def test_kombu_form_parses_every_sentinel_the_database_and_the_data_password() -> None:
    parsed = parse_sentinel_url(URL)
    assert parsed.sentinels == (("h1", 26379), ("h2", 26380), ("h3", 26379))  # no port: Sentinel's 26379
    assert (parsed.db, parsed.password, parsed.username) == (2, PW, None)


def test_sentinel_url_with_master_loads_and_waits_for_one_replica_by_default() -> None:
    settings = load(url=URL, sentinel_master="mymaster", sentinel_password=SENTINEL_PW)
    assert settings.redis.is_sentinel and settings.redis.replicas_to_wait == 1
    masked = str(settings.masked())
    assert PW not in masked and SENTINEL_PW not in masked and "h3" in masked


def test_min_replicas_acked_is_configurable_and_zero_disables() -> None:
    assert load(url=URL, sentinel_master="m", min_replicas_acked=0).redis.replicas_to_wait == 0
    assert load(url=URL, sentinel_master="m", min_replicas_acked=2).redis.replicas_to_wait == 2
    assert load(url="redis://127.0.0.1:6379/0").redis.replicas_to_wait == 0  # one Redis: nobody to wait for
    assert load(url="redis://127.0.0.1:6379/0", min_replicas_acked=1).redis.replicas_to_wait == 1
    assert "redis.min_replicas_acked" in problems(url=URL, sentinel_master="m", min_replicas_acked=-1)
    assert "redis.replica_ack_timeout_seconds" in problems(url=URL, sentinel_master="m", replica_ack_timeout_seconds=0)


def test_missing_master_name_is_a_clear_error_naming_the_field() -> None:
    text = problems(url=URL)
    assert "redis.sentinel_master: required when redis.url is a sentinel:// URL" in text
    assert PW not in text


def test_master_name_without_a_sentinel_url_is_refused() -> None:
    assert "redis.sentinel_master: is only used with a sentinel:// redis.url, got 'mymaster'" in problems(
        url="redis://127.0.0.1:6379/0", sentinel_master="mymaster")
    assert "redis.sentinel_master: must be a master name" in problems(url=URL, sentinel_master="my master;x")


@pytest.mark.parametrize(("url", "expected"), [
    (f"sentinel://:{PW}@h1:26379;redis://:{PW}@h2:6379", "sentinel address 2 of 2 must start with sentinel://"),
    (f"sentinel://:{PW}@h1:26379;;sentinel://:{PW}@h2:1", "sentinel address 2 of 3 is empty"),
    (f"sentinel://:{PW}@:26379", "sentinel address 1 of 1 has no host"),
    (f"sentinel://:{PW}@h1:port", "sentinel address 1 of 1 has an invalid port"),
    (f"sentinel://:{PW}@h1:99999", "sentinel address 1 of 1 has an invalid port"),
    (f"sentinel://:{PW}@h1:26379/db0", "sentinel address 1 of 1: the database must be a number"),
    (f"sentinel://:{PW}@h1:26379/1;sentinel://h2:26379/2", "sentinel address 2 of 2 names another database"),
    (f"sentinel://:{PW}@h1:26379?master=m", "sentinel address 1 of 1: query parameters are not supported"),
])
def test_bad_sentinel_url_names_redis_url_and_what_is_wrong_never_the_password(url: str, expected: str) -> None:
    text = problems(url=url, sentinel_master="m")
    assert f"redis.url: {expected}" in text
    assert PW not in text and "h1" not in text and "h2" not in text


def test_sentinel_url_gets_the_guarded_sentinel_transport_with_master_and_masked_password() -> None:
    settings = load(url=URL, sentinel_master="mymaster", sentinel_password=SENTINEL_PW)
    app = create_app(settings)
    options = app.conf.broker_transport_options
    assert options["master_name"] == "mymaster"
    assert options["sentinel_kwargs"]["password"] == SENTINEL_PW  # what redis-py sends to the sentinels
    assert SENTINEL_PW not in repr(options) and SENTINEL_PW not in str(options["sentinel_kwargs"]["password"])
    assert SENTINEL_PW not in repr(app.conf.humanize(with_defaults=False, censored=True))
    with app.connection_for_read() as conn:  # what the worker's consumer uses, its clones, and the next address
        assert conn.transport_cls == GUARDED_SENTINEL_TRANSPORT
        assert conn.clone().transport_cls == GUARDED_SENTINEL_TRANSPORT
        conn.maybe_switch_next()  # kombu's failover to the next ';' address keeps the guards
        assert conn.transport_cls == GUARDED_SENTINEL_TRANSPORT and "h2" in conn.hostname
        assert PW not in conn.as_uri()
        # The database and password named on the last address hold through every one (kombu reads the current).
        assert (conn.virtual_host, conn.password) == ("2", PW)


def test_database_named_on_any_address_is_the_deployments() -> None:
    assert parse_sentinel_url(f"sentinel://:{PW}@h1/4;sentinel://h2").db == 4
    assert parse_sentinel_url("sentinel://h1;sentinel://h2").db == 0


def test_sentinel_without_password_sends_none() -> None:
    assert sentinel_transport_options("m", None) == {"master_name": "m"}


def test_store_refuses_a_sentinel_url_without_master_naming_the_key_not_the_password() -> None:
    with pytest.raises(StateError) as err:
        Store(URL)
    assert "redis.sentinel_master" in str(err.value) and PW not in str(err.value)
