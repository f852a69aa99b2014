"""Kamailio 5.6 as one site's legacy proxy: deploy/kamailio-legacy.cfg as
shipped (no tls module), its addresses set with -A defines, beside one
reusegw Gateway.

Owns its runtime dir and sipdump files under the test's log dir; runs in
the foreground (-DD -E) under a procs.Processes, so restart() is stop and
the same command again on the same sockets. Borrows the Gateway it sits
beside: its identity.sent_by becomes the domain and TLS face, its
legacy.listen the outbound proxy (GW_EGRESS). The legacy face speaks the
transport given (reusegw's legacy.transport), the phones' face
phone_transport."""
import re

from .kamailio import stop_kamailio
from .net import free_port, free_udp_port, hostport, wait_listening, wait_udp_bound
from .pki import SOURCE_DIR

__all__ = ["LEGACY_CFG", "LegacyKamailio", "SipDump"]

LEGACY_CFG = SOURCE_DIR / "deploy" / "kamailio-legacy.cfg"


def _branch(via):
    m = re.search(rb"branch=([^;,\s]+)", via)
    return m.group(1) if m else None


def _port(ip, transport):
    return free_udp_port(ip) if transport == "udp" else free_port(ip)


class SipDump:
    """One message Kamailio's sipdump module wrote: tag ("rcv" or "snd"),
    proto, src and dst as (ip, port), and raw, the bytes of the message."""

    def __init__(self, fields, raw):
        self.tag = fields.get("tag")
        self.proto = fields.get("proto", "").split()[0]
        self.src = (fields.get("srcip"), int(fields.get("srcport", 0)))
        self.dst = (fields.get("dstip"), int(fields.get("dstport", 0)))
        self.raw = raw

    def top_via(self):
        """The topmost Via value as written (bytes), or None: a Via line
        may carry several values, comma-separated."""
        m = re.search(rb"(?im)^(?:via|v)[ \t]*:[ \t]*([^,\r\n]*)", self.raw)
        return m.group(1) if m else None

    @property
    def is_response(self):
        return self.raw.startswith(b"SIP/2.0 ")


class LegacyKamailio:
    """Kamailio on ip: the "legacy" socket (reusegw's legacy.forward_to,
    `legacy`) and the phones' socket (`local`) on free ports chosen at
    construction, so that the gateway can be configured before either
    starts."""

    def __init__(self, procs, name, ip, transport="tcp", phone_transport="tcp"):
        self.procs = procs
        self.name = name
        self.ip = ip
        self.transport = transport
        self.phone_transport = phone_transport
        self.legacy = (ip, _port(ip, transport))
        self.local = (ip, _port(ip, phone_transport))
        self.dir = procs.log_dir / name
        self.dump_dir = self.dir / "sipdump"
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        self.domain = None
        self.argv = None
        self.proc = None
        self.starts = 0

    def start(self, gateway):
        """Starts Kamailio for gateway's site and returns once both sockets
        are bound."""
        sent_by = gateway.config["identity"]["sent_by"]
        self.domain = sent_by.rsplit(":", 1)[0]
        defines = {
            "SENT_BY_HOST": self.domain,
            "TLS_FACE": f'"{sent_by};transport=tls"',
            "LEGACY_SOCKET": f"{self.transport}:{hostport(self.legacy)}",
            "GW_EGRESS": f'"sip:{hostport(gateway.legacy_listen)};transport={self.transport}"',
            "LOCAL_SOCKET": f"{self.phone_transport}:{hostport(self.local)}",
            "LOCAL_FACE": f'"{hostport(self.local)};transport={self.phone_transport}"',
            "SIPDUMP_DIR": f'"{self.dump_dir}"',
        }
        self.argv = ["kamailio", "-f", LEGACY_CFG, "-DD", "-E", "-m", "64", "-M", "16",
                     "-Y", self.dir, "-P", self.dir / "kamailio.pid", "-w", self.dir,
                     "-A", "WITH_SIPDUMP"]
        for k, v in defines.items():
            self.argv += ["-A", f"{k}={v}"]
        return self._run()

    def _run(self):
        self.starts += 1
        self.proc = self.procs.start(f"{self.name}-{self.starts}", self.argv)
        for ep, transport in ((self.legacy, self.transport), (self.local, self.phone_transport)):
            (wait_udp_bound if transport == "udp" else wait_listening)(ep, self.proc)
        return self

    def stop(self):
        """SIGTERM, then its workers (stop_kamailio)."""
        stop_kamailio(self.proc, LEGACY_CFG)

    def restart(self):
        """Stops Kamailio and starts the same command again (its location
        table, in memory, starts empty)."""
        self.stop()
        return self._run()

    def vias_restored(self, gw):
        """How many responses this Kamailio received from gw's egress,
        after asserting that each carries the top Via this Kamailio wrote
        in its request, byte for byte (reusegw rewrote it for TLS, and the
        far side added received=)."""
        dumps = self.dumps()
        sent = {_branch(d.top_via()): d.top_via() for d in dumps
                if d.tag == "snd" and d.dst == gw.legacy_listen and not d.is_response}
        compared = 0
        for d in dumps:
            if d.tag == "rcv" and d.src == gw.legacy_listen and d.is_response:
                via = d.top_via()
                assert via == sent.get(_branch(via)), (via, sent.get(_branch(via)))
                compared += 1
        return compared

    def dumps(self):
        """Every message sipdump wrote so far, in order, as SipDumps."""
        out = []
        for path in sorted(self.dump_dir.glob("*.data")):
            text = path.read_bytes()
            for rec in text.split(b"====================\n")[1:]:
                head, sep, rest = rec.partition(b"~~~~~~~~~~~~~~~~~~~~\n")
                if not sep:
                    continue
                fields = dict(ln.decode().split(": ", 1) for ln in head.splitlines()
                              if b": " in ln)
                out.append(SipDump(fields, rest.split(b"||||||||||||||||||||", 1)[0]))
        return out
