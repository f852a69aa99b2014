"""A real Kamailio 5.6 peer with its tls module, for the RFC 5923 interop
tests. Owns its config, tls.cfg and runtime dir under the test's log dir;
runs in the foreground (-DD -E) under harness.Processes, which stops it at
teardown. Borrows the PKI of test/certs/gen.sh: Kamailio presents peer-k
(k.test) as server and as client and requires a certificate from peers.

It listens on one loopback address: plain TCP (where the tests inject
requests) and TLS. Requests for k.test are answered 200 locally; any other
request arriving over plain TCP is relayed over TLS to `gateway` (ip, port),
with a bare ;alias in its Via when `send_alias` (core xavp_via_params with an
empty value, enabled per message by corex via_add_xavp_params). Each request and reply is logged as one line starting KAM-IN
or KAM-REPLY with protocol, source, and TCP connection id."""
import os
import re
import signal
import time

import harness as h

MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
enable_tls=yes
listen=tcp:{ip}:{tcp_port}
listen=tls:{ip}:{tls_port}
advertised_address="k.test"
advertised_port={tls_port}
alias="k.test"
tcp_accept_aliases={accept_aliases}
tcp_connection_lifetime=600
xavp_via_params="via"
mpath="{modules}"
loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "corex.so"
modparam("tls", "config", "{tls_cfg}")

request_route {{
    xlog("L_ERR", "KAM-IN $rm $ru proto=$pr src=$si:$sp conid=$conid via=$hdr(Via)\\n");
    if ($rd == "k.test") {{
        sl_send_reply("200", "OK from Kamailio");
        exit;
    }}
    if ($pr == "tcp") {{
        {alias_line}
        $du = "sip:{gw_ip}:{gw_port};transport=tls";
        force_send_socket(tls:{ip}:{tls_port});
        t_relay();
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}

onreply_route {{
    xlog("L_ERR", "KAM-REPLY $rs proto=$pr src=$si:$sp conid=$conid\\n");
}}
"""

class Kamailio:
    """Kamailio on ip with a plain TCP and a TLS listener (free ports).
    start() returns once both accept connections."""

    def __init__(self, procs, pki, ip, gateway, accept_aliases, send_alias):
        self.procs = procs
        self.ip = ip
        self.tcp = (ip, h.free_port(ip))
        self.tls = (ip, h.free_port(ip))
        self.dir = procs.log_dir / "kamailio"
        self.dir.mkdir(exist_ok=True)
        tls_cfg = self.dir / "tls.cfg"
        tls_cfg.write_text(h.kamailio_tls_config(pki, "peer-k"))
        self.cfg = self.dir / "kamailio.cfg"
        self.cfg.write_text(CFG.format(
            ip=ip, tcp_port=self.tcp[1], tls_port=self.tls[1], modules=MODULES,
            tls_cfg=tls_cfg, accept_aliases="yes" if accept_aliases else "no",
            alias_line=('$xavp(via=>alias) = ""; via_add_xavp_params("1");'
                        if send_alias else ""),
            gw_ip=gateway[0], gw_port=gateway[1]))
        self.proc = None

    def start(self):
        self.proc = self.procs.start("kamailio", [
            "kamailio", "-DD", "-E", "-f", self.cfg, "-Y", self.dir, "-w", self.dir,
            "-m", "64", "-M", "16"])
        deadline = time.monotonic() + h.START_TIMEOUT
        for ep in (self.tcp, self.tls):
            if not h.wait_connectable(ep, deadline, self.proc.alive):
                raise AssertionError(f"kamailio not listening on {h.hostport(ep)}:\n"
                                     f"{self.proc.log_text()}")
        return self

    def _workers(self):
        """PIDs of the processes the main Kamailio process forked."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid:
                out.append(int(d))
        return out

    def stop(self):
        """SIGTERMs Kamailio and waits (harness timeouts); then SIGKILLs, by
        PID, any of its workers still running with this config (a main
        process killed after the timeout would leave them behind)."""
        if self.proc is None or self.proc.popen is None:
            return
        workers = self._workers() if self.proc.alive() else []
        self.proc.stop()
        for pid in workers:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(self.cfg).encode() not in f.read():
                        continue
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def lines(self, tag):
        """The KAM-IN / KAM-REPLY log lines so far, each as a dict of its
        key=value fields plus 'what' (method or status)."""
        out = []
        for m in re.finditer(rf"{tag} (\S+)(.*)", self.proc.log_text()):
            rest, _, via = m.group(2).partition(" via=")
            fields = dict(re.findall(r"(\w+)=(\S*)", rest))
            fields["via"] = via.strip()
            fields["what"] = m.group(1)
            out.append(fields)
        return out
