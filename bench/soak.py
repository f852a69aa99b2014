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
temporary directory)."""
import csv
import os
import pathlib
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


if __name__ == "__main__":
    sys.exit(main())
