"""SIP text for tests: messages as written on the wire and a parsed view.

Stateless apart from a branch counter. Requests and responses are built
as bytes; SipMessage keeps the raw bytes beside a parsed view so that a
test can compare byte for byte or by header."""
import itertools
import os
import re

__all__ = ["LEGACY_VIA", "SipMessage", "SipStream", "new_branch", "request", "legacy_request",
           "response", "branch_of"]

# The topmost Via a legacy proxy writes in the tests' requests.
LEGACY_VIA = "SIP/2.0/TCP 127.0.0.1:5070"

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
            "m": "contact", "c": "content-type"}


class SipMessage:
    """One SIP message as it was on the wire (raw) plus a parsed view:
    header names lower-case and compact forms expanded, folded lines
    joined, values in order."""

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
        """Every value of header name, in order."""
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name):
        """The first value of header name, or None."""
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
        """Appends data; returns the SipMessages it completed."""
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
    """A branch no other request of this process carries."""
    return f"z9hG4bK-e2e-{os.getpid()}-{next(_branch_counter)}"


def request(method, ruri, via, branch=None, call_id=None, body=b"", cseq=1, headers=(),
            to_uri=None, from_uri="sip:legacy@a.test", via_params=""):
    """A SIP request as bytes. via is the whole sent-protocol + sent-by
    value, e.g. "SIP/2.0/TCP 127.0.0.1:5070" (parameters before the branch
    may follow it); via_params come after the branch (";rport"). headers
    are whole lines without CRLF, written after CSeq."""
    branch = branch or new_branch()
    call_id = call_id or f"{branch}@e2e"
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: {via};branch={branch}{via_params}",
             "Max-Forwards: 70",
             f"From: <{from_uri}>;tag=e2e{os.getpid()}",
             f"To: <{to_uri or ruri}>",
             f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}"]
    lines += list(headers)
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def legacy_request(method, ruri, branch, call_id=None, cseq=1, **kw):
    """A request as the legacy proxy writes it towards legacy.listen:
    LEGACY_VIA with ;rport after the branch, so that a test sees every
    parameter come back in place."""
    return request(method, ruri, LEGACY_VIA, branch=branch, call_id=call_id, cseq=cseq,
                   via_params=";rport", **kw)


def branch_of(msg):
    """The branch of msg's topmost Via."""
    return msg.get("via").split("branch=")[1].split(";")[0]


def response(req, code=200, reason="OK", headers=(), body=b""):
    """A response to the SipMessage req: every Via, From, To (with a tag),
    Call-ID and CSeq copied in order; headers are whole lines."""
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
