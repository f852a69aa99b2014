"""End-to-end harness: real reusegw processes and real peers on loopback.

Owns every process it starts (reusegw, sipp, stunnel, openssl) and their logs,
which live in the test's tmp dir and are printed at teardown (pytest shows
them only when the test failed). Borrows the throwaway PKI of
test/certs/gen.sh. Never touches an address outside 127.0.0.0/8 and never
waits without a deadline.

Python standard library only; Debian's python3 + pytest run it.
"""
import importlib.util
import itertools
import os
import pathlib
import queue
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

SOURCE_DIR = pathlib.Path(os.environ.get("REUSEGW_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parents[2]))
SIPP_DIR = pathlib.Path(__file__).resolve().parent / "sipp"

# Generous: two cores are shared by five engineers' builds and tests.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
IO_TIMEOUT = 15.0


# ---------------------------------------------------------------- addresses

_net_counter = itertools.count(1)


def unique_net():
    """A loopback /24 prefix ("127.X.Y") from the process id and a counter:
    tests of one module never share it and modules run by ctest -j2 almost
    never do (a collision shares addresses only: ports are the kernel's free
    picks). Linux answers for all of 127.0.0.0/8 without configuration."""
    n = next(_net_counter)
    return f"127.{20 + os.getpid() % 200}.{n % 250 + 1}"


_ports_given = set()


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on at host (IPv4 or IPv6) right now (the
    kernel's pick), never one this process handed out before: the kernel may
    pick a port again once its probe socket is closed, and a config with the
    same port twice (tls.listen and legacy.listen) does not start."""
    while True:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def hostport(ep):
    return f"{ep[0]}:{ep[1]}"


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


# ---------------------------------------------------------------- PKI

def generate_pki(out):
    """Runs test/certs/gen.sh into out and returns out as a Path."""
    out = pathlib.Path(out)
    subprocess.run(["bash", str(SOURCE_DIR / "test" / "certs" / "gen.sh"), str(out)],
                   check=True, capture_output=True, timeout=300)
    return out


def e2e_conftest():
    """test/e2e/conftest.py loaded as a module named e2e_conftest (pytest
    already holds "conftest" for the suite asking), so that other suites
    take its fixtures by name instead of copying them."""
    path = pathlib.Path(__file__).resolve().with_name("conftest.py")
    spec = importlib.util.spec_from_file_location("e2e_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- processes

class Process:
    """One child process with stdout+stderr in log_dir/<name>.log."""

    def __init__(self, name, argv, log_dir, cwd=None, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(log_dir) / f"{name}.log"
        self.cwd = cwd or log_dir
        self.env = env
        self.popen = None
        self.returncode = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.cwd,
                                          env=self.env)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit by itself; returns its exit code."""
        self.returncode = self.popen.wait(timeout=timeout)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig (if still running), waits, and KILLs after timeout.
        Returns the exit code (negative: killed by that signal)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        self.returncode = self.popen.returncode
        return self.returncode

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Processes:
    """The processes of one test: stopped at teardown in reverse start order,
    their logs printed (pytest shows them when the test failed)."""

    def __init__(self, log_dir):
        self.log_dir = pathlib.Path(log_dir)
        self.started = []

    def start(self, name, argv, **kw):
        p = Process(name, argv, self.log_dir, **kw).start()
        self.started.append(p)
        return p

    def teardown(self):
        for p in reversed(self.started):
            p.stop()
        for p in self.started:
            print(f"----- {p.name} (exit {p.returncode}): {' '.join(p.argv)}")
            print(p.log_text()[-20000:])


# ---------------------------------------------------------------- YAML

def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts, lists and scalars (strings always quoted)."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                lines.append(f"{pad}{k}: []")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict):
                body = to_yaml(v, indent + 2).lstrip()
                lines.append(f"{pad}- {body}")
            elif isinstance(v, list):
                lines.append(f"{pad}- [{', '.join(_scalar(x) for x in v)}]")
            else:
                lines.append(f"{pad}- {_scalar(v)}")
    return "\n".join(lines)


# ---------------------------------------------------------------- reusegw

def gateway_config(pki, leaf, sent_by, tls_listen, forward_to, legacy_listen, routes,
                   admin_listen, level="debug"):
    """A config dict in the contract of DESIGN.md. leaf names a gen.sh leaf
    (gw-a, gw-b...); routes is {domain: [(ip, port), ...]}; endpoints are
    (ip, port) tuples. Callers edit the dict before starting for variants."""
    return {
        "identity": {"sent_by": sent_by},
        "tls": {
            "listen": [hostport(tls_listen)],
            "certificate": str(pki / f"{leaf}.chain.pem"),
            "private_key": str(pki / f"{leaf}.key"),
            "ca": str(pki / "ca.pem"),
            "client_certificate": "required",
            "handshake_timeout": "10s",
        },
        "legacy": {"forward_to": hostport(forward_to), "listen": hostport(legacy_listen)},
        "reuse": {"accept_alias": True, "request_alias": True, "idle_timeout": "10m"},
        "routes": [{"domain": d, "targets": [hostport(t) for t in ts]}
                   for d, ts in routes.items()],
        "limits": {"max_connections": 1000, "max_message_bytes": 131072},
        "admin": {"listen": hostport(admin_listen)},
        # ctest runs every e2e module once per event-loop backend, and some
        # again with REUSEGW_TEST_WORKERS=2 (label workers2).
        "runtime": {"workers": int(os.environ.get("REUSEGW_TEST_WORKERS", "1")),
                    "io_backend": os.environ.get("REUSEGW_TEST_IO_BACKEND", "auto")},
        "log": {"level": level, "format": "logfmt"},
    }


class Gateway:
    """A reusegw process on a config dict. start() returns once it accepts
    on every tls.listen and on legacy.listen; stop() sends SIGTERM and
    returns the exit code (the contract: 0)."""

    def __init__(self, procs, binary, name, config):
        self.procs = procs
        self.binary = binary
        self.name = name
        self.config = config
        self.proc = None

    @property
    def tls(self):
        host, port = self.config["tls"]["listen"][0].rsplit(":", 1)
        return (host, int(port))

    @property
    def legacy_listen(self):
        host, port = self.config["legacy"]["listen"].rsplit(":", 1)
        return (host, int(port))

    def write_config(self):
        path = self.procs.log_dir / f"{self.name}.yaml"
        path.write_text(to_yaml(self.config) + "\n")
        return path

    def start(self):
        path = self.write_config()
        self.proc = self.procs.start(self.name, [self.binary, "-c", path])
        deadline = time.monotonic() + START_TIMEOUT
        for ep in (self.tls, self.legacy_listen):
            if not wait_connectable(ep, deadline, self.proc.alive):
                raise AssertionError(f"{self.name} not listening on {hostport(ep)} "
                                     f"(exit {self.proc.popen.poll()}):\n{self.proc.log_text()}")
        return self

    def stop(self):
        return self.proc.stop(signal.SIGTERM)

    def log(self):
        return self.proc.log_text()

    def metric(self, series, timeout=IO_TIMEOUT):
        """The value of one /metrics series, e.g.
        'reusegw_limit_hits_total{limit="max_connections"}' (0 when absent)."""
        url = f"http://{self.config['admin']['listen']}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as r:
            text = r.read().decode()
        m = re.search(r"(?m)^" + re.escape(series) + r" (\S+)$", text)
        return float(m.group(1)) if m else 0


# ---------------------------------------------------------------- sipp

def sipp_argv(scenario, local, remote=None, extra=()):
    """argv for sipp over TCP, one connection (-t t1), bound to local
    (ip, port); remote (ip, port) for a UAC."""
    argv = ["sipp", "-sf", str(SIPP_DIR / scenario), "-t", "t1", "-i", local[0],
            "-p", str(local[1]), "-nostdin", "-trace_msg", "-trace_err"]
    argv += [str(a) for a in extra]
    if remote:
        argv.append(hostport(remote))
    return argv


class Sipp:
    """A sipp process whose files (-trace_msg, -trace_err) stay in its own
    directory under the test's log dir."""

    def __init__(self, procs, name, scenario, local, remote=None, extra=()):
        self.dir = procs.log_dir / name
        self.dir.mkdir(exist_ok=True)
        self.proc = procs.start(name, sipp_argv(scenario, local, remote, extra), cwd=self.dir)

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


def wait_listening(ep, proc, timeout=START_TIMEOUT):
    """Waits until ep is in LISTEN state (without connecting: sipp UAS would
    treat a probe connection as a peer)."""
    def listening():
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.log_text()}")
        out = subprocess.run(["ss", "-Hltn", f"sport = :{ep[1]}"], capture_output=True,
                             text=True, timeout=10).stdout
        return any(line.split()[3] == hostport(ep) for line in out.splitlines() if line.split())
    if not wait_until(listening, timeout):
        raise AssertionError(f"{proc.name} is not listening on {hostport(ep)}")


# ---------------------------------------------------------------- ss

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
    whose peer end matches peer (each None, an ip or an (ip, port)). On loopback a
    connection has two sockets: this counts the one seen from local."""
    return sum(1 for _, lo, pe in _established_rows() if _match(lo, local) and _match(pe, peer))


# ---------------------------------------------------------------- SIP text

# The topmost Via a legacy proxy writes in the tests' requests.
LEGACY_VIA = "SIP/2.0/TCP 127.0.0.1:5070"

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
            "m": "contact", "c": "content-type"}


class SipMessage:
    """One SIP message as it was on the wire (raw) plus a parsed view."""

    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.first_line = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                name, value = self.headers[-1]
                self.headers[-1] = (name, value + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            self.headers.append((_COMPACT.get(name, name), value.strip()))

    @property
    def is_request(self):
        return not self.first_line.startswith("SIP/2.0 ")

    @property
    def method(self):
        return self.first_line.split(" ", 1)[0] if self.is_request else None

    @property
    def status(self):
        return None if self.is_request else int(self.first_line.split(" ")[1])

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def __repr__(self):
        return f"<SipMessage {self.first_line!r} {len(self.raw)} B>"


class SipStream:
    """Splits a byte stream into SIP messages by Content-Length, skipping
    CRLF keepalives between messages (RFC 5626)."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return out
            head = self.buf[:end].decode("utf-8", "replace")
            m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            total = end + 4 + n
            if len(self.buf) < total:
                return out
            out.append(SipMessage(self.buf[:total]))
            self.buf = self.buf[total:]


_branch_counter = itertools.count(1)


def new_branch():
    return f"z9hG4bK-e2e-{os.getpid()}-{next(_branch_counter)}"


def request(method, ruri, via, branch=None, call_id=None, body=b"", cseq=1, headers=(),
            to_uri=None, from_uri="sip:legacy@a.test"):
    """A SIP request as bytes. via is the whole sent-protocol + sent-by
    value, e.g. "SIP/2.0/TCP 127.0.0.1:5070"."""
    branch = branch or new_branch()
    call_id = call_id or f"{branch}@e2e"
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: {via};branch={branch}",
             "Max-Forwards: 70",
             f"From: <{from_uri}>;tag=e2e{os.getpid()}",
             f"To: <{to_uri or ruri}>",
             f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}"]
    lines += list(headers)
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def branch_of(msg):
    return msg.get("via").split("branch=")[1].split(";")[0]


def response(req, code=200, reason="OK", headers=(), body=b""):
    """A response to the SipMessage req: every Via, From, To (with a tag),
    Call-ID and CSeq copied in order."""
    lines = [f"SIP/2.0 {code} {reason}"]
    for v in req.all("via"):
        lines.append(f"Via: {v}")
    lines.append(f"From: {req.get('from')}")
    to = req.get("to")
    lines.append(f"To: {to}" if ";tag=" in to else f"To: {to};tag=legacy")
    lines.append(f"Call-ID: {req.get('call-id')}")
    lines.append(f"CSeq: {req.get('cseq')}")
    lines += list(headers)
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------- Python peers

class SipConnection:
    """A connected stream socket (plain or TLS) that reads whole SIP
    messages. Borrows nothing; close() closes the socket."""

    def __init__(self, sock):
        self.sock = sock
        self.stream = SipStream()
        self.pending = []

    def send(self, data, chunk=None):
        """Sends data at once, or in writes of chunk bytes (with TLS: one
        record each)."""
        if not chunk:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])

    def recv(self, timeout=IO_TIMEOUT):
        """The next whole message; AssertionError on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no SIP message within {timeout} s "
                                     f"(buffered {len(self.stream.buf)} B)")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise AssertionError(f"connection closed (buffered {len(self.stream.buf)} B)")
            self.pending += self.stream.feed(data)
        return self.pending.pop(0)

    def closed_by_peer(self, timeout=IO_TIMEOUT):
        """True when the peer closes (EOF or reset) within timeout without
        sending anything more than CRLFs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError):
                return True
            if not data:
                return True
            self.pending += self.stream.feed(data)
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tcp_connect(ep):
    """A plain TCP SipConnection to ep."""
    s = socket.create_connection(ep, timeout=IO_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return SipConnection(s)


def tls_context(pki, leaf=None):
    """A client context trusting the test CA, presenting leaf's certificate
    when leaf is given (None: no client certificate)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.pem"))
    if leaf:
        ctx.load_cert_chain(str(pki / f"{leaf}.chain.pem"), str(pki / f"{leaf}.key"))
    return ctx


def tls_connect(ep, ctx, server_name, source=None):
    """A TLS SipConnection to ep; the handshake is done on return (raises
    ssl.SSLError / OSError when it fails)."""
    s = socket.create_connection(ep, timeout=IO_TIMEOUT, source_address=source)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = ctx.wrap_socket(s, server_hostname=server_name)
    return SipConnection(t)


class LegacyServer:
    """Stands in for a legacy proxy's plain TCP listener where the tests need
    byte-exact capture (sipp cannot send or log 64 KB bodies). Records every
    message received, with the connection it came on, and answers requests
    with `answer(msg)` (default 200 OK; return None to stay silent).

    A fake of the legacy proxy by necessity: the real one is whatever the
    operator runs; sipp plays it where byte-exact capture is not needed."""

    def __init__(self, ep=None, answer=None):
        self.ep = ep or ("127.0.0.1", 0)
        self.answer = answer if answer is not None else (lambda m: response(m))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(self.ep)
        self.ep = self.listener.getsockname()
        self.listener.listen(64)
        self.received = queue.Queue()
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        stream = SipStream()
        while True:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            for m in stream.feed(data):
                self.received.put((s, m))
                if m.is_request and m.method != "ACK":
                    reply = self.answer(m)
                    if reply:
                        try:
                            s.sendall(reply)
                        except OSError:
                            return

    def next(self, timeout=IO_TIMEOUT):
        """(socket, SipMessage) of the next message received."""
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"legacy server {hostport(self.ep)} received nothing "
                                 f"within {timeout} s") from None

    def close(self):
        self.stopping = True
        self.listener.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.close()
                except OSError:
                    pass


# ---------------------------------------------------------------- openssl

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


# ---------------------------------------------------------------- stunnel

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


# ---------------------------------------------------------------- topology

class Pair:
    """Gateway A (a.test, gw-a) on NET.2 and gateway B (b.test, gw-b) on
    NET.3, NET from unique_net(), free ports, static routes a.test -> A's
    tls.listen and b.test -> B's. Each forwards to the legacy endpoint given
    (forward_a / forward_b: (ip, port) of a sipp or LegacyServer on
    127.0.0.1); each gateway's legacy.listen is on its own address.

    Call edit(name, config_dict) through `edit` before start() for
    variants. stop() SIGTERMs both and returns their exit codes."""

    def __init__(self, procs, binary, pki, forward_a, forward_b, edit=None, level="debug"):
        net = unique_net()
        self.net = net
        self.a_ip, self.b_ip = f"{net}.2", f"{net}.3"
        a_tls = (self.a_ip, free_port(self.a_ip))
        b_tls = (self.b_ip, free_port(self.b_ip))
        routes = {"a.test": [a_tls], "b.test": [b_tls]}
        self.a = Gateway(procs, binary, "reusegw-a", gateway_config(
            pki, "gw-a", f"a.test:{a_tls[1]}", a_tls, forward_a,
            (self.a_ip, free_port(self.a_ip)), routes, ("127.0.0.1", free_port()), level))
        self.b = Gateway(procs, binary, "reusegw-b", gateway_config(
            pki, "gw-b", f"b.test:{b_tls[1]}", b_tls, forward_b,
            (self.b_ip, free_port(self.b_ip)), routes, ("127.0.0.1", free_port()), level))
        if edit:
            edit("a", self.a.config)
            edit("b", self.b.config)

    def start(self, with_a=True):
        """Starts B, then A unless with_a is false (a test then plays A's
        part itself, from A's address, or leaves a.test unreachable)."""
        self.b.start()
        if with_a:
            self.a.start()
        return self

    def tls_connections(self):
        """TLS connections between A and B, whichever side opened them (A's
        outbound ones leave from A's address, DESIGN.md routing step 3)."""
        return established(self.a_ip, self.b.tls) + established(self.b_ip, self.a.tls)

    def stop(self):
        """SIGTERMs the gateways that were started; their exit codes."""
        return [g.stop() for g in (self.a, self.b) if g.proc]


# ---------------------------------------------------------------- Kamailio

KAMAILIO_CFG = pathlib.Path(__file__).resolve().parent / "kamailio" / "relay.cfg"


def kamailio_tls_config(pki, leaf):
    """Kamailio's tls.cfg: TLS 1.2+ with leaf's certificate from pki, the
    test CA, and a verified certificate required from the other side, the
    same whether Kamailio accepts (server) or dials (client)."""
    section = (f"method = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\n"
               f"certificate = {pki / (leaf + '.chain.pem')}\n"
               f"private_key = {pki / (leaf + '.key')}\nca_list = {pki / 'ca.pem'}\n")
    return f"[server:default]\n{section}\n[client:default]\n{section}"


def start_kamailio(procs, name, pki, leaf, tcp, tls, next_proto, next_hop):
    """Kamailio 5.6 (kamailio/relay.cfg) listening on tcp and tls (ip, port),
    presenting leaf's certificate and requiring a verified client
    certificate, forwarding every request statelessly to next_hop (ip,
    port) over next_proto "TLS" or "TCP". A real RFC 5923-era SIP TLS stack
    (OpenSSL) to interoperate with. Returns once both ports listen."""
    work = procs.log_dir / name
    work.mkdir(exist_ok=True)
    tls_cfg = work / "tls.cfg"
    tls_cfg.write_text(kamailio_tls_config(pki, leaf))
    argv = ["kamailio", "-f", KAMAILIO_CFG, "-DD", "-E", "-m", "64", "-M", "8",
            "-Y", work, "-P", work / "kamailio.pid", "-w", work,
            "-l", f"tcp:{hostport(tcp)}", "-l", f"tls:{hostport(tls)}",
            "-A", f'TLS_CONFIG="{tls_cfg}"', "-A", f'CTL_SOCKET="unix:{work}/kam.ctl"',
            "-A", "TCP_CHILDREN=1", "-A", "MAX_CONNS=1024",
            "-A", f"NEXT_PROTO_{next_proto}", "-A", f'NEXT_HOST="{next_hop[0]}"',
            "-A", f"NEXT_PORT={next_hop[1]}"]
    p = procs.start(name, argv)
    wait_listening(tcp, p)
    wait_listening(tls, p)
    return p
