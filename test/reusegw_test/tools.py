"""The other real peers, as child processes: sipp, openssl s_client,
stunnel and HAProxy (Kamailio has kamailio.py).

Each runs under a procs.Processes (s_client, short-lived, under its own
Popen) with its files in the test's log dir."""
import os
import pathlib
import re
import subprocess
import time

from .net import IO_TIMEOUT, hostport, wait_listening
from .sip import SipStream

__all__ = ["SIPP_DIR", "Sipp", "s_client", "served_serial", "start_stunnel", "start_haproxy"]

SIPP_DIR = pathlib.Path(__file__).resolve().parent / "sipp"


def _sipp_argv(scenario, local, remote=None, extra=(), transport="t1"):
    """argv for sipp over TCP, one connection (-t t1), or over UDP, one
    socket (transport "u1"), bound to local (ip, port); remote (ip, port)
    for a UAC."""
    argv = ["sipp", "-sf", str(SIPP_DIR / scenario), "-t", transport, "-i", local[0],
            "-p", str(local[1]), "-nostdin", "-trace_msg", "-trace_err"]
    argv += [str(a) for a in extra]
    if remote:
        argv.append(hostport(remote))
    return argv


class Sipp:
    """A sipp process on a scenario of sipp/, whose files (-trace_msg,
    -trace_err) stay in its own directory under the test's log dir;
    transport "u1" runs it over UDP."""

    def __init__(self, procs, name, scenario, local, remote=None, extra=(), transport="t1"):
        self.dir = procs.log_dir / name
        self.dir.mkdir(exist_ok=True)
        self.proc = procs.start(name, _sipp_argv(scenario, local, remote, extra, transport),
                                cwd=self.dir)

    def wait(self, timeout=60):
        return self.proc.wait(timeout)

    def messages(self):
        """Text of the -trace_msg file (every message sent and received)."""
        logs = list(self.dir.glob("*_messages.log"))
        return logs[0].read_text(errors="replace") if logs else ""

    def received(self):
        """The messages sipp received, as text, in order (from -trace_msg)."""
        out = []
        for block in re.split(r"-{20,} [^\n]*\n", self.messages()):
            head, _, msg = block.partition("\n\n")
            if " message received " in head:
                out.append(msg.strip("\n") + "\n")
        return out

    def stat(self, what):
        """A cumulative counter from sipp's final screen, e.g.
        'Successful call' or 'Failed call'."""
        m = None
        for m in re.finditer(rf"{what}\s*\|\s*\d+\s*\|\s*(\d+)", self.proc.log_text()):
            pass
        return int(m.group(1)) if m else None


def s_client(ep, pki, leaf, server_name, data, timeout=IO_TIMEOUT):
    """Runs `openssl s_client` with leaf's client certificate (None: none),
    writes data, and returns (first SIP message read back or None, stderr).
    The session stays open until a whole message arrived or timeout."""
    argv = ["openssl", "s_client", "-connect", hostport(ep), "-servername", server_name,
            "-CAfile", str(pki / "ca.pem"), "-verify_return_error", "-quiet"]
    if leaf:
        argv += ["-cert", str(pki / f"{leaf}.chain.pem"), "-key", str(pki / f"{leaf}.key")]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    stream = SipStream()
    msg = None
    try:
        p.stdin.write(data)
        p.stdin.flush()
        os.set_blocking(p.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        while msg is None and time.monotonic() < deadline and p.poll() is None:
            try:
                chunk = os.read(p.stdout.fileno(), 65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            if not chunk:
                break
            got = stream.feed(chunk)
            msg = got[0] if got else None
    finally:
        if p.poll() is None:
            p.terminate()
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
    return msg, err.decode(errors="replace")


def served_serial(ep, pki, server_name, leaf="gw-a"):
    """The serial (upper-case hex, as `openssl x509 -serial`) of the
    certificate a TLS server at ep presents to `openssl s_client` (with
    leaf's client certificate), read from a new handshake."""
    argv = ["openssl", "s_client", "-connect", hostport(ep), "-servername", server_name,
            "-CAfile", str(pki / "ca.pem"), "-cert", str(pki / f"{leaf}.chain.pem"),
            "-key", str(pki / f"{leaf}.key")]
    hello = subprocess.run(argv, input=b"", capture_output=True, timeout=IO_TIMEOUT)
    serial = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=hello.stdout,
                            capture_output=True, timeout=IO_TIMEOUT)
    assert serial.returncode == 0, hello.stderr.decode(errors="replace")
    return serial.stdout.decode().strip().split("=", 1)[1]


def start_stunnel(procs, name, pki, leaf, accept, connect, client, check_host=None):
    """An stunnel process: client mode (plain in, TLS with leaf's certificate
    out, checking check_host) or server mode (TLS in with a client
    certificate required, plain out). A real mTLS relay, used to prove the
    harness without reusegw. Returns once it listens on accept."""
    lines = ["foreground = yes", "pid =", "syslog = no", "debug = info",
             f"[{name}]", f"client = {'yes' if client else 'no'}",
             f"accept = {hostport(accept)}", f"connect = {hostport(connect)}",
             f"cert = {pki / (leaf + '.chain.pem')}", f"key = {pki / (leaf + '.key')}",
             f"CAfile = {pki / 'ca.pem'}", "verifyChain = yes"]
    if client:
        lines += [f"checkHost = {check_host}", f"sni = {check_host}"]
    else:
        lines.append("requireCert = yes")
    conf = procs.log_dir / f"{name}.conf"
    conf.write_text("\n".join(lines) + "\n")
    p = procs.start(name, ["stunnel", conf])
    wait_listening(accept, p)
    return p


def start_haproxy(procs, name, accept, connect, source, proxy="send-proxy-v2", check=True):
    """A real HAProxy (Debian's haproxy) in TCP mode: it accepts on accept
    and relays each connection, bytes untouched, to connect from the
    address source, opening it with a PROXY header (proxy: send-proxy for
    v1, send-proxy-v2 for v2) that names the client. check adds its health
    checks (every 500 ms; with send-proxy-v2 they carry a LOCAL header).
    Logs every connection on stdout. Returns once it listens on accept."""
    lines = ["global", "  log stdout format raw local0 info", "defaults", "  mode tcp",
             "  log global", "  option tcplog", "  timeout connect 5s",
             "  timeout client 60s", "  timeout server 60s", "frontend fe",
             f"  bind {hostport(accept)}", "  default_backend be", "backend be",
             f"  server gw {hostport(connect)} {proxy} source {source}"
             + (" check inter 500ms" if check else "")]
    conf = procs.log_dir / f"{name}.cfg"
    conf.write_text("\n".join(lines) + "\n")
    p = procs.start(name, ["haproxy", "-db", "-f", conf])
    wait_listening(accept, p)
    return p
