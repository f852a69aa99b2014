"""Loopback addresses, ports and socket-level waits.

Owns nothing between calls but the set of ports it handed out. Never
touches an address outside 127.0.0.0/8 and ::1, and never waits without a
deadline."""
import itertools
import os
import socket
import subprocess
import time

__all__ = ["START_TIMEOUT", "STOP_TIMEOUT", "IO_TIMEOUT", "unique_net", "free_port",
           "free_udp_port", "hostport", "dead_endpoint", "wait_connectable", "wait_until",
           "wait_listening", "wait_udp_bound", "established", "unread_bytes"]

# Generous: two cores are shared by several engineers' builds and tests.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
IO_TIMEOUT = 15.0

_net_counter = itertools.count(1)


def unique_net():
    """A loopback /24 prefix ("127.X.Y") from the process id and a counter:
    tests of one module never share it and modules run by ctest -j2 almost
    never do (a collision shares addresses only: ports are the kernel's free
    picks). Linux answers for all of 127.0.0.0/8 without configuration."""
    n = next(_net_counter)
    return f"127.{20 + os.getpid() % 200}.{n % 250 + 1}"


_ports_given = set()


def _kernel_pick(host, kind):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on at host (IPv4 or IPv6) right now (the
    kernel's pick), never one this process handed out before: the kernel may
    pick a port again once its probe socket is closed, and a config with the
    same port twice (tls.listen and legacy.listen) does not start."""
    while True:
        port = _kernel_pick(host, socket.SOCK_STREAM)
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def free_udp_port(host="127.0.0.1"):
    """A UDP port free at host right now (the kernel's pick)."""
    return _kernel_pick(host, socket.SOCK_DGRAM)


def hostport(ep):
    """"ip:port" of an (ip, port) endpoint, IPv6 in brackets."""
    host = f"[{ep[0]}]" if ":" in ep[0] else ep[0]
    return f"{host}:{ep[1]}"


def dead_endpoint(ip="127.0.0.1"):
    """(ip, port) where nothing listens: connecting is refused."""
    return (ip, free_port(ip))


def wait_connectable(ep, deadline, alive=lambda: True):
    """Connect to ep until it accepts; False when alive() turns false or the
    deadline passes."""
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection(ep, timeout=1.0):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_until(pred, timeout=IO_TIMEOUT, step=0.05):
    """Poll pred until it is true or timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def _wait_bound(ep, proc, ss_flags, what, timeout):
    """Waits until `ss ss_flags` lists a socket bound to ep, never touching
    it; proc, a procs.Process or a subprocess.Popen, must stay alive."""
    def bound():
        if hasattr(proc, "alive") and not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.log_text()}")
        if hasattr(proc, "poll") and proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited: {proc.returncode}")
        out = subprocess.run(["ss", ss_flags, f"sport = :{ep[1]}"], capture_output=True,
                             text=True, timeout=10).stdout
        return any(line.split()[3] == hostport(ep) for line in out.splitlines() if line.split())
    if not wait_until(bound, timeout):
        raise AssertionError(f"{getattr(proc, 'name', proc)} {what} {hostport(ep)}")


def wait_listening(ep, proc, timeout=START_TIMEOUT):
    """Waits until ep is in LISTEN state without connecting (sipp UAS would
    treat a probe connection as a peer)."""
    _wait_bound(ep, proc, "-Hltn", "is not listening on", timeout)


def wait_udp_bound(ep, proc, timeout=START_TIMEOUT):
    """Waits until a UDP socket is bound to ep (ss -lu), without sending it
    anything."""
    _wait_bound(ep, proc, "-Hlun", "has no UDP socket on", timeout)


def _split_ep(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def _match(ep, want):
    """want is None (anything), an ip string or an (ip, port) tuple."""
    if want is None:
        return True
    if isinstance(want, tuple):
        return ep == want
    return ep[0] == want


def _established_rows():
    out = subprocess.run(["ss", "-Htn", "state", "established"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4:
            yield int(f[0]), _split_ep(f[2]), _split_ep(f[3])


def unread_bytes(local, peer):
    """Recv-Q of the ESTABLISHED socket local -> peer (both (ip, port)):
    bytes the owning process has not read yet; None if there is none."""
    for recv_q, lo, pe in _established_rows():
        if lo == local and pe == peer:
            return recv_q
    return None


def established(local, peer):
    """Number of ESTABLISHED TCP sockets whose local end matches local and
    whose peer end matches peer (each None, an ip or an (ip, port)). On
    loopback a connection has two sockets: this counts the one seen from
    local."""
    return sum(1 for _, lo, pe in _established_rows() if _match(lo, local) and _match(pe, peer))
