"""Email through the delivery library against aiosmtpd: STARTTLS + AUTH LOGIN, implicit TLS, refusals."""

from __future__ import annotations

import json
import logging

from graphwiz_monitoring.alerting.delivery import DEAD_LETTERED, RETRY, SENT, deliver_notification
from graphwiz_monitoring.alerting.models import AlertSeverity
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from tests.fakes.notify_fixtures import deliver_until_done, make_settings, notifications_config, put_alert
from tests.fakes.smtp import SMTP_PASSWORD, SMTP_USER


def test_starttls_login_and_multipart_message(store, keys, redis_url, smtp_server, smtp_cert):
    smtp = smtp_server("starttls")
    settings = make_settings(redis_url, notifications_config(smtp=smtp, cert=smtp_cert[0]))
    alert = put_alert(store, keys, rule_name="large_loss", title="Drawdown <12%>", severity=AlertSeverity.CRITICAL,
                      message="<script>alert('x')</script> & more", labels={"account": "<main>"},
                      metadata={"drawdown": 0.12}, created_at=1_700_000_000.0)
    assert deliver_notification(store, keys, settings, alert.alert_id, "email").outcome == SENT

    (mail,) = smtp.received()
    assert mail.tls and mail.authenticated_as == SMTP_USER and smtp.auth_attempts == [(SMTP_USER, True)]
    assert mail.mail_from == "monitor@example.com"
    assert mail.rcpt_tos == ["ops@example.com", "trader@example.com"]
    msg = mail.message
    assert msg["Subject"] == "[CRITICAL] Drawdown <12%>"
    assert msg["To"] == "ops@example.com, trader@example.com" and msg["X-Graphwiz-Alert-Id"] == alert.alert_id
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = mail.part("plain"), mail.part("html")
    assert "<script>alert('x')</script> & more" in plain and "account: <main>" in plain
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "<td>&lt;main&gt;</td>" in html and "Drawdown &lt;12%&gt;" in html and "<script>" not in html

    assert deliver_notification(store, keys, settings, alert.alert_id, "email", "resolved").outcome == SENT
    assert smtp.received()[1].message["Subject"] == "[RESOLVED] [CRITICAL] Drawdown <12%>"


def test_implicit_tls(store, keys, redis_url, smtp_server, smtp_cert):
    smtp = smtp_server("ssl")
    settings = make_settings(redis_url, notifications_config(smtp=smtp, cert=smtp_cert[0]))
    alert = put_alert(store, keys)
    assert deliver_notification(store, keys, settings, alert.alert_id, "email").outcome == SENT
    (mail,) = smtp.received()
    assert mail.tls and mail.authenticated_as == SMTP_USER


def test_server_without_starttls_is_refused_not_downgraded(store, keys, redis_url, smtp_server):
    smtp = smtp_server("plain")
    config = notifications_config(smtp=smtp)
    config["email"]["use_tls"] = True  # configured for STARTTLS; this server does not offer it
    settings = make_settings(redis_url, config)
    alert = put_alert(store, keys)
    result = deliver_notification(store, keys, settings, alert.alert_id, "email")
    assert result.outcome == DEAD_LETTERED and result.reason == "email: the server does not offer STARTTLS"
    assert smtp.received() == [] and smtp.auth_attempts == []  # the password never went out


def test_untrusted_certificate_is_final(store, keys, redis_url, smtp_server):
    smtp = smtp_server("starttls")
    settings = make_settings(redis_url, notifications_config(smtp=smtp))  # no ca_file: system trust store
    alert = put_alert(store, keys)
    result = deliver_notification(store, keys, settings, alert.alert_id, "email")
    assert result.outcome == DEAD_LETTERED and "did not verify" in result.reason
    assert smtp.auth_attempts == []


def test_wrong_password_is_final_and_never_shown(store, keys, redis_url, smtp_server, smtp_cert, caplog):
    caplog.set_level(logging.DEBUG)
    smtp = smtp_server("starttls")
    smtp.users[SMTP_USER] = "another-password"
    settings = make_settings(redis_url, notifications_config(smtp=smtp, cert=smtp_cert[0]))
    alert = put_alert(store, keys)
    result = deliver_notification(store, keys, settings, alert.alert_id, "email")
    assert result.outcome == DEAD_LETTERED and result.reason == "email: authentication failed (SMTP 535)"
    assert SMTP_PASSWORD not in caplog.text + json.dumps(list_dead_letters(store, keys))


def test_transient_4xx_is_retried(store, keys, redis_url, smtp_server, smtp_cert):
    smtp = smtp_server("starttls")
    smtp.reject_next = [451]
    settings = make_settings(redis_url, notifications_config(smtp=smtp, cert=smtp_cert[0]))
    alert = put_alert(store, keys)
    results = deliver_until_done(store, keys, settings, alert.alert_id, "email")
    assert [r.outcome for r in results] == [RETRY, SENT]
    assert results[0].reason == "email: send refused (SMTP 451)"
    assert len(smtp.received()) == 1


def test_server_down_is_retryable(store, keys, redis_url, smtp_server, smtp_cert):
    smtp = smtp_server("starttls")
    smtp.stop()
    settings = make_settings(redis_url, notifications_config(smtp=smtp, cert=smtp_cert[0]))
    alert = put_alert(store, keys)
    result = deliver_notification(store, keys, settings, alert.alert_id, "email")
    assert result.outcome == RETRY and result.reason == "email: connection refused"
