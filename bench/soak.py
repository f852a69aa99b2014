"""Soak driver behind bench/soak: two reusegw gateways (A: a.test, B: b.test,
reusegw_test.Pair topology) with legacy stand-ins that answer 200, N idle
mutually authenticated TLS connections held open to B, and a steady call
load (INVITE/200/ACK, BYE/200) in both directions through A and B for
SOAK_SECONDS. Every SOAK_SAMPLE seconds it writes each gateway's RSS and
fd count to a CSV; at the end it prints the growth and exits non-zero when a
call failed, an idle connection was dropped, a gateway died or did not exit
0 on SIGTERM (under ASan that includes LeakSanitizer's verdict), or the fd
count grew after warm-up. Bounded: every wait has a deadline, the run ends
after SOAK_SECONDS.

Environment: REUSEGW_BIN (default build/gateway/reusegw), SOAK_SECONDS (600),
SOAK_CONNECTIONS (10000), SOAK_RATE (calls per second per direction, 10),
SOAK_SAMPLE (5), SOAK_OUT (directory for the CSV and logs; default a new
temporary directory).

With --connections N (the scale mode, tools_main below) it drives one
gateway with bench/scale's C tools instead: scale_load holds N mutually
authenticated TLS connections (spread over --sources loopback addresses,
each good for ~28k ephemeral ports), of which --active carry OPTIONS paced
to --rate per second for --minutes; scale_sink answers them as the legacy
proxy. It reports the time to establish the connections, RSS per connection,
RSS growth after warm-up, fds and failed transactions, and fails like the
pair mode (plus: a connection the gateway closed, fds not returned once the
load is gone)."""
import argparse
import csv
import os
import pathlib
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

import reusegw_test as h  # bench/soak puts test/ on PYTHONPATH

ROOT = pathlib.Path(__file__).resolve().parents[1]


def env_int(name, default):
    return int(os.environ.get(name, default))


class Caller(threading.Thread):
    """Places calls from one legacy proxy's egress connection at |rate| per
    second until |stop| is set; counts calls and failures."""

    def __init__(self, egress_ep, callee, rate, stop):
        super().__init__(daemon=True)
        self.egress_ep, self.callee, self.rate, self.stop = egress_ep, callee, rate, stop
        self.egress = h.tcp_connect(egress_ep)
        self.calls = self.failures = 0
        self.last_error = None

    def transaction(self, method, call_id, cseq):
        self.egress.send(h.request(method, f"sip:bob@{self.callee}", h.LEGACY_VIA,
                                   call_id=call_id, cseq=cseq))
        if method == "ACK":
            return True
        r = self.egress.recv(timeout=10)
        return r.status == 200 and r.get("call-id") == call_id

    def run(self):
        n = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            call_id = f"soak-{self.callee}-{n}"
            try:
                ok = (self.transaction("INVITE", call_id, 1) and
                      self.transaction("ACK", call_id, 1) and
                      self.transaction("BYE", call_id, 2))
            except (AssertionError, OSError) as err:
                ok, self.last_error = False, str(err)
                self.egress = h.tcp_connect(self.egress_ep)
            self.calls += 1
            self.failures += not ok
            n += 1
            next_at += 1.0 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))


def open_idle(pair, pki, count, deadline):
    """|count| mTLS connections to B (certificate gw-a), each from one of
    several addresses so that no single peer address holds them all."""
    ctx = h.tls_context(pki, "gw-a")
    conns = []
    sources = [f"{pair.net}.{i}" for i in range(10, 30)]
    while len(conns) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: only {len(conns)} of {count} idle connections in time")
        src = sources[len(conns) % len(sources)]
        conns.append(h.tls_connect(pair.b.tls, ctx, "b.test", source=(src, 0)))
    return conns


