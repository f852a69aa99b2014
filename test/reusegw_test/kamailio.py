"""A real Kamailio 5.6 peer with its tls module, in two configurations:
the stateless relay of kamailio/relay.cfg (start_relay) and the RFC 5923
alias peer (start_alias_peer).

Owns its config, tls.cfg and runtime dir under the test's log dir; runs in
the foreground (-DD -E) under a procs.Processes; stop() also ends the
worker processes it forked. Borrows the PKI of test/certs/gen.sh: it
presents leaf (peer-k, k.test) as server and as client and requires a
verified certificate from the other side."""
import os
import pathlib
import re
import signal

from .net import free_port, hostport, wait_listening

__all__ = ["Kamailio", "stop_kamailio"]

RELAY_CFG = pathlib.Path(__file__).resolve().parent / "kamailio" / "relay.cfg"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

# Requests for k.test are answered 200 locally; any other request arriving
# over plain TCP is relayed over TLS to the gateway, with a bare ;alias in
# its Via when asked (core xavp_via_params with an empty value, enabled per
# message by corex via_add_xavp_params). Each request and reply is logged
# as one line starting KAM-IN or KAM-REPLY with protocol, source, and TCP
# connection id.
ALIAS_PEER_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
enable_tls=yes
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
modparam("tls", "config", TLS_CONFIG)

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


def tls_config(pki, leaf):
    """Kamailio's tls.cfg: TLS 1.2+ with leaf's certificate from pki, the
    test CA, and a verified certificate required from the other side, the
    same whether Kamailio accepts (server) or dials (client)."""
    section = (f"method = TLSv1.2+\nverify_certificate = yes\nrequire_certificate = yes\n"
               f"certificate = {pki / (leaf + '.chain.pem')}\n"
               f"private_key = {pki / (leaf + '.key')}\nca_list = {pki / 'ca.pem'}\n")
    return f"[server:default]\n{section}\n[client:default]\n{section}"


def _children(pid):
    """PIDs of the processes pid forked."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def stop_kamailio(proc, cfg):
    """SIGTERMs the Kamailio main process proc (a procs.Process, may be
    None) and waits (procs timeouts); then SIGKILLs, by PID, any of its
    workers still running with config cfg (a main process killed after
    the timeout would leave them behind)."""
    if proc is None or proc.popen is None:
        return
    workers = _children(proc.pid) if proc.alive() else []
    proc.stop()
    for pid in workers:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(cfg).encode() not in f.read():
                    continue
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Kamailio:
    """Kamailio on ip with a plain TCP (tcp) and a TLS (tls) listener on
    free ports chosen at construction, so that a test can route to them
    before starting it. start_*() return once both listen."""

    def __init__(self, procs, pki, ip, leaf="peer-k", name="kamailio"):
        self.procs = procs
        self.ip = ip
        self.name = name
        self.tcp = (ip, free_port(ip))
        self.tls = (ip, free_port(ip))
        self.dir = procs.log_dir / name
        self.dir.mkdir(exist_ok=True)
        self.tls_cfg = self.dir / "tls.cfg"
        self.tls_cfg.write_text(tls_config(pki, leaf))
        self.cfg = None
        self.proc = None

    def _start(self, cfg, defines=()):
        self.cfg = cfg
        argv = ["kamailio", "-f", cfg, "-DD", "-E", "-m", "64", "-M", "16",
                "-Y", self.dir, "-P", self.dir / "kamailio.pid", "-w", self.dir,
                "-l", f"tcp:{hostport(self.tcp)}", "-l", f"tls:{hostport(self.tls)}",
                "-A", f'TLS_CONFIG="{self.tls_cfg}"']
        for d in defines:
            argv += ["-A", d]
        self.proc = self.procs.start(self.name, argv)
        wait_listening(self.tcp, self.proc)
        wait_listening(self.tls, self.proc)
        return self

    def start_relay(self, next_proto, next_hop):
        """kamailio/relay.cfg: forwards every request statelessly to
        next_hop (ip, port) over next_proto "TLS" or "TCP"."""
        return self._start(RELAY_CFG, [
            f'CTL_SOCKET="unix:{self.dir}/kam.ctl"', "TCP_CHILDREN=1", "MAX_CONNS=1024",
            f"NEXT_PROTO_{next_proto}", f'NEXT_HOST="{next_hop[0]}"',
            f"NEXT_PORT={next_hop[1]}"])

    def start_alias_peer(self, gateway, accept_aliases, send_alias):
        """ALIAS_PEER_CFG: relays what arrives over TCP to gateway (ip,
        port) over TLS, with ;alias when send_alias; honours aliases
        (tcp_accept_aliases) when accept_aliases."""
        cfg = self.dir / "kamailio.cfg"
        cfg.write_text(ALIAS_PEER_CFG.format(
            ip=self.ip, tls_port=self.tls[1], modules=MODULES,
            accept_aliases="yes" if accept_aliases else "no",
            alias_line=('$xavp(via=>alias) = ""; via_add_xavp_params("1");'
                        if send_alias else ""),
            gw_ip=gateway[0], gw_port=gateway[1]))
        return self._start(cfg)

    def stop(self):
        """stop_kamailio on this peer."""
        stop_kamailio(self.proc, self.cfg)

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
