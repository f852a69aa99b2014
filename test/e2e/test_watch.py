"""tls.watch (issue 17; docs/configuration.md `tls.watch`,
docs/deploying.md "Certificate rotation"): gateway B reloads its
certificate and key when their files change, through the SIGHUP reload
path, for every way rotation tools replace files: the Kubernetes atomic
writer's `..data` symlink swap (cert-manager Secrets), rename-into-place
(editors, ACME clients), an in-place write, and a key written a second
before its certificate. A pair that does not match is never loaded: the
reload is refused and counted, and B keeps presenting the old certificate
until the matching one arrives. Under a sipp call load (200 calls, three
rotations) no call fails, and each new handshake gets the new certificate
(its serial, read with openssl s_client). Certificates are re-issued for
b.test under the test CA (reusegw_test.reissue)."""
import json
import os
import shutil
import time

import reusegw_test as h

WATCH_OK = 'reusegw_reloads_total{trigger="watch",result="ok"}'
WATCH_FAILED = 'reusegw_reloads_total{trigger="watch",result="failed"}'


class Kubernetes:
    """A Secret volume as the kubelet's atomic writer lays it out: the data
    in a timestamped directory, `..data` linking to it, and each file a
    link through `..data`. rotate() writes a new directory, points a new
    link at it and renames that over `..data`, then removes the old one."""

    def __init__(self, root, chain, key):
        self.root = root
        self.n = 0
        self.current = self._write(chain, key)
        os.symlink(self.current.name, root / "..data")
        for name in ("tls.crt", "tls.key"):
            os.symlink(f"..data/{name}", root / name)

    def _write(self, chain, key):
        self.n += 1
        d = self.root / f"..2026_12_03_10_00_{self.n:02d}.{os.getpid()}"
        d.mkdir()
        (d / "tls.crt").write_text(chain)
        (d / "tls.key").write_text(key)
        return d

    def rotate(self, chain, key):
        old, self.current = self.current, self._write(chain, key)
        os.symlink(self.current.name, self.root / "..data_tmp")
        os.rename(self.root / "..data_tmp", self.root / "..data")
        shutil.rmtree(old)


class Plain:
    """tls.crt and tls.key as plain files; rotate() is `how`: "rename"
    (write a temporary file beside it, rename it into place, key first),
    "inplace" (truncate and rewrite each), or "key_first" (the key, then a
    second later the certificate, both in place)."""

    def __init__(self, root, chain, key, how):
        self.root = root
        self.how = how
        (root / "tls.crt").write_text(chain)
        (root / "tls.key").write_text(key)

    def put(self, name, text):
        if self.how == "rename":
            tmp = self.root / f".{name}.tmp"
            tmp.write_text(text)
            os.rename(tmp, self.root / name)
        else:
            with open(self.root / name, "w") as f:
                f.write(text)

    def rotate(self, chain, key):
        self.put("tls.key", key)
        if self.how == "key_first":
            time.sleep(1.0)  # well past the 300 ms quiet window
        self.put("tls.crt", chain)


def watched_b(stage, tmp_path, layout, forward=None):
    """Gateway B alone with tls.watch on the files of |layout|(root, chain,
    key): a Pair without A. Returns (pair, files, serial of the first
    certificate)."""
    pki = stage.pki
    chain, key, serial = h.reissue(pki, "gw-b")
    root = tmp_path / "secret"
    root.mkdir()
    files = layout(root, chain, key)

    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["certificate"] = str(root / "tls.crt")
            cfg["tls"]["private_key"] = str(root / "tls.key")
            cfg["tls"]["watch"] = True
    lg = stage.legacy()
    pair = stage.pair(lg.ep, forward or lg.ep, edit, with_a=False)
    assert h.served_serial(pair.b.tls, pki, "b.test") == serial
    return pair, files, serial


def presented(pair, pki):
    """(serial of a new handshake, serial /certificates shows)."""
    status, body = pair.b.http_get("/certificates")
    assert status == 200, body
    shown = json.loads(body)["certificates"][0]["serial"]
    return h.served_serial(pair.b.tls, pki, "b.test"), shown


def rotated(pair, pki, files, reloads=1):
    """Rotates to a new certificate and waits for the |reloads|-th watch
    reload; returns the new serial once B presents it."""
    chain, key, serial = h.reissue(pki, "gw-b")
    files.rotate(chain, key)
    assert h.wait_until(lambda: pair.b.metric(WATCH_OK) >= reloads), pair.b.log()
    assert presented(pair, pki) == (serial, serial)
    return serial