def main():
    if len(sys.argv) > 1:
        return tools_main(sys.argv[1:])
    seconds = env_int("SOAK_SECONDS", 600)
    n_idle = env_int("SOAK_CONNECTIONS", 10000)
    rate = env_int("SOAK_RATE", 10)
    sample = env_int("SOAK_SAMPLE", 5)
    binary = str(pathlib.Path(os.environ.get("REUSEGW_BIN", ROOT / "build" / "gateway" / "reusegw")).resolve())
    out = pathlib.Path(os.environ.get("SOAK_OUT") or tempfile.mkdtemp(prefix="reusegw-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"soak: {seconds} s, {n_idle} idle connections, {rate} calls/s each way, "
          f"output in {out}", flush=True)

    pki = h.generate_pki(out / "pki")
    procs = h.Processes(out)
    legacy_a, legacy_b = h.LegacyServer(), h.LegacyServer()

    def edit(_, cfg):
        cfg["limits"]["max_connections"] = 2 * n_idle + 1000
        cfg["limits"]["max_connections_per_peer"] = n_idle + 100
        cfg["reuse"]["idle_timeout"] = f"{seconds + 600}s"
        cfg["log"]["level"] = "info"

    pair = h.Pair(procs, binary, pki, legacy_a.ep, legacy_b.ep, edit, level="info")
    errors = []
    rows = []
    try:
        pair.start()
        t0 = time.monotonic()
        idle = open_idle(pair, pki, n_idle, t0 + max(300, seconds))
        print(f"soak: {len(idle)} idle connections open after {time.monotonic() - t0:.1f} s",
              flush=True)
        stop = threading.Event()
        callers = []
        for gw, callee in ((pair.a, "b.test"), (pair.b, "a.test")):
            callers.append(Caller(gw.legacy_listen, callee, rate, stop))
        for c in callers:
            c.start()
        start = time.monotonic()
        with open(out / "soak.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_s", "a_rss_kib", "a_fds", "b_rss_kib", "b_fds", "calls", "failures"])
            while time.monotonic() - start < seconds:
                for gw in (pair.a, pair.b):
                    if not gw.proc.alive():
                        errors.append(f"{gw.name} died (exit {gw.proc.popen.poll()})")
                if errors:
                    break
                row = [round(time.monotonic() - start, 1), h.rss_kib(pair.a.proc.pid),
                       h.fds(pair.a.proc.pid), h.rss_kib(pair.b.proc.pid), h.fds(pair.b.proc.pid),
                       sum(c.calls for c in callers), sum(c.failures for c in callers)]
                w.writerow(row)
                f.flush()
                rows.append(row)
                time.sleep(sample)
        stop.set()
        for c in callers:
            c.join(timeout=30)
        calls = sum(c.calls for c in callers)
        failures = sum(c.failures for c in callers)
        if failures:
            errors.append(f"{failures} of {calls} calls failed (last: "
                          f"{[c.last_error for c in callers if c.last_error]})")
        dropped = sum(1 for c in idle if c.closed_by_peer(timeout=0.001))
        if dropped:
            errors.append(f"{dropped} idle connections were closed by the gateway")
        for c in idle:
            c.close()
        report(rows, calls, failures, seconds, n_idle, errors)
    finally:
        codes = pair.stop()
        legacy_a.close()
        legacy_b.close()
        if any(rc != 0 for rc in codes):
            errors.append(f"gateway exit codes on SIGTERM: {codes} (see logs in {out})")
            for p in procs.started:
                if p.returncode:
                    print(p.log_text()[-4000:])
    if errors:
        print("soak: FAILED\n  " + "\n  ".join(errors))
        return 1
    print("soak: OK")
    return 0


