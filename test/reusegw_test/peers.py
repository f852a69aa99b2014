"""Python SIP peers: stream connections that read whole messages, and a
stand-in for the legacy proxy's listener.

Owns the sockets and threads it creates; close() releases them. Borrows
the PKI (tls_context) for TLS."""
import queue
import socket
import ssl
import threading
import time

from .net import IO_TIMEOUT, hostport
from .sip import SipStream, response

__all__ = ["RecvTimeout", "SipConnection", "tcp_connect", "tls_connect", "Acceptor",
           "LegacyServer", "silent"]


class RecvTimeout(AssertionError):
    """Nothing (complete) arrived within the time given: distinct from a
    connection the peer closed, which is a plain AssertionError."""


class SipConnection:
    """A connected stream socket (plain or TLS) that reads whole SIP
    messages. Owns the socket; close() closes it."""

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
        """The next whole message; RecvTimeout when none completes within
        timeout, AssertionError on EOF."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RecvTimeout(f"no SIP message within {timeout} s "
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
        """True when the peer closes (EOF or reset) within timeout; whatever
        it sends before is kept for recv()."""
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
        """Shuts the socket down first (a thread blocked reading it would
        otherwise keep it open and the FIN unsent), then closes it."""
        for step in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                step()
            except OSError:
                pass


def _stream(ep, source, timeout, rcvbuf):
    """A connected TCP socket to ep (TCP_NODELAY); rcvbuf, when given, is
    its SO_RCVBUF, set before connecting so that the window stays that
    small (a peer that reads slowly or not at all)."""
    if rcvbuf is None:
        s = socket.create_connection(ep, timeout=timeout, source_address=source)
    else:
        s = socket.socket(socket.AF_INET6 if ":" in ep[0] else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        if source:
            s.bind(source)
        s.connect(ep)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def tcp_connect(ep, source=None, timeout=IO_TIMEOUT, rcvbuf=None):
    """A plain TCP SipConnection to ep, from source (ip, port) if given;
    rcvbuf: see _stream."""
    return SipConnection(_stream(ep, source, timeout, rcvbuf))


def tls_connect(ep, ctx, server_name, source=None, strict_eof=False, rcvbuf=None):
    """A TLS SipConnection to ep; the handshake is done on return (raises
    ssl.SSLError / OSError when it fails). strict_eof: a TCP close without
    close_notify raises ssl.SSLEOFError on read instead of reading as EOF.
    rcvbuf: see _stream."""
    s = _stream(ep, source, IO_TIMEOUT, rcvbuf)
    t = ctx.wrap_socket(s, server_hostname=server_name, suppress_ragged_eofs=not strict_eof)
    return SipConnection(t)


def silent(msg):
    """A LegacyServer answer that never answers: the test answers itself."""
    return None


class Acceptor:
    """Runs a thread that accepts on listener (a bound, listening socket,
    now owned) and hands each new socket to handle(sock), which takes
    ownership. close() stops it safely: it shuts the listener down (which
    wakes accept), joins the thread, and only then closes the descriptor; a
    thread still entering accept() on a closed descriptor would take the
    connections of whatever listener gets that descriptor number next."""

    def __init__(self, listener, handle):
        self.listener = listener
        self.ep = listener.getsockname()
        self.handle = handle
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.stopping:
                    s.close()
                    return
                self.handle(s)

    def close(self):
        with self.lock:
            self.stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=IO_TIMEOUT)
        self.listener.close()


class LegacyServer:
    """Stands in for a legacy proxy's plain TCP listener where the tests need
    byte-exact capture (sipp cannot send or log 64 KB bodies). Records every
    message received with the SipConnection it came on, and answers
    requests with answer(msg) (default 200 OK; `silent` never answers).
    Clearing `reading` makes it stop reading (a slow proxy) until set.

    A stand-in for the legacy proxy by necessity: the real one is whatever
    the operator runs; sipp plays it where byte-exact capture is not
    needed."""

    def __init__(self, ep=None, answer=None, rcvbuf=None):
        self.ep = ep or ("127.0.0.1", 0)
        self.answer = answer if answer is not None else (lambda m: response(m))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:  # inherited by the accepted sockets
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        listener.bind(self.ep)
        listener.listen(64)
        self.received = queue.Queue()
        self.conns = []
        self.threads = []
        self.stopping = False
        self.reading = threading.Event()
        self.reading.set()
        self.acceptor = Acceptor(listener, self._accepted)
        self.listener = listener
        self.ep = self.acceptor.ep

    def _accepted(self, s):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = SipConnection(s)
        self.conns.append(conn)
        t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        self.threads.append(t)
        t.start()

    def _serve(self, conn):
        while not self.stopping:
            self.reading.wait()
            try:
                data = conn.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            for m in conn.stream.feed(data):
                self.received.put((conn, m))
                if m.is_request and m.method != "ACK":
                    reply = self.answer(m)
                    if reply:
                        try:
                            conn.send(reply)
                        except OSError:
                            return

    def next(self, timeout=IO_TIMEOUT):
        """(SipConnection, SipMessage) of the next message received;
        RecvTimeout when none arrives within timeout."""
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise RecvTimeout(f"legacy server {hostport(self.ep)} received nothing "
                              f"within {timeout} s") from None

    def expect_nothing(self, timeout=0.5):
        """Asserts that no message arrives within timeout."""
        try:
            conn, msg = self.received.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError(f"legacy server {hostport(self.ep)} received {msg!r}")

    def close(self):
        """Stops accepting (Acceptor.close), then serving: the serving
        threads are woken (shutdown) and joined before their sockets are
        closed, for the reason Acceptor.close gives."""
        self.acceptor.close()  # no connection is added after this
        self.stopping = True
        self.reading.set()
        for c in self.conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=IO_TIMEOUT)
        for c in self.conns:
            c.close()
