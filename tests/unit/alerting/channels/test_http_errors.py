"""HTTP failures: classified (retryable or not), Retry-After hints honoured, URLs never in reasons or logs."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate

import pytest
import requests

from graphwiz_monitoring.alerting.channels.http import fail_for_status, post, protect, retry_after
from graphwiz_monitoring.errors import DeliveryFailed
from tests.conftest import free_port


def _response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers or {})
    return r


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (502, True), (503, True),
                                                   (408, True), (400, False), (401, False), (404, False),
                                                   (413, False), (301, False)])
def test_status_classification(status, retryable):
    failure = fail_for_status("discord", _response(status))
    assert failure.retryable is retryable and f"HTTP {status}" in failure.reason


def test_retry_after_takes_the_longest_hint():
    assert retry_after({"Retry-After": "2"}) == 2
    assert retry_after({"Retry-After": "1", "X-RateLimit-Reset-After": "1.5"}, 0.7) == 1.5
    assert retry_after({}, 3) == 3
    assert retry_after({"Retry-After": "soon"}) is None
    in_ten = retry_after({"Retry-After": formatdate(time.time() + 10, usegmt=True)})
    assert in_ten is not None and 8 <= in_ten <= 10.5
    assert retry_after({"Retry-After": "-5"}) == 0


def test_429_failure_carries_the_wait_and_4xx_does_not():
    assert fail_for_status("slack", _response(429, {"Retry-After": "3"})).retry_after == 3
    assert fail_for_status("slack", _response(400, {"Retry-After": "3"})).retry_after is None


def test_detail_is_redacted_and_bounded():
    failure = fail_for_status("telegram", _response(400), detail="bad token 123:SECRETTOKEN " + "x" * 500,
                              secrets=["123:SECRETTOKEN"])
    assert "SECRETTOKEN" not in failure.reason and len(failure.reason) < 260


def test_network_errors_never_show_the_url():
    url = f"http://127.0.0.1:{free_port()}/api/webhooks/1/SECRET-TOKEN-xyz"
    with pytest.raises(DeliveryFailed) as err:
        post("discord", url, timeout=1, json_body={})
    assert err.value.reason == "discord: connection refused" and err.value.retryable
    assert err.value.__context__ is None and err.value.__cause__ is None
    with pytest.raises(DeliveryFailed) as err:
        post("discord", "htp:/SECRET-TOKEN-xyz", timeout=1, json_body={})
    assert not err.value.retryable and "SECRET" not in str(err.value)


def test_http_stack_debug_logs_are_redacted(caplog):
    caplog.set_level(logging.DEBUG)
    protect(["SECRET-TOKEN-abc"])
    logging.getLogger("urllib3.connectionpool").debug('%s "POST %s" %s', "http://h", "/w/1/SECRET-TOKEN-abc", 204)
    assert caplog.records and "SECRET-TOKEN-abc" not in caplog.text and "/w/1/***" in caplog.text