def test_kubernetes_data_symlink_swap(stage, tmp_path):
    pair, files, _ = watched_b(stage, tmp_path, Kubernetes)
    serial = rotated(pair, stage.pki, files)
    line = pair.b.wait_log("configuration reloaded")
    assert "trigger=watch" in line and f"certificate_serial={serial}" in line, line
    # The swap is many events, but one change: one reload, and still one
    # after the quiet window; the new target directory is watched too.
    time.sleep(1.0)
    assert pair.b.metric(WATCH_OK) == 1
    assert pair.b.metric(WATCH_FAILED) == 0
    rotated(pair, stage.pki, files, reloads=2)


def test_rename_into_place(stage, tmp_path):
    pair, files, _ = watched_b(stage, tmp_path, lambda r, c, k: Plain(r, c, k, "rename"))
    rotated(pair, stage.pki, files)
    time.sleep(1.0)
    assert pair.b.metric(WATCH_OK) == 1
    assert pair.b.metric(WATCH_FAILED) == 0


def test_in_place_write(stage, tmp_path):
    pair, files, _ = watched_b(stage, tmp_path, lambda r, c, k: Plain(r, c, k, "inplace"))
    rotated(pair, stage.pki, files)
    assert pair.b.metric(WATCH_FAILED) == 0


def test_key_before_certificate_keeps_the_old_pair_until_both_match(stage, tmp_path):
    """The key alone would be a mismatched pair: that reload is refused,
    logged and counted, B still presents the old certificate, and the
    certificate written a second later completes the rotation."""
    pki = stage.pki
    pair, files, old = watched_b(stage, tmp_path, lambda r, c, k: Plain(r, c, k, "key_first"))
    chain, key, serial = h.reissue(pki, "gw-b")
    files.put("tls.key", key)
    assert h.wait_until(lambda: pair.b.metric(WATCH_FAILED) == 1), pair.b.log()
    line = pair.b.wait_log("cannot build the TLS context")
    assert "key does not match" in line, line
    pair.b.wait_log("reload refused: keeping the running TLS configuration.*trigger=watch")
    assert presented(pair, pki) == (old, old)
    files.put("tls.crt", chain)
    assert h.wait_until(lambda: pair.b.metric(WATCH_OK) == 1), pair.b.log()
    assert presented(pair, pki) == (serial, serial)


def test_a_certificate_whose_key_never_comes_is_kept_out(stage, tmp_path):
    pki = stage.pki
    pair, files, old = watched_b(stage, tmp_path, Kubernetes)
    chain, _, _ = h.reissue(pki, "gw-b")
    files.rotate(chain, (files.current / "tls.key").read_text())  # new cert, old key
    assert h.wait_until(lambda: pair.b.metric(WATCH_FAILED) == 1), pair.b.log()
    time.sleep(0.5)
    assert presented(pair, pki) == (old, old)
    assert pair.b.metric(WATCH_OK) == 0


def test_rotation_under_call_load_fails_no_call(stage, tmp_path):
    """200 sipp calls (INVITE, 200, ACK, BYE) from the legacy proxy behind
    A to the one behind B, at 20 calls/s, while B's Secret rotates three
    times: every call succeeds, and each rotation is then what a new
    handshake gets."""
    pki, procs = stage.pki, stage.procs
    uas_ep = ("127.0.0.1", h.free_port())
    uas = h.Sipp(procs, "uas-b", "invite_uas.xml", uas_ep, extra=["-m", "200"])
    h.wait_listening(uas_ep, uas.proc)
    pair, files, _ = watched_b(stage, tmp_path, Kubernetes, forward=uas_ep)
    pair.a.start()
    uac = h.Sipp(procs, "uac-a", "invite_uac.xml", ("127.0.0.1", h.free_port()),
                 pair.a.legacy_listen, extra=["-m", "200", "-r", "20", "-key", "dest", "b.test"])
    serials = []
    for n in range(1, 4):
        time.sleep(2.0)
        serials.append(rotated(pair, pki, files, reloads=n))
    assert uac.wait(timeout=120) == 0, uac.messages()[-4000:]
    assert uac.stat("Successful call") == 200
    assert uac.stat("Failed call") == 0
    assert uas.wait(timeout=60) == 0
    assert pair.b.metric(WATCH_OK) == 3 and pair.b.metric(WATCH_FAILED) == 0
    assert len(set(serials)) == 3
