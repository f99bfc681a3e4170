"""Issue 11 finding 5, unit part: which ``redis.url`` forms load, and the broker options each one gets.

The worker end of the promise (a real worker over TLS and over a unix socket survives a malformed
queue item) is tests/chaos/test_redis_url_forms.py.
"""

from __future__ import annotations

import ssl

import pytest
from kombu.utils.url import url_to_parts

from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.celery.hardening import GUARDED_TRANSPORT, broker_settings
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import ConfigError


@pytest.mark.parametrize("url", ["redis+socket:///run/redis.sock",
                                 "localhost:6379", ":hunter2pw@host:6379/0", "amqp://guest:hunter2pw@rabbit//"])
def test_redis_url_without_the_hardening_is_refused_at_config_load_naming_redis_url(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"redis": {"url": url}}, env={})
    text = str(err.value)
    assert "redis.url: must be a redis://, rediss://, unix:// or sentinel:// URL" in text
    assert "hunter2pw" not in text and "host" not in text.split("got scheme")[-1]


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/3", "rediss://cache.example:6380/1",
                                 "unix:///run/redis/redis.sock?db=2", "REDISS://cache.example/0"])
def test_every_accepted_redis_url_gets_the_guarded_transport(url: str) -> None:
    settings = parse_settings({"redis": {"url": url}}, env={})
    app = create_app(settings)
    with app.connection_for_read() as conn:  # what the worker's consumer uses (and its clones)
        assert conn.transport_cls == GUARDED_TRANSPORT
        assert conn.clone().transport_cls == GUARDED_TRANSPORT


def test_rediss_checks_the_certificate_unless_the_url_says_otherwise() -> None:
    assert broker_settings("rediss://h:6380/0")["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    app = create_app(parse_settings({"redis": {"url": "rediss://h:6380/0?ssl_ca_certs=/ca.pem"}}, env={}))
    with app.connection_for_read() as conn:
        assert conn.ssl == {"ssl_ca_certs": "/ca.pem"}  # redis-py then requires a valid certificate too


def test_unix_url_becomes_kombus_socket_form_with_its_database_and_password() -> None:
    options = broker_settings("unix://:p%40ss@/run/redis.sock?db=5")
    assert options["broker_url"] == "redis+socket://:p%40ss@/run/redis.sock?virtual_host=5"
    app = create_app(parse_settings({"redis": {"url": "unix://:p%40ss@/run/redis.sock?db=5"}}, env={}))
    with app.connection_for_read() as conn:  # kombu's redis channel reads the socket, password and db from here
        parts = url_to_parts(conn.hostname)
        assert (parts.scheme, parts.path, parts.password, parts.query) == (
            "socket", "run/redis.sock", "p@ss", {"virtual_host": "5"})
