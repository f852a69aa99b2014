#!/usr/bin/python3
"""bench/relay/helper.py -- measurement helpers for run.sh (stdlib only).

Subcommands
  cpuwatch SECONDS --group NAME ROOTPID[,ROOTPID...] ...
      Sleep SECONDS and print, per group, the CPU time its processes used in
      that window (all descendants of the root PIDs, all threads), plus the
      busy share of every CPU.  Process CPU comes from
      /proc/PID/task/TID/schedstat (sum_exec_runtime, nanoseconds): this VM's
      tick-based utime/stime (and so pidstat/top) under-count short bursts.
      CPU busy = 1 - idle/wall from /proc/stat (idle is nanosecond-based).
      Output: one line of key=value pairs, e.g.
        wall=17.00 cpu0=93.1 cpu1=40.2 relay=38.9 load=91.7 other=2.1
      (percent of one CPU; other = busy time of all CPUs not used by the
      groups: other programs, kernel threads -- a check for interference)
  sippcsv FILE
      Print the last row of a sipp -trace_stat CSV as key=value pairs:
        elapsed_s created ok failed rate target rtt_ms
  mem ROOTPID[,ROOTPID...]
      Print pss=BYTES rss=BYTES nproc=N summed over the roots and descendants
      (smaps_rollup; PSS splits shared pages, so shared memory is counted once).
  sink HOST PORT READYFILE
      Plain TCP listener that accepts and holds every connection (stands in
      for the legacy proxy during the idle-connection memory test).
  tlsidle HOST PORT CA CERT KEY SNI WARM N DIR
      Open WARM, then N more, idle mutual-TLS connections, synchronised with
      run.sh through files in DIR: writes DIR/warm.ready, waits for DIR/go,
      opens N, writes DIR/all.ready, waits for DIR/release, writes DIR/alive
      (how many the server still holds), closes all.  A failed handshake is
      counted and skipped (more than 50: give up).
  latency SRCIP HOST PORT N
      Ping-pong: N OPTIONS (the uac.xml request) one at a time over one TCP
      connection from SRCIP to HOST:PORT, each sent when the previous 200
      arrived; prints p50_us p99_us mean_us of the round trips (perf_counter,
      after 200 warm-up round trips).  The probe's own cost is the same for
      every topology: run.sh reports topology minus direct.
"""
import os
import re
import socket
import ssl
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def descendants(roots):
    """roots and all their descendants (by ppid)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def runtime_ns(pids):
    total = 0
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def cpu_idle():
    idle = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = line.split()
                idle[v[0]] = int(v[4]) + int(v[5])  # idle + iowait
    return idle


def cmd_cpuwatch(args):
    secs = float(args[0])
    groups = []
    i = 1
    while i < len(args):
        if args[i] != "--group":
            sys.exit("cpuwatch: expected --group NAME PIDS")
        groups.append((args[i + 1], [int(x) for x in args[i + 2].split(",") if x]))
        i += 3
    pids = {n: descendants(r) for n, r in groups}
    t0, i0 = time.monotonic(), cpu_idle()
    r0 = {n: runtime_ns(p) for n, p in pids.items()}
    time.sleep(secs)
    # re-expand: a process that forked meanwhile only adds its own time
    r1 = {n: runtime_ns(p) for n, p in pids.items()}
    t1, i1 = time.monotonic(), cpu_idle()
    wall = t1 - t0
    out = [f"wall={wall:.2f}"]
    total = 0.0
    for c in sorted(i0):
        busy = 100 * max(0.0, min(1.0, 1.0 - (i1[c] - i0[c]) / HZ / wall))
        total += busy
        out.append(f"{c}={busy:.1f}")
    ours = 0.0
    for n, _ in groups:
        v = 100 * (r1[n] - r0[n]) / 1e9 / wall
        ours += v
        out.append(f"{n}={v:.1f}")
    # everything else that ran on any CPU (other tools, kernel threads)
    out.append(f"other={max(0.0, total - ours):.1f}")
    print(" ".join(out))


def hms_to_s(v):
    # sipp writes HH:MM:SS or HH:MM:SS:uuuuuu
    parts = v.split(":")
    s = int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
    if len(parts) > 3:
        s += int(parts[3]) / 1e6
    return s


def cmd_sippcsv(args):
    with open(args[0]) as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    head = lines[0].split(";")
    rows = [dict(zip(head, ln.split(";"))) for ln in lines[1:]]
    last = rows[-1]
    # ElapsedTime(C) has 1 s resolution: use Start/CurrentTime instead.  The
    # end is the last periodic row in which calls ended: sipp writes a final
    # empty row some 0.1-0.3 s later while it shuts down.
    t_start = float(last["StartTime"].split("\t")[2])
    t_end = t_start
    for r in rows:
        if int(r["SuccessfulCall(P)"]) + int(r["FailedCall(P)"]) > 0:
            t_end = float(r["CurrentTime"].split("\t")[2])
    rtt = last.get("ResponseTime1(C)", "00:00:00:000000")
    print(f"elapsed_s={t_end - t_start:.3f} created={last['TotalCallCreated']} "
          f"ok={last['SuccessfulCall(C)']} failed={last['FailedCall(C)']} "
          f"rate={last['CallRate(C)']} target={last['TargetRate']} "
          f"rtt_ms={hms_to_s(rtt) * 1000:.3f}")


def cmd_mem(args):
    roots = [int(x) for x in args[0].split(",") if x]
    pss = rss = n = 0
    for p in descendants(roots):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
            n += 1
        except OSError:
            pass
    print(f"pss={pss} rss={rss} nproc={n}")


def cmd_sink(args):
    host, port, ready = args[0], int(args[1]), args[2]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4096)
    open(ready, "w").close()
    held = []
    while True:
        c, _ = ls.accept()
        held.append(c)


def wait_file(path, timeout=600):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            sys.exit(f"tlsidle: timed out waiting for {path}")
        time.sleep(0.1)


def cmd_tlsidle(args):
    host, port, ca, cert, key, sni = args[0], int(args[1]), args[2], args[3], args[4], args[5]
    warm, n, d = int(args[6]), int(args[7]), args[8]
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.load_cert_chain(cert, key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    conns = []
    failed = [0]

    def open_some(k):
        for _ in range(k):
            try:
                s = socket.create_connection((host, port), timeout=10)
                t = ctx.wrap_socket(s, server_hostname=sni)
            except (OSError, ssl.SSLError) as e:
                failed[0] += 1
                print(f"tlsidle: connection {len(conns) + failed[0]} failed: {e}", file=sys.stderr)
                if failed[0] > 50:
                    sys.exit("tlsidle: more than 50 connections failed, giving up")
                time.sleep(0.05)
                continue
            conns.append(t)
            if len(conns) == 1:
                print(f"tlsidle: first connection {t.version()} {t.cipher()[0]}", file=sys.stderr)

    open_some(warm)
    open(os.path.join(d, "warm.ready"), "w").close()
    wait_file(os.path.join(d, "go"))
    t0 = time.monotonic()
    open_some(n)
    dt = time.monotonic() - t0
    with open(os.path.join(d, "all.ready"), "w") as f:
        f.write(f"{len(conns)} open in {dt:.2f} s, {failed[0]} failed\n")
    wait_file(os.path.join(d, "release"))
    # check the server still holds them: a closed connection reads EOF
    alive = 0
    for t in conns:
        t.setblocking(False)
        try:
            alive += 1 if t.recv(1) != b"" else 0
        except (ssl.SSLWantReadError, BlockingIOError):
            alive += 1
        except (OSError, ssl.SSLError):
            pass
    with open(os.path.join(d, "alive"), "w") as f:
        f.write(f"{alive}\n")
    for t in conns:
        try:
            t.close()
        except OSError:
            pass


def latency_request(src, port, i):
    return (f"OPTIONS sip:legacy-proxy@relay-b.test SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {src}:{port};branch=z9hG4bK-lat-{os.getpid()}-{i};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: \"latency\" <sip:probe@client.example.test>;tag=lat{i}\r\n"
            f"To: <sip:legacy-proxy@proxy.example.test>\r\n"
            f"Call-ID: lat-{os.getpid()}-{i}@{src}\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"Contact: <sip:probe@{src}:{port};transport=tcp>\r\n"
            f"User-Agent: relay-bench latency\r\n"
            f"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO, UPDATE, REFER, NOTIFY\r\n"
            f"Supported: replaces, timer, path\r\n"
            f"Accept: application/sdp\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def read_response(s, buf):
    """Reads one whole SIP message (Content-Length framing) from s; returns
    (message, rest of buf)."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", buf[:end])
            total = end + 4 + (int(m.group(1)) if m else 0)
            if len(buf) >= total:
                return buf[:total], buf[total:]
        data = s.recv(65536)
        if not data:
            sys.exit("latency: connection closed")
        buf += data


def cmd_latency(args):
    src, host, port, n = args[0], args[1], int(args[2]), int(args[3])
    s = socket.create_connection((host, port), timeout=10, source_address=(src, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sport = s.getsockname()[1]
    buf = b""
    samples = []
    for i in range(200 + n):
        req = latency_request(src, sport, i)
        t0 = time.perf_counter_ns()
        s.sendall(req)
        msg, buf = read_response(s, buf)
        t1 = time.perf_counter_ns()
        if not msg.startswith(b"SIP/2.0 200"):
            sys.exit(f"latency: unexpected answer {msg[:40]!r}")
        if i >= 200:
            samples.append((t1 - t0) / 1000)
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, (len(samples) * 99) // 100)]
    print(f"p50_us={p50:.1f} p99_us={p99:.1f} mean_us={sum(samples) / len(samples):.1f}")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"cpuwatch": cmd_cpuwatch, "sippcsv": cmd_sippcsv, "mem": cmd_mem,
     "sink": cmd_sink, "tlsidle": cmd_tlsidle, "latency": cmd_latency}[cmd](args)


if __name__ == "__main__":
    main()
