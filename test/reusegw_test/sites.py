"""Two sites, each a real deployment: sipp phones -> Kamailio
(deploy/kamailio-legacy.cfg) -> reusegw, and the two reusegw joined by
mutual TLS.

    phones A --> Kamailio A --> reusegw A ==TLS== reusegw B <-- Kamailio B <-- phones B
    NET'.6       NET'.4         NET.2             NET.3         NET'.5         NET'.7

Owns nothing itself: the gateways (a Pair) and the Kamailios belong to the
fixtures.Stage given, which stops them; every sipp runs under the Stage's
procs. The Kamailio-reusegw hop speaks `transport` (reusegw's
legacy.transport), the phones `phone_transport`."""
from .net import (free_port, free_udp_port, hostport, unique_net, wait_listening,
                  wait_udp_bound)
from .legacy_kamailio import LegacyKamailio
from .tools import Sipp

__all__ = ["Site", "TwoSites"]

# sipp's -t for a phone transport; every sipp gives up after this long.
_SIPP_T = {"tcp": "t1", "udp": "u1"}
_SIPP_TIMEOUT = "60s"


class Site:
    """One site: gw (its reusegw Gateway), kam (its LegacyKamailio), domain
    (the Gateway's sent_by host, Kamailio's alias) and phone_ip."""

    def __init__(self, name, gw, kam, phone_ip):
        self.name = name
        self.gw = gw
        self.kam = kam
        self.phone_ip = phone_ip

    @property
    def domain(self):
        return self.gw.config["identity"]["sent_by"].rsplit(":", 1)[0]


class TwoSites:
    """Sites a (a.test) and b (b.test). edit(name, config_dict) makes
    gateway variants (Pair's edit) before start()."""

    def __init__(self, stage, transport="tcp", phone_transport="tcp", edit=None):
        self.stage = stage
        self.procs = stage.procs
        self.phone_transport = phone_transport
        net = unique_net()
        kam_a = LegacyKamailio(stage.procs, "kamailio-a", f"{net}.4", transport, phone_transport)
        kam_b = LegacyKamailio(stage.procs, "kamailio-b", f"{net}.5", transport, phone_transport)
        stage.kamailios += [kam_a, kam_b]

        def edit_pair(name, cfg):
            if transport != "tcp":
                cfg["legacy"]["transport"] = transport
            if edit:
                edit(name, cfg)

        self.pair = stage.pair(kam_a.legacy, kam_b.legacy, edit_pair, start=False)
        self.a = Site("a", self.pair.a, kam_a, f"{net}.6")
        self.b = Site("b", self.pair.b, kam_b, f"{net}.7")
        self._n = 0

    def start(self):
        """Both gateways, then both Kamailios."""
        self.pair.start()
        self.a.kam.start(self.a.gw)
        self.b.kam.start(self.b.gw)
        return self

    def _phone_ep(self, site):
        port = (free_udp_port if self.phone_transport == "udp" else free_port)(site.phone_ip)
        return (site.phone_ip, port)

    def sipp(self, site, role, scenario, extra=(), uac=True):
        """A sipp phone of site on a fresh port, named after role; a UAC
        sends to site's Kamailio's phone face."""
        self._n += 1
        local = self._phone_ep(site)
        sipp = Sipp(self.procs, f"sipp-{site.name}-{role}-{self._n}", scenario, local,
                    site.kam.local if uac else None,
                    ["-timeout", _SIPP_TIMEOUT, "-timeout_error", *extra],
                    _SIPP_T[self.phone_transport])
        sipp.local = local  # a UAS's contact
        return sipp

    def register(self, site, user, contact):
        """sip:user@site.domain registered at site's Kamailio with contact
        (ip, port) by a sipp phone (kam_register.xml); asserts its 200."""
        reg = self.sipp(site, f"register-{user}", "kam_register.xml",
                        ["-s", user, "-key", "dest", site.domain, "-key", "contact",
                         hostport(contact), "-m", "1"])
        assert reg.wait() == 0, reg.proc.log_text()[-3000:]
        return reg

    def callee(self, site, user, scenario, calls):
        """A sipp UAS on scenario for calls calls, registered at site as
        user; returns the Sipp (its local endpoint is the contact)."""
        uas = self.sipp(site, f"uas-{user}", scenario, ["-m", str(calls)], uac=False)
        if self.phone_transport == "udp":
            wait_udp_bound(uas.local, uas.proc)
        else:
            wait_listening(uas.local, uas.proc)
        self.register(site, user, uas.local)
        return uas

    def call(self, site, scenario, user, to, calls, extra=(), wait=True):
        """A sipp UAC at site running scenario calls times to
        sip:user@to.domain through site's Kamailio, calls lasting 100 ms
        (-d; extra may override it, and sipp's rate, -r); returns once it
        exited (rc is its exit code), or at once unless wait."""
        uac = self.sipp(site, f"uac-{user}", scenario,
                        ["-s", user, "-key", "dest", to.domain, "-m", str(calls), "-d", "100",
                         *extra])
        if wait:
            uac.rc = uac.wait(timeout=90)
        return uac
