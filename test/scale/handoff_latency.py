#!/usr/bin/python3
"""test/scale/handoff_latency.py [N]: what a hand-off between workers adds
to a backward request's round trip. A probe, not a test (ctest does not run
it): prints p50/p99.

Gateway B runs with runtime.workers: 2; a Python TLS peer (gw-a) aliases
its connection and answers every request at once from a thread. Legacy
connections are sorted by whether their request crossed workers
(reusegw_handoffs_total moved); then N OPTIONS ping-pongs on one connection
of each kind, alternating, so the machine's other load hits both alike.
Round trips include Python on both ends: compare the two, not the values.

Run from the source tree as PYTHONPATH=test python3 test/scale/handoff_latency.py.
Environment: REUSEGW_BIN (default build/gateway/reusegw),
REUSEGW_TEST_IO_BACKEND (default auto)."""
import os
import pathlib
import sys
import tempfile
import threading
import time

import reusegw_test as h

HANDOFFS = 'reusegw_handoffs_total{kind="request"}'


def answer_forever(peer, stop):
    while not stop.is_set():
        try:
            req = peer.recv(timeout=1)
        except AssertionError:
            continue
        peer.send(h.response(req))


def round_trip(conn):
    t0 = time.perf_counter_ns()
    conn.send(h.request("OPTIONS", "sip:svc@a.test", h.LEGACY_VIA))
    assert conn.recv().status == 200
    return (time.perf_counter_ns() - t0) / 1000.0


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    binary = os.environ.get("REUSEGW_BIN", str(h.SOURCE_DIR / "build/gateway/reusegw"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        pki = h.generate_pki(tmp / "pki")
        procs = h.Processes(tmp)
        legacy = h.LegacyServer()

        def edit(name, cfg):
            cfg["runtime"]["workers"] = 2
            cfg["log"]["level"] = "warn"

        pair = h.Pair(procs, binary, pki, h.dead_endpoint(), legacy.ep, edit).start(with_a=False)
        stop = threading.Event()
        try:
            peer = h.peer_as_a(pair, pki, "gw-a", f"a.test:{pair.a.tls[1]}")
            threading.Thread(target=answer_forever, args=(peer, stop), daemon=True).start()
            kinds = {}
            for _ in range(32):
                c = h.tcp_connect(pair.b.legacy_listen)
                before = pair.b.metrics().get(HANDOFFS, 0)
                round_trip(c)
                kinds.setdefault(pair.b.metrics().get(HANDOFFS, 0) > before, c)
                if len(kinds) == 2:
                    break
            assert len(kinds) == 2, "all legacy connections landed on one worker"
            times = {False: [], True: []}
            for _ in range(n):
                for crossed, c in kinds.items():
                    times[crossed].append(round_trip(c))
            for crossed in (False, True):
                t = times[crossed]
                print(f"{'crossing workers' if crossed else 'same worker':16s} n={len(t)} "
                      f"p50={percentile(t, 50):.0f}us p99={percentile(t, 99):.0f}us")
            print(f"added by the hand-off: p50 "
                  f"{percentile(times[True], 50) - percentile(times[False], 50):+.0f}us, p99 "
                  f"{percentile(times[True], 99) - percentile(times[False], 99):+.0f}us")
        finally:
            stop.set()
            pair.stop()
            legacy.close()


if __name__ == "__main__":
    main()
