"""The relay's hot path allocates nothing (issue 14): the real reusegw
relays between scale_load (mutual-TLS peers, bench/scale) and scale_sink
(the legacy proxy's side, plain TCP) over loopback, with alloc_count.c
preloaded; after a warm-up, over at least 100,000 relayed messages on
established connections, no code of reusegw allocates or frees. Both flows
of bench/scale: forward (peers' OPTIONS to the legacy proxy, answers back)
and backward (the legacy proxy's OPTIONS down the connections the peers
opened and aliased, RFC 5923 reuse), the latter also with two workers,
where requests are handed between workers.

Three allocations of the window are allowed, each exactly accounted:
- BoringSSL's record buffer: this BoringSSL mallocs one for each record it
  reads or writes and frees it when the record is done, and offers no
  setting to keep it (tls/conn.c). Its calls come from libssl itself, so
  they are told apart by caller; they are bounded by one per relayed message
  (every message here crosses TLS once, in one record).
- the metrics scrapes that measure the window run inside it: the admin
  endpoint builds each answer in two buffers it allocates and frees
  (gateway/admin/admin.c answer()), SCRAPE_ALLOCS of each per scrape.
- the buffer pool growing past its high-water mark (core/buf.c
  buf_pool_get): a load peak inside the window may need a few more blocks
  than the warm-up did. Those are kept for good, never freed per message,
  and bounded by the pool, not by the messages: told apart by caller
  (addr2line on the reported call site), at most POOL_GROWTH_MAX.
Anything else is a failure. A sanitizer build's hooks cannot tell callers
apart (ALLOC_COUNT_HOOKS=1): there the whole count must stay within the
two bounds together.

The counts are read at the window's edges through alloc_count's FIFO, by
its own thread, which never allocates."""
import os
import pathlib
import re
import signal
import subprocess
import time
import urllib.request

import pytest

import reusegw_test as h

WARMUP_MESSAGES = 20_000
WINDOW_MESSAGES = 100_000
CONNS = 8  # peers' TLS connections
LEGACY_CONNS = 2  # the legacy proxy's connections, backward
WINDOW = 8  # OPTIONS in flight per connection
LOAD_SECONDS = 600  # scale_load's own bound; the test stops it much sooner
WAIT_SECONDS = 300
SCRAPE_ALLOCS = 2
SCRAPE_SETTLE_SECONDS = 0.5
POOL_GROWTH_MAX = 64  # blocks of 16 KiB: 1 MiB of new high-water mark


def tool(name):
    path = pathlib.Path(os.environ.get("REUSEGW_BUILD_DIR", "build")) / "bench" / "scale" / name
    assert path.exists(), f"{path} not built"
    return path


