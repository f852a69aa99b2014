"""reusegw processes under test: one Gateway, and the two topologies the
suites use (Pair: gateways A and B routing to each other; Single: B alone).

A Gateway owns its config dict, renders it (config.to_yaml) into the log
dir when it starts or reloads, and runs under a procs.Processes, which owns
the process and its log. Its admin endpoint is read over real HTTP."""
import json
import re
import signal
import time
import urllib.error
import urllib.request

from .config import gateway_config, to_yaml
from .net import IO_TIMEOUT, established, free_port, hostport, unique_net, wait_listening

__all__ = ["Gateway", "Pair", "Single", "parse_metrics"]


def _endpoint(text):
    host, port = text.rsplit(":", 1)
    return (host.strip("[]"), int(port))


def parse_metrics(text):
    """{series: value} of a Prometheus text exposition, a series written as
    exposed (name with its labels)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class Gateway:
    """A reusegw process on a config dict. start() returns once it accepts
    on every tls.listen and on legacy.listen; stop() sends SIGTERM and
    returns the exit code (the contract: 0)."""

    def __init__(self, procs, binary, name, config):
        self.procs = procs
        self.binary = binary
        self.name = name
        self.config = config
        self.config_path = procs.log_dir / f"{name}.yaml"
        self.proc = None

    @property
    def tls(self):
        """The first tls.listen as (ip, port)."""
        return _endpoint(self.config["tls"]["listen"][0])

    @property
    def legacy_listen(self):
        return _endpoint(self.config["legacy"]["listen"])

    @property
    def admin(self):
        return _endpoint(self.config["admin"]["listen"])

    def write_config(self):
        """Renders the config dict to config_path; returns the path."""
        self.config_path.write_text(to_yaml(self.config) + "\n")
        return self.config_path

    def start(self, argv_prefix=(), env=None):
        """Starts reusegw -c CONFIG (after argv_prefix, a wrapper such as
        test/scale/no_uring; in env, a whole environment, when given) and
        waits until every tls.listen, legacy.listen and admin.listen is
        listening; AssertionError with its log if it exits first."""
        path = self.write_config()
        self.proc = self.procs.start(self.name, [*argv_prefix, self.binary, "-c", path], env=env)
        # Read from ss, not by connecting: a probe connection would show in
        # the counters and logs the tests read.
        eps = [_endpoint(t) for t in self.config["tls"]["listen"]] + [self.legacy_listen]
        if "admin" in self.config:
            eps.append(self.admin)
        for ep in eps:
            wait_listening(ep, self.proc)
        return self

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        """Renders the (edited) config dict and sends SIGHUP."""
        self.write_config()
        self.send_signal(signal.SIGHUP)

    def stop(self):
        """SIGTERM; the exit code."""
        return self.proc.stop(signal.SIGTERM)

    def log(self):
        return self.proc.log_text()

    def wait_log(self, pattern, count=1, timeout=IO_TIMEOUT * 2):
        """The count-th log line matching the regex pattern, polled until
        timeout (readiness, not sleep); AssertionError if it never comes."""
        rx = re.compile(pattern)
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [ln for ln in self.log().splitlines() if rx.search(ln)]
            if len(lines) >= count:
                return lines[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"{len(lines)} of {count} log lines matching {pattern!r} "
                             f"in:\n{self.log()[-20000:]}")

    def stop_counters(self):
        """SIGTERMs the gateway (exit 0 required) and returns the counters of
        its "reusegw stopped" line."""
        assert self.stop() == 0, "reusegw must exit 0 on SIGTERM"
        m = re.search(r'msg="reusegw stopped"(.*)', self.log())
        assert m, self.log()
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}

    def http_get(self, path):
        """(status, body text) of GET path on the admin endpoint; error
        statuses are answers too."""
        url = f"http://{hostport(self.admin)}{path}"
        try:
            with urllib.request.urlopen(url, timeout=IO_TIMEOUT) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics_text(self):
        status, body = self.http_get("/metrics")
        assert status == 200, (status, body)
        return body

    def metrics(self):
        """/metrics as {series: value} (parse_metrics)."""
        return parse_metrics(self.metrics_text())

    def metric(self, series):
        """The value of one /metrics series, e.g.
        'reusegw_limit_hits_total{limit="max_connections"}' (0 when absent)."""
        return self.metrics().get(series, 0)

    def aliases(self):
        """/aliases (every worker's rows)."""
        status, body = self.http_get("/aliases")
        assert status == 200, (status, body)
        return json.loads(body)

    def connections(self, query=""):
        """(status, parsed JSON) of /connections?query (docs/operations.md)."""
        status, body = self.http_get("/connections" + (f"?{query}" if query else ""))
        return status, json.loads(body)


class Pair:
    """Gateway A (a.test, gw-a) on NET.2 and gateway B (b.test, gw-b) on
    NET.3, NET from unique_net(), free ports, static routes a.test -> A's
    tls.listen and b.test -> B's in both. Each forwards to the legacy
    endpoint given (forward_a / forward_b: (ip, port) of a sipp or
    LegacyServer on 127.0.0.1); each gateway's legacy.listen is on its own
    address. edit(name, config_dict), name "a" or "b", makes variants
    before start(). stop() SIGTERMs both and returns their exit codes.

    fixtures.Stage.relay() also sets legacy_a, legacy_b (the LegacyServers
    behind A and B) and egress_a (legacy A's connection to A's
    legacy.listen)."""

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
        outbound ones leave from A's address, docs/design.md routing)."""
        return established(self.a_ip, self.b.tls) + established(self.b_ip, self.a.tls)

    def stop(self):
        """SIGTERMs the gateways that were started; their exit codes."""
        return [g.stop() for g in (self.a, self.b) if g.proc]


class Single:
    """Gateway B (gw-b, b.test) alone on a unique loopback address,
    forwarding to forward (an (ip, port)); a.test routes to A's address
    where nothing listens unless a test plays A itself. edit(config_dict)
    makes variants before start()."""

    def __init__(self, procs, binary, pki, forward, edit=None):
        net = unique_net()
        self.net = net
        self.a_ip, self.b_ip = f"{net}.2", f"{net}.3"
        self.a_tls = (self.a_ip, free_port(self.a_ip))
        b_tls = (self.b_ip, free_port(self.b_ip))
        routes = {"a.test": [self.a_tls], "b.test": [b_tls]}
        cfg = gateway_config(pki, "gw-b", f"b.test:{b_tls[1]}", b_tls, forward,
                             (self.b_ip, free_port(self.b_ip)), routes,
                             ("127.0.0.1", free_port()), level="info")
        if edit:
            edit(cfg)
        self.gw = Gateway(procs, binary, "reusegw-b", cfg)

    def start(self, argv_prefix=()):
        """Starts the gateway (after argv_prefix: see Gateway.start)."""
        self.gw.start(argv_prefix)
        return self

    @property
    def tls(self):
        return self.gw.tls

    @property
    def pid(self):
        return self.gw.proc.pid
