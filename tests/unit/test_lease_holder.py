"""lease_holder.py: a notification claim's holder is judged gone only when its host's kernel says so."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from graphwiz_monitoring.alerting import lease_holder
from tests.conftest import wait_until


def test_identity_names_host_boot_namespace_pid_and_start_time() -> None:
    host, boot, pidns, pid, start = lease_holder.identity().split("|")
    assert host and boot and pidns.startswith("pid:") and pid == str(os.getpid()) and start.isdigit()


def test_a_running_or_frozen_holder_is_not_gone_a_killed_one_is(sleeping_process: subprocess.Popen[bytes]) -> None:
    holder = lease_holder.identity(sleeping_process.pid)
    assert not lease_holder.surely_gone(holder)
    os.kill(sleeping_process.pid, signal.SIGSTOP)  # frozen: its heartbeats stop, but it may still record its send
    wait_until(lambda: lease_holder._stat(sleeping_process.pid)[0] == "T", message="sleeping_process stopped")
    assert not lease_holder.surely_gone(holder)
    os.kill(sleeping_process.pid, signal.SIGKILL)
    wait_until(lambda: lease_holder._stat(sleeping_process.pid)[0] == "Z", message="sleeping_process a zombie")
    assert lease_holder.surely_gone(holder)  # dead, not yet reaped: gone
    sleeping_process.wait()
    assert lease_holder.surely_gone(holder)


def test_a_reused_pid_is_a_different_process() -> None:
    host, boot, pidns, pid, start = lease_holder.identity().split("|")
    assert lease_holder.surely_gone("|".join((host, boot, pidns, pid, str(int(start) + 1))))


@pytest.mark.parametrize("holder", ["", "garbage", "other-host|b|pid:[1]|1|1", "a|b|c|d"])
def test_a_holder_elsewhere_or_unreadable_is_never_judged_gone(holder: str) -> None:
    if holder.startswith("other-host"):
        _, boot, pidns, _, _ = lease_holder.identity().split("|")
        holder = f"other-host|{boot}|{pidns}|999999999|1"  # no such pid here, but on that host it may run
    assert not lease_holder.surely_gone(holder)


def test_a_holder_in_another_pid_namespace_or_boot_is_never_judged_gone() -> None:
    host, boot, pidns, _, _ = lease_holder.identity().split("|")
    assert not lease_holder.surely_gone(f"{host}|{boot}|pid:[1]|999999999|1")
    assert not lease_holder.surely_gone(f"{host}|another-boot|{pidns}|999999999|1")
    assert lease_holder.surely_gone(f"{host}|{boot}|{pidns}|999999999|1")
