"""deploy/systemd/reusegw.service, and the sd_notify(3) protocol reusegw
speaks itself (gateway/core/sd_notify.h).

The unit passes `systemd-analyze verify` (pointed at the built binary in a
temporary copy) with no warning, and holds the settings docs/deploying.md
promises. A real reusegw started with NOTIFY_SOCKET naming a datagram
socket this test reads (a path, then an abstract @name) sends READY=1 once
it listens, RELOADING=1 with MONOTONIC_USEC then READY=1 around each
SIGHUP (a refused reload too), STOPPING=1 when SIGTERM starts the drain,
and WATCHDOG=1 from its event loop at half of WATCHDOG_USEC, only when
that is set."""
import os
import re
import socket
import subprocess
import time

import pytest

import reusegw_test as h

UNIT = h.SOURCE_DIR / "deploy" / "systemd" / "reusegw.service"


def unit_settings():
    """{key: [values]} of the unit's uncommented assignments."""
    out = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r"([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def test_unit_passes_systemd_analyze_verify(tmp_path, reusegw_bin):
    text = UNIT.read_text()
    assert "/usr/bin/reusegw" in text
    unit = tmp_path / "reusegw.service"
    unit.write_text(text.replace("/usr/bin/reusegw", str(reusegw_bin)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    # verify exits 0 on settings it ignores: any output is a finding.
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace("Type=notify", "Type=notfy"))
    r = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert "Failed to parse service type" in r.stderr, "the check above could not fail"


def test_unit_holds_the_documented_settings():
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["WatchdogSec"] == ["30s"]
    assert s["User"] == ["reusegw"] and "DynamicUser" not in s
    assert "AmbientCapabilities" not in s, "5061 needs no capability"
    assert s["CapabilityBoundingSet"] == [""]
    assert s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"]
    assert s["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    calls = s["SystemCallFilter"][0].split()
    assert {"@system-service", "io_uring_setup", "io_uring_enter", "io_uring_register"} <= set(calls)
    # Longer than the default runtime.drain_timeout (20s).
    assert int(s["TimeoutStopSec"][0].rstrip("s")) > 20


class Notifications:
    """A datagram socket standing in for systemd's notification socket:
    the one end of sd_notify(3) there is no other real peer for here
    (systemd is not PID 1 on the test machine)."""

    def __init__(self, tmp_path, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.name = f"@reusegw-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + self.name[1:])
        else:
            self.name = str(tmp_path / "notify.sock")
            self.sock.bind(self.name)
        self.received = []

    def until(self, state, timeout=h.IO_TIMEOUT):
        """Reads until a message whose first line is state; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {state} within {timeout} s; got {self.received}"
            self.sock.settimeout(left)
            msg = self.sock.recv(4096).decode()
            self.received.append(msg)
            if msg.split("\n")[0] == state:
                return msg

    def drain(self):
        self.sock.setblocking(False)
        while True:
            try:
                self.received.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return

    def states(self):
        """First lines of every message but WATCHDOG=1, in order."""
        return [m.split("\n")[0] for m in self.received if m != "WATCHDOG=1"]


@pytest.mark.parametrize("abstract,watchdog_usec", [(False, 200000), (True, None)],
                         ids=["path_with_watchdog", "abstract_without_watchdog"])
def test_notify_ready_reloading_ready_stopping_watchdog(stage, tmp_path, abstract,
                                                        watchdog_usec):
    note = Notifications(tmp_path, abstract)
    env = dict(os.environ, NOTIFY_SOCKET=note.name)
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    legacy = stage.legacy()
    single = h.Single(stage.procs, stage.binary, stage.pki, legacy.ep)
    stage.gateways.append(single.gw)
    single.gw.start(env=env)
    assert note.until("READY=1") == "READY=1\nSTATUS=serving"
    assert note.received == ["READY=1\nSTATUS=serving"], "READY=1 must come first"
    if watchdog_usec:  # every 100 ms: at least a few within a second
        for _ in range(3):
            note.until("WATCHDOG=1", timeout=2)

    single.gw.reload()
    reloading = note.until("RELOADING=1")
    usec = int(re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", reloading).group(1))
    assert abs(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000 - usec) < 10_000_000
    assert note.until("READY=1") == "READY=1\nSTATUS=serving, configuration reloaded"

    single.gw.config["limits"]["max_connections"] = "lots"  # refused: old config stays
    single.gw.reload()
    note.until("RELOADING=1")
    assert note.until("READY=1") == "READY=1\nSTATUS=serving, reload refused (see the log)"

    assert single.gw.stop() == 0
    note.drain()
    assert note.states() == ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1",
                             "STOPPING=1"], note.received
    assert "STOPPING=1\nSTATUS=draining" in note.received
    watchdogs = note.received.count("WATCHDOG=1")
    assert (watchdogs >= 3) if watchdog_usec else (watchdogs == 0), note.received
