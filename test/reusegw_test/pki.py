"""The throwaway PKI of test/certs/gen.sh, CRLs of its CAs (make_crl, with
`openssl ca`), and TLS contexts on it.

Borrows gen.sh; owns only the files it is told to write."""
import os
import pathlib
import ssl
import subprocess
import tempfile

__all__ = ["SOURCE_DIR", "TEST_DIR", "generate_pki", "make_crl", "reissue", "tls_context",
           "tls_server_context"]

TEST_DIR = pathlib.Path(__file__).resolve().parents[1]
SOURCE_DIR = pathlib.Path(os.environ.get("REUSEGW_SOURCE_DIR", TEST_DIR.parent))


def generate_pki(out):
    """Runs test/certs/gen.sh into out and returns out as a Path."""
    out = pathlib.Path(out)
    subprocess.run(["bash", str(SOURCE_DIR / "test" / "certs" / "gen.sh"), str(out)],
                   check=True, capture_output=True, timeout=300)
    return out


def make_crl(pki, out, issuer="ca", revoke=(), expired=False):
    """Writes to out (and returns it, a Path) a PEM CRL of gen.sh's CA issuer
    ("ca" or "inter-ca") that revokes the certificates of the gen.sh files
    named in revoke ("gw-a", "inter-ca"...): `openssl ca -revoke` for each
    into a fresh CA database, then `openssl ca -gencrl`. Its nextUpdate is a
    week away, or, when expired, it ran from 2020 to 2021."""
    out = pathlib.Path(out)
    with tempfile.TemporaryDirectory() as work:
        db = pathlib.Path(work)
        (db / "index.txt").write_text("")
        (db / "crlnumber").write_text("1000\n")
        (db / "ca.cnf").write_text(
            f"[ca]\ndefault_ca = d\n[d]\ndatabase = {db}/index.txt\ncrlnumber = {db}/crlnumber\n"
            "default_md = sha256\ndefault_crl_days = 7\nunique_subject = no\n")
        ca = ["openssl", "ca", "-batch", "-config", str(db / "ca.cnf"),
              "-cert", str(pki / f"{issuer}.pem"), "-keyfile", str(pki / f"{issuer}.key")]
        for name in revoke:
            subprocess.run(ca + ["-revoke", str(pki / f"{name}.pem")], check=True,
                           capture_output=True, timeout=60)
        dates = ["-crl_lastupdate", "20200101000000Z", "-crl_nextupdate",
                 "20210101000000Z"] if expired else []
        subprocess.run(ca + ["-gencrl", "-out", str(out), *dates], check=True,
                       capture_output=True, timeout=60)
    return out


def reissue(pki, leaf):
    """A new certificate for gen.sh's leaf (same subject and extensions, a
    new key, a random serial, signed by ca) as (chain PEM text: the leaf then
    ca.pem, key PEM text, serial as upper-case hex): what a rotation puts in
    place."""
    with tempfile.TemporaryDirectory() as work:
        w = pathlib.Path(work)
        run = lambda *argv: subprocess.run(["openssl", *map(str, argv)], check=True,
                                           capture_output=True, timeout=60)
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", w / "k.pem")
        run("x509", "-x509toreq", "-in", pki / f"{leaf}.pem", "-key", w / "k.pem",
            "-copy_extensions", "copyall", "-out", w / "r.pem")
        # First byte 0x10..0x7f: no sign byte, no leading zero to print.
        serial = f"{os.urandom(1)[0] % 0x70 + 0x10:02X}" + os.urandom(7).hex().upper()
        run("x509", "-req", "-in", w / "r.pem", "-CA", pki / "ca.pem", "-CAkey", pki / "ca.key",
            "-copy_extensions", "copyall", "-days", "30", "-set_serial", f"0x{serial}",
            "-out", w / "c.pem")
        chain = (w / "c.pem").read_text() + (pki / "ca.pem").read_text()
        return chain, (w / "k.pem").read_text(), serial


def tls_context(pki, leaf=None):
    """A client context trusting the test CA, presenting leaf's certificate
    (gen.sh's leaf.chain.pem and leaf.key) when leaf is given (None: no
    client certificate)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.pem"))
    if leaf:
        ctx.load_cert_chain(str(pki / f"{leaf}.chain.pem"), str(pki / f"{leaf}.key"))
    return ctx


def tls_server_context(pki, leaf):
    """A server context presenting leaf's certificate (gen.sh's
    leaf.chain.pem and leaf.key); client certificates are not asked for."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki / f"{leaf}.chain.pem"), str(pki / f"{leaf}.key"))
    return ctx