def report(rows, calls, failures, seconds, n_idle, errors):
    """Prints RSS and fd growth of both gateways from the first sample after
    warm-up (a fifth of the run) to the last; fd growth is an error."""
    if len(rows) < 2:
        errors.append("too few samples")
        return
    warm = rows[min(len(rows) - 2, max(1, len(rows) // 5))]
    last = rows[-1]
    print(f"soak: {calls} calls ({failures} failed) in {seconds} s with {n_idle} idle "
          f"connections; {len(rows)} samples")
    for name, rss_i, fd_i in (("A", 1, 2), ("B", 3, 4)):
        peak = max(r[rss_i] for r in rows)
        growth = last[rss_i] - warm[rss_i]
        print(f"soak: gateway {name}: RSS {rows[0][rss_i]} KiB at start, {warm[rss_i]} KiB "
              f"after warm-up (t={warm[0]} s), {last[rss_i]} KiB at the end, peak {peak} KiB; "
              f"growth after warm-up {growth:+d} KiB "
              f"({100.0 * growth / max(1, warm[rss_i]):+.1f}%); fds {warm[fd_i]} -> {last[fd_i]}")
        if last[fd_i] > warm[fd_i] + 16:
            errors.append(f"gateway {name} fds grew from {warm[fd_i]} to {last[fd_i]}")


def load_average():
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def wait_line(proc, pattern, deadline):
    """The first match of regex pattern in proc's log, polled until
    deadline; SystemExit with the log's tail if proc exits or time runs out."""
    while time.monotonic() < deadline:
        m = re.search(pattern, proc.log_text(), re.M)
        if m:
            return m
        if not proc.alive():
            break
        time.sleep(0.2)
    raise SystemExit(f"soak: {proc.name}: no {pattern!r}:\n{proc.log_text()[-3000:]}")


def raise_nofile(need):
    """Raises this process's soft RLIMIT_NOFILE (inherited by the gateway and
    the tools) to need; exits 2 when the hard limit is below it (raising
    that takes CAP_SYS_RESOURCE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit(f"soak: RLIMIT_NOFILE hard limit is {hard}, {need} fds are needed per "
                         f"process; raising it needs CAP_SYS_RESOURCE (prlimit / ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))


def kv(line, key):
    m = re.search(rf"\b{key}=(\S+)", line)
    return m.group(1) if m else None


def tools_main(argv):
    ap = argparse.ArgumentParser(prog="bench/soak", description="scale mode: one gateway, "
                                 "bench/scale's scale_load and scale_sink")
    ap.add_argument("--connections", type=int, required=True, help="TLS connections in all")
    ap.add_argument("--minutes", type=float, default=10, help="load duration after establishing")
    ap.add_argument("--active", type=int, default=256,
                    help="connections per gateway that carry the OPTIONS (the rest only idle)")
    ap.add_argument("--rate", type=float, default=100, help="OPTIONS per second in all")
    ap.add_argument("--sources", type=int, default=0,
                    help="source addresses per scale_load (default: one per 25,000 "
                    "connections)")
    ap.add_argument("--gateways", type=int, default=1,
                    help="split the connections over this many reusegw processes, one "
                    "scale_load each (where one process's fd limit is too small)")
    ap.add_argument("--threads", type=int, default=2, help="scale_load threads (and connectors)")
    ap.add_argument("--workers", type=int, default=1, help="reusegw runtime.workers")
    ap.add_argument("--sample", type=float, default=5, help="seconds between RSS/fd samples")
    ap.add_argument("--sched", choices=("normal", "rt"), default="normal",
                    help="rt: every bench process SCHED_FIFO 1 (chrt), as bench/ladder")
    ap.add_argument("--out", help="directory for the CSV, configs and logs")
    a = ap.parse_args(argv)
    if not 1 <= a.gateways <= 16:
        ap.error("--gateways: 1..16")
    # Gateway k (and its scale_load) holds shares[k] connections, --active
    # of them carrying the OPTIONS.
    shares = [a.connections // a.gateways + (k < a.connections % a.gateways)
              for k in range(a.gateways)]
    if not 1 <= a.active <= min(min(shares), 1024):
        ap.error("--active: 1..min(connections per gateway, 1024)")
    seconds = a.minutes * 60
    n_sources = a.sources or (max(shares) + 24999) // 25000
    build = ROOT / "build"
    binary = str(pathlib.Path(os.environ.get("REUSEGW_BIN", build / "gateway" / "reusegw")).resolve())
    load_bin = os.environ.get("LOAD_BIN", str(build / "bench" / "scale" / "scale_load"))
    sink_bin = os.environ.get("SINK_BIN", str(build / "bench" / "scale" / "scale_sink"))
    out = pathlib.Path(a.out or tempfile.mkdtemp(prefix="reusegw-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.log"):  # procs append: a reused --out must not show the last run
        old.unlink()
    # The gateway holds every connection plus a mirror per active one.
    raise_nofile(max(shares) + 2 * a.active + 256)
    prefix = ["chrt", "-f", "1"] if a.sched == "rt" else []
    print(f"soak: {a.connections} connections ({a.active * a.gateways} active at {a.rate:g} "
          f"OPTIONS/s, the rest idle) to {a.gateways} gateway(s) from {n_sources} addresses "
          f"each for {seconds:g} s; output in {out}", flush=True)

    pki = h.generate_pki(out / "pki")
    certs = subprocess.run([str(ROOT / "bench" / "scale" / "peer_certs.sh"), str(pki),
                            str(a.active)], check=True, capture_output=True, text=True,
                           timeout=300).stdout.split()
    net = h.unique_net()
    gw_ip, sink_ip = f"{net}.1", f"{net}.2"
    procs = h.Processes(out)
    sink = procs.start("scale_sink", [*prefix, sink_bin, "-m", "serve", "-l", f"{sink_ip}:0",
                                      "-n", str(a.active * a.gateways), "-t", "1", "-d", "86400"])
    sink_port = int(wait_line(sink, r"^ready listen=\S+:(\d+)", time.monotonic() + 20).group(1))
    gws = []
    for k, n_k in enumerate(shares):
        tls = (gw_ip, h.free_port(gw_ip))
        cfg = h.gateway_config(pki, "gw-b", f"b.test:{tls[1]}", tls, (sink_ip, sink_port),
                               (gw_ip, h.free_port(gw_ip)), {"b.test": [tls]},
                               ("127.0.0.1", h.free_port()), level="warn")
        cfg["limits"].update(max_connections=n_k + 2 * a.active + 1000,
                             max_connections_per_peer=n_k,
                             handshake_rate=1000000, max_pending_transactions=1000000)
        cfg["reuse"]["idle_timeout"] = f"{int(seconds) + 3600}s"
        cfg["runtime"]["workers"] = a.workers
        gws.append(h.Gateway(procs, binary, "reusegw" + (f"-{k}" if a.gateways > 1 else ""), cfg))
    errors, rows, result = [], [], {}
    loads = []
    try:
        for gw in gws:
            gw.start(argv_prefix=prefix)
        pids = [gw.proc.pid for gw in gws]
        rss0, fds0 = sum(map(h.rss_kib, pids)), sum(map(h.fds, pids))
        result["load_before"] = load_average()
        for k, (gw, n_k) in enumerate(zip(gws, shares)):
            sources = [f"{net}.{10 + k * n_sources + i}" for i in range(n_sources)]
            loads.append(procs.start("scale_load" + (f"-{k}" if a.gateways > 1 else ""), [
                *prefix, load_bin, "-m", "forward", "-c", f"{gw.tls[0]}:{gw.tls[1]}",
                *[x for s in sources for x in ("-b", s)], "-A", pki / "ca.pem", *certs,
                "-H", "b.test", "-n", a.active, "-I", n_k - a.active, "-t", a.threads, "-W", "1", "-g",
                "-r", a.rate / a.gateways, "-u", "0", "-d", seconds, "-D", "10",
                "-w", f"reusegw={gw.proc.pid}"]))
        # The loads handshake in parallel; the slowest decides.
        took = [float(wait_line(load, r"established \d+ connections .* in (\S+) s:",
                                time.monotonic() + max(300, a.connections / 20)).group(1))
                for load in loads]
        result["establish_s"] = max(took)
        result["handshakes_s"] = round(a.connections / max(took))
        result["load_established"] = load_average()
        for load in loads:  # every load window starts now, with all connections up
            load.send_signal(signal.SIGUSR1)
        start = time.monotonic()
        rss1, fds1 = sum(map(h.rss_kib, pids)), sum(map(h.fds, pids))
        print(f"soak: {a.connections} connections in {result['establish_s']:.3f} s "
              f"({result['handshakes_s']} handshakes/s, load average "
              f"{result['load_established']}); reusegw {rss1} KiB, {fds1} fds", flush=True)
        with open(out / "soak.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_s", "rss_kib", "fds", "load_rss_kib", "loadavg1"])
            # Up to the end of the load window: then scale_load closes.
            while all(ld.alive() for ld in loads) and time.monotonic() - start < seconds:
                dead = [gw.name for gw in gws if not gw.proc.alive()]
                if dead:
                    errors.append(f"{dead} died")
                    break
                try:
                    row = [round(time.monotonic() - start, 1), sum(map(h.rss_kib, pids)),
                           sum(map(h.fds, pids)), sum(h.rss_kib(ld.pid) for ld in loads),
                           load_average().split()[0]]
                except (OSError, ValueError):
                    break  # a scale_load exited between the checks
                w.writerow(row)
                f.flush()
                rows.append(row)
                time.sleep(a.sample)
        lines = []
        for load in loads:
            rc = load.wait(timeout=120)
            line = next((ln for ln in load.log_text().splitlines() if ln.startswith("tool=")), "")
            if rc != 0 or not line:
                errors.append(f"{load.name} exit {rc}: {load.log_text()[-2000:]}")
            lines.append(line)

        def total(key):
            return sum(float(kv(ln, key) or 0) for ln in lines)

        result.update(sent=int(total("sent")), completed=int(total("completed")),
                      errors=int(total("errors")), closed=int(total("closed")),
                      p50=max(float(kv(ln, "p50_us") or 0) for ln in lines),
                      p99=max(float(kv(ln, "p99_us") or 0) for ln in lines),
                      cpu=round(total("cpu_reusegw_s"), 3), load_end=load_average())
        if result["closed"]:
            errors.append(f"the gateway closed {result['closed']} of the connections")
        # Every connection gone: the gateways' fds come back (mirrors may
        # stay until their idle timeout, so allow those).
        slack = (a.active + 16) * a.gateways
        h.wait_until(lambda: sum(map(h.fds, pids)) <= fds0 + slack, timeout=60)
        fds2, rss2 = sum(map(h.fds, pids)), sum(map(h.rss_kib, pids))
        if fds2 > fds0 + slack:
            errors.append(f"reusegw fds {fds2} after the load left (before: {fds0})")
        tools_report(a, rows, result, (rss0, fds0), (rss1, fds1), (rss2, fds2), errors)
    finally:
        for load in loads:
            if load.alive():
                load.stop()
        for gw in gws:
            rc = gw.proc.stop(timeout=300) if gw.proc else None
            if rc != 0:
                errors.append(f"{gw.name} exit code on SIGTERM: {rc} (log: {gw.proc.log_path})")
                print(gw.log()[-4000:])
        sink.stop()
        sline = next((ln for ln in sink.log_text().splitlines() if ln.startswith("tool=")), "")
        if kv(sline, "errors") != "0":
            errors.append(f"scale_sink: {sline or sink.log_text()[-2000:]}")
    if errors:
        print("soak: FAILED\n  " + "\n  ".join(errors))
        return 1
    print("soak: OK")
    return 0


def tools_report(a, rows, r, before, established, after, errors):
    """Prints the scale mode's figures (summed over the gateways and over
    the scale_load processes); too few samples is an error."""
    if len(rows) < 2:
        errors.append("too few samples")
        return
    warm = rows[min(len(rows) - 2, max(1, len(rows) // 5))]
    last = rows[-1]
    per_conn = (established[0] - before[0]) / a.connections
    growth = last[1] - warm[1]
    gws = f"{a.gateways} gateways" if a.gateways > 1 else "reusegw"
    print(f"soak: {gws} RSS {before[0]} KiB before, {established[0]} KiB with "
          f"{a.connections} connections ({per_conn:.2f} KiB each), {warm[1]} KiB after warm-up "
          f"(t={warm[0]} s), {last[1]} KiB at t={last[0]} s, peak {max(x[1] for x in rows)} "
          f"KiB; growth after warm-up {growth:+d} KiB ({100.0 * growth / warm[1]:+.2f}%); "
          f"{after[0]} KiB once the connections closed")
    print(f"soak: {gws} fds {before[1]} before, {established[1]} established, {warm[2]} -> "
          f"{last[2]} over the run, {after[1]} after; scale_load RSS {last[3]} KiB "
          f"({last[3] / a.connections:.1f} KiB per connection)")
    print(f"soak: established in {r['establish_s']:.1f} s, {r['handshakes_s']} handshakes/s; "
          f"OPTIONS sent {r['sent']}, completed {r['completed']}, errors {r['errors']} "
          f"(p50 {r['p50']} us, p99 {r['p99']} us); reusegw CPU {r['cpu']} s; load average "
          f"{r['load_before']} before, {r['load_established']} established, {r['load_end']} "
          f"at the end")
    if last[2] > warm[2] + 16 * a.gateways:
        errors.append(f"reusegw fds grew from {warm[2]} to {last[2]}")


if __name__ == "__main__":
    sys.exit(main())