def peer_cert_args(pki):
    """bench/scale/peer_certs.sh's certificates for CONNS peers, made once
    per PKI: certificate g proves p<16g>..p<16g+15>.scale.test."""
    script = h.SOURCE_DIR / "bench" / "scale" / "peer_certs.sh"
    out = subprocess.run([script, pki, str(CONNS)], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return out.split()


class Scrapes:
    """reusegw_messages_total, summed over every direction and kind, read
    from /metrics; counts the scrapes made."""

    def __init__(self, admin):
        self.admin = admin
        self.made = 0

    def __call__(self):
        self.made += 1
        n = messages_relayed(self.admin)
        # reusegw frees the answer once its connection is done: let that
        # happen on this side of a window's edge.
        time.sleep(SCRAPE_SETTLE_SECONDS)
        return n


def messages_relayed(admin):
    with urllib.request.urlopen(f"http://{h.hostport(admin)}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(int(float(m.group(1)))
               for m in re.finditer(r"^reusegw_messages_total\{[^}]*\} (\S+)$", text, re.M))


def pool_growth(sites, binary):
    """Allocations among the reported call sites |sites| ((site, count)
    pairs) made by the buffer pool adding a block (buf_pool_get)."""
    binary = pathlib.Path(binary)
    ours = [(site.split("+", 1)[1], int(n)) for site, n in sites
            if site.split("+", 1)[0] == binary.name]
    if not ours:
        return 0
    out = subprocess.run(["addr2line", "-f", "-e", binary, *(off for off, _ in ours)],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    functions = out.splitlines()[0::2]  # addr2line -f: function, then file:line
    return sum(n for (_, n), fn in zip(ours, functions) if fn == "buf_pool_get")


def wait_messages(scrape, target, alive):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        n = scrape()
        if n >= target:
            return n
        assert alive(), "a process of the relay exited"
        assert time.monotonic() < deadline, f"only {n} of {target} messages relayed"
        time.sleep(0.5)


class Counts:
    """alloc_count's reports: write a label to the FIFO, read its lines."""

    def __init__(self, directory):
        self.fifo = directory / "alloc.fifo"
        self.out = directory / "alloc.counts"
        os.mkfifo(self.fifo)

    def env(self, lib):
        return dict(os.environ, LD_PRELOAD=str(lib), ALLOC_COUNT_FIFO=str(self.fifo),
                    ALLOC_COUNT_OUT=str(self.out))

    def report(self, label):
        with open(self.fifo, "w") as f:
            f.write(label + "\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self.out.read_text() if self.out.exists() else ""
            if re.search(rf"^{label} end$", text, re.M):
                total = re.search(rf"^{label} allocs=(\d+) frees=(\d+)$", text, re.M)
                modules = {name: (int(a), int(f)) for name, a, f in re.findall(
                    rf"^{label} module=(\S+) allocs=(\d+) frees=(\d+)$", text, re.M)}
                sites = re.findall(rf"^{label} site=(\S+) allocs=(\d+)$", text, re.M)
                return int(total.group(1)), int(total.group(2)), modules, sites
            time.sleep(0.05)
        raise AssertionError(f"alloc_count did not report {label}")


@pytest.mark.parametrize("direction,workers",
                         [("forward", 1), ("backward", 1), ("backward", 2)])
def test_relaying_allocates_nothing(direction, workers, procs, reusegw_bin, pki, tmp_path):
    lib = os.environ.get("ALLOC_COUNT_LIB")
    assert lib and pathlib.Path(lib).exists(), "ALLOC_COUNT_LIB is not set: run through ctest"
    net = h.unique_net()
    gw_ip, sink_ip, load_ip = f"{net}.1", f"{net}.2", f"{net}.3"

    sink = procs.start("scale_sink", [tool("scale_sink"), "-m", "serve", "-l", f"{sink_ip}:0",
                                      "-t", "1", "-d", str(LOAD_SECONDS)])
    h.wait_until(lambda: "ready listen=" in sink.log_text(), timeout=30)
    sink_port = int(re.search(r"ready listen=\S+:(\d+)", sink.log_text()).group(1))

    tls = (gw_ip, h.free_port(gw_ip))
    legacy = (gw_ip, h.free_port(gw_ip))
    admin = (gw_ip, h.free_port(gw_ip))
    # The peers' aliases: p<i>.scale.test is connection i's Via sent-by
    # (bench/scale/names.h), so these targets are never dialled.
    routes = {f"p{i}.scale.test": [(load_ip, 20000 + i)] for i in range(CONNS)}
    cfg = h.gateway_config(pki, "gw-a", "a.test:5061", tls, (sink_ip, sink_port), legacy,
                           routes, admin, level="warn")
    cfg["limits"]["max_pending_transactions"] = 100_000
    cfg["runtime"]["workers"] = workers
    # Transactions cut off when the tools stop are never answered: do not
    # wait the default 20 s for them at SIGTERM.
    cfg["runtime"]["drain_timeout"] = "2s"
    gw = h.Gateway(procs, reusegw_bin, "reusegw", cfg)
    counts = Counts(tmp_path)
    gw.proc = procs.start("reusegw", [reusegw_bin, "-c", gw.write_config()],
                          env=counts.env(lib))
    for ep in (tls, legacy, admin):
        assert h.wait_connectable(ep, time.monotonic() + h.START_TIMEOUT, gw.proc.alive), gw.log()

    peers = [tool("scale_load"), "-c", h.hostport(tls), "-b", load_ip, "-A", pki / "ca.pem",
             *peer_cert_args(pki), "-H", "a.test", "-n", CONNS, "-t", "1", "-u", "0",
             "-d", LOAD_SECONDS]
    if direction == "forward":
        load = procs.start("scale_load", [*peers, "-m", "forward", "-W", WINDOW])
        tools = [load]
    else:
        answer = procs.start("scale_load", [*peers, "-m", "answer", "-W", "1"])
        h.wait_until(lambda: "ready" in answer.log_text(), timeout=60)
        load = procs.start("scale_sink_drive", [
            tool("scale_sink"), "-m", "drive", "-c", h.hostport(legacy), "-N", CONNS,
            "-n", LEGACY_CONNS, "-t", "1", "-W", WINDOW, "-u", "0", "-d", LOAD_SECONDS])
        tools = [answer, load]
    alive = lambda: gw.proc.alive() and sink.alive() and all(t.alive() for t in tools)

    scrape = Scrapes(admin)
    wait_messages(scrape, WARMUP_MESSAGES, alive)
    before = scrape()  # outside the window: at most after - before messages in it
    counts.report("open")
    scrape.made = 0
    first = scrape()
    last = wait_messages(scrape, first + WINDOW_MESSAGES, alive)
    _, _, modules, sites = counts.report("close")  # by module: the window's own calls
    made = scrape.made
    after = scrape()
    for t in reversed(tools):
        t.stop(signal.SIGTERM)

    scrapes = SCRAPE_ALLOCS * made
    boringssl = {m: c for m, c in modules.items() if m.startswith("libssl.so")}
    ssl_allocs = sum(a for a, _ in boringssl.values())
    ssl_frees = sum(f for _, f in boringssl.values())
    allocs = sum(a for a, _ in modules.values())
    frees = sum(f for _, f in modules.values())
    growth = pool_growth(sites, reusegw_bin)
    report = (f"{last - first} to {after - before} messages relayed in the window: "
              f"{allocs} allocations, {frees} frees; BoringSSL records {ssl_allocs}/{ssl_frees}, "
              f"{made} scrapes allow {scrapes}, buffer pool growth {growth}; "
              f"by module {modules}; busiest callers {sites}")
    print(report)
    assert last - first >= WINDOW_MESSAGES
    if os.environ.get("ALLOC_COUNT_HOOKS") == "1":
        bound = after - before + scrapes + POOL_GROWTH_MAX
        assert allocs <= bound and frees <= after - before + scrapes, report
    else:
        assert growth <= POOL_GROWTH_MAX, report
        assert (allocs - ssl_allocs - growth, frees - ssl_frees) == (scrapes, scrapes), report
        assert ssl_allocs <= after - before and ssl_frees <= after - before, report
    assert gw.stop() == 0
