"""Minimal SIP-over-TCP helpers for the gateway's end-to-end tests: stream
framing by Content-Length, a legacy-proxy stand-in (a plain TCP server that
records what arrives) and free-port selection. These play the legacy proxy,
for which no real component exists in a unit-sized test; the gateways under
test are the real reusegw binary."""
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time


def with_test_io_backend(config_text):
    """|config_text| with runtime.io_backend forced to $REUSEGW_TEST_IO_BACKEND
    when set: ctest runs every end-to-end test once per backend."""
    backend = os.environ.get("REUSEGW_TEST_IO_BACKEND")
    if not backend:
        return config_text
    if re.search(r"^runtime:", config_text, re.M):
        return re.sub(r"^runtime:\n", "runtime:\n  io_backend: %s\n" % backend, config_text,
                      count=1, flags=re.M)
    return config_text.rstrip("\n") + "\nruntime:\n  io_backend: %s\n" % backend


def free_port(host):
    """A TCP port currently free on |host| (bind port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port6():
    """A TCP port currently free on ::1."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def read_message(sock, buf, timeout):
    """Reads one SIP message from |sock| (bytes left over stay in |buf|, a
    bytearray). Returns the message bytes or raises socket.timeout."""
    deadline = time.monotonic() + timeout
    while True:
        while buf.startswith(b"\r\n"):
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buf[:end + 4])
            m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
            length = len(head) + (int(m.group(1)) if m else 0)
            if len(buf) >= length:
                msg = bytes(buf[:length])
                del buf[:length]
                return msg
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no complete SIP message")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk


class Client:
    """A TCP connection that sends and receives framed SIP messages."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    @classmethod
    def connect(cls, host, port, timeout=10):
        return cls(socket.create_connection((host, port), timeout=timeout))

    def send(self, data):
        self.sock.sendall(data)

    def recv(self, timeout=10):
        return read_message(self.sock, self.buf, timeout)

    def close(self):
        # shutdown first: a reader thread blocked in recv would otherwise
        # keep the socket open and the FIN unsent.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class LegacyServer:
    """Plays the legacy proxy's plain TCP listener (legacy.forward_to): every
    message that arrives is queued with the connection it came on."""

    def __init__(self, host):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.messages = queue.Queue()
        self.clients = []
        self.stopping = False
        self.reading = threading.Event()  # cleared: stop reading (a slow proxy)
        self.reading.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            client = Client(sock)
            self.clients.append(client)
            threading.Thread(target=self._read, args=(client,), daemon=True).start()

    def _read(self, client):
        while not self.stopping:
            self.reading.wait()
            try:
                msg = read_message(client.sock, client.buf, 3600)
            except (OSError, ConnectionError):
                return
            self.messages.put((client, msg))

    def next(self, timeout=10):
        return self.messages.get(timeout=timeout)

    def close(self):
        self.stopping = True
        self.reading.set()
        self.listener.close()
        for c in self.clients:
            c.close()


def top_via(msg):
    """The first Via header line's value."""
    m = re.search(rb"(?im)^(?:via|v)[ \t]*:[ \t]*([^\r\n]*)", msg)
    return m.group(1) if m else None


def body(msg):
    return msg.split(b"\r\n\r\n", 1)[1]


def respond(request, status, reason, extra=b"", content=b""):
    """A response to |request| with its Via, From, To (tagged), Call-ID and CSeq."""
    lines = []
    for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq"):
            lines.append(line)
        elif name in (b"to", b"t"):
            lines.append(line if b"tag=" in line else line + b";tag=callee")
    head = b"SIP/2.0 %d %s\r\n" % (status, reason) + b"\r\n".join(lines) + b"\r\n" + extra
    return head + b"Content-Length: %d\r\n\r\n" % len(content) + content


class Gateway:
    """One reusegw process with its config; stderr goes to a log file."""

    def __init__(self, binary, workdir, name, config_text):
        self.config = os.path.join(workdir, name + ".yaml")
        self.log_path = os.path.join(workdir, name + ".log")
        with open(self.config, "w") as f:
            f.write(with_test_io_backend(config_text))
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(binary), "-c", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_listening(self, host, port, timeout=20):
        """Polls until |host|:|port| accepts a connection (readiness check)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("reusegw exited early:\n" + self.read_log())
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("reusegw not listening on %s:%d\n%s" % (host, port, self.read_log()))

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


A_HOST, B_HOST = "127.0.0.2", "127.0.0.3"


def generate_certs(source, certs):
    """Runs |source|/test/certs/gen.sh into directory |certs| (created);
    raises CalledProcessError when it fails."""
    subprocess.run([os.path.join(source, "test/certs/gen.sh"), str(certs)], check=True,
                   stdout=subprocess.DEVNULL)


def gateway_config(name, host, tls_port, legacy_listen, forward_to, certs, routes, extra="",
                   tls_extra="", handshake_timeout="5s", client_certificate="required",
                   dns_server="127.0.0.1:1", sent_by_host=None):
    """A reusegw config for gateway |name| (certificate gw-|name|, identity
    |name|.test). |routes| is a list of (domain, ["ip:port", ...]). The
    default |dns_server| refuses at once, so a domain without a route gets
    its 503 immediately."""
    route_text = "".join(
        "  - domain: %s\n    targets: [%s]\n" % (d, ", ".join('"%s"' % t for t in targets))
        for d, targets in routes) or "  []\n"
    return f"""
