"""io_uring refused for real, as under Docker's or containerd's default seccomp
profile: gateway A runs under test/scale/no_uring (a seccomp filter that makes
io_uring_setup fail with EPERM), gateway B runs normally. With
runtime.io_backend auto, A says once why it uses epoll and still relays a
transaction both ways over mutually authenticated TLS; with io_backend
io_uring it refuses to start instead of degrading silently."""
import os
import subprocess

import reusegw_test as h

NO_URING = os.environ["REUSEGW_NO_URING"]
FALLBACK_LINE = 'msg="io_uring unavailable (Operation not permitted), using epoll"'


def test_auto_falls_back_to_epoll_and_relays(stage):
    legacy_a, legacy_b = stage.legacy(answer=h.silent), stage.legacy(answer=h.silent)

    def edit(name, cfg):
        cfg["runtime"]["io_backend"] = "auto"

    p = stage.pair(legacy_a.ep, legacy_b.ep, edit, start=False)
    p.b.start()
    p.a.start(argv_prefix=[NO_URING])
    egress = stage.connect(p.a.legacy_listen)
    branch = "z9hG4bK-fallback-1"
    egress.send(h.request("OPTIONS", "sip:b.test", h.LEGACY_VIA, branch=branch))
    conn_b, got = legacy_b.next(timeout=20)
    assert got.get("via") == f"SIP/2.0/TLS a.test:{p.a.tls[1]};branch={branch};alias"
    conn_b.send(h.response(got))
    resp = egress.recv(timeout=20)
    assert resp.first_line == "SIP/2.0 200 OK"
    assert resp.get("via") == f"{h.LEGACY_VIA};branch={branch}"
    assert p.stop() == [0, 0]
    log_a, log_b = p.a.log(), p.b.log()
    assert log_a.count(FALLBACK_LINE) == 1
    assert "io_backend=epoll" in log_a
    # The control: the same binary without the filter keeps io_uring.
    assert "io_uring unavailable" not in log_b
    assert "io_backend=io_uring" in log_b


def test_explicit_io_uring_refuses_to_start(stage, reusegw_bin, pki):
    ip = f"{h.unique_net()}.2"
    tls = (ip, h.free_port(ip))
    cfg = h.gateway_config(pki, "gw-a", f"a.test:{tls[1]}", tls, h.dead_endpoint(),
                           (ip, h.free_port(ip)), {"b.test": [(ip, 5061)]},
                           ("127.0.0.1", h.free_port()))
    cfg["runtime"]["io_backend"] = "io_uring"
    path = stage.procs.log_dir / "forced.yaml"
    path.write_text(h.to_yaml(cfg) + "\n")
    run = subprocess.run([NO_URING, reusegw_bin, "-c", path], capture_output=True, timeout=60)
    err = run.stderr.decode(errors="replace")
    assert run.returncode != 0, err
    assert "runtime.io_backend is io_uring but io_uring is unavailable" in err
    assert 'reason="Operation not permitted"' in err
    assert "reusegw started" not in err
