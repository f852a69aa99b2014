"""The throwaway PKI of test/certs/gen.sh and TLS contexts on it.

Borrows gen.sh; owns only the directory it is told to fill."""
import os
import pathlib
import ssl
import subprocess

__all__ = ["SOURCE_DIR", "TEST_DIR", "generate_pki", "tls_context"]

TEST_DIR = pathlib.Path(__file__).resolve().parents[1]
SOURCE_DIR = pathlib.Path(os.environ.get("REUSEGW_SOURCE_DIR", TEST_DIR.parent))


def generate_pki(out):
    """Runs test/certs/gen.sh into out and returns out as a Path."""
    out = pathlib.Path(out)
    subprocess.run(["bash", str(SOURCE_DIR / "test" / "certs" / "gen.sh"), str(out)],
                   check=True, capture_output=True, timeout=300)
    return out


def tls_context(pki, leaf=None):
    """A client context trusting the test CA, presenting leaf's certificate
    (gen.sh's leaf.chain.pem and leaf.key) when leaf is given (None: no
    client certificate)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.pem"))
    if leaf:
        ctx.load_cert_chain(str(pki / f"{leaf}.chain.pem"), str(pki / f"{leaf}.key"))
    return ctx