identity:
  sent_by: {sent_by_host or name + ".test"}:{tls_port}
tls:
  listen: ["{host}:{tls_port}"{tls_extra}]
  certificate: {certs}/gw-{name}.pem
  private_key: {certs}/gw-{name}.key
  ca: {certs}/ca.pem
  handshake_timeout: {handshake_timeout}
  client_certificate: {client_certificate}
legacy:
  forward_to: 127.0.0.1:{forward_to}
  listen: {host}:{legacy_listen}
routes:
{route_text}dns:
  servers: ["{dns_server}"]
admin:
  listen: {host}:{free_port(host)}
log:
  level: debug
{extra}"""


class Pair:
    """Gateways A (127.0.0.2, a.test) and B (127.0.0.3, b.test) routing to
    each other, each with a LegacyServer behind it and a connection from
    "legacy A" to A's legacy.listen (egress_a)."""

    def __init__(self, binary, source, workdir, a_extra="", b_extra="", a_routes=None,
                 b_tls=None, b_forward_port=None, a_tls_extra="", b_tls_extra="",
                 b_handshake_timeout="5s", b_client_certificate="required", a_sent_by_host=None):
        certs = os.path.join(workdir, "certs")
        generate_certs(source, certs)
        self.certs = certs
        self.legacy_a = LegacyServer("127.0.0.1")
        self.legacy_b = LegacyServer("127.0.0.1")
        self.a_tls, self.b_tls = free_port(A_HOST), b_tls or free_port(B_HOST)
        self.a_legacy, self.b_legacy = free_port(A_HOST), free_port(B_HOST)
        if a_routes is None:
            a_routes = [("b.test", ["%s:%d" % (B_HOST, self.b_tls)])]
        self.a = Gateway(binary, workdir, "a",
                         gateway_config("a", A_HOST, self.a_tls, self.a_legacy,
                                        self.legacy_a.port, certs, a_routes, a_extra,
                                        a_tls_extra, sent_by_host=a_sent_by_host))
        self.b = Gateway(binary, workdir, "b",
                         gateway_config("b", B_HOST, self.b_tls, self.b_legacy,
                                        b_forward_port or self.legacy_b.port, certs,
                                        [("a.test", ["%s:%d" % (A_HOST, self.a_tls)])], b_extra,
                                        b_tls_extra, b_handshake_timeout, b_client_certificate))
        try:
            for gw, host, ports in ((self.a, A_HOST, (self.a_tls, self.a_legacy)),
                                    (self.b, B_HOST, (self.b_tls, self.b_legacy))):
                for port in ports:
                    gw.wait_listening(host, port)
            self.egress_a = Client.connect(A_HOST, self.a_legacy)
        except Exception:
            self.stop()
            raise

    def stop(self):
        codes = (self.a.stop(), self.b.stop())
        self.legacy_a.close()
        self.legacy_b.close()
        print("--- A log ---\n" + self.a.read_log() + "\n--- B log ---\n" + self.b.read_log())
        return codes


def request(method, uri, branch, call_id, cseq, content=b"", extra=b"",
            via_host=b"127.0.0.1:5999"):
    """A request as legacy A writes it (plain TCP Via with rport)."""
    return (b"%s %s SIP/2.0\r\n" % (method, uri) +
            b"Via: SIP/2.0/TCP %s;branch=%s;rport\r\n" % (via_host, branch) +
            b"Max-Forwards: 70\r\n"
            b"From: <sip:alice@a.test>;tag=caller\r\n"
            b"To: <sip:bob@b.test>\r\n"
            b"Call-ID: %s\r\n" % call_id +
            b"CSeq: %d %s\r\n" % (cseq, method) + extra +
            b"Content-Length: %d\r\n\r\n" % len(content) + content)


def rss_kib(pid):
    """Resident set size of process |pid| in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError("no VmRSS")
