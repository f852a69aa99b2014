"""The one builder of reusegw configurations for tests.

A configuration is a dict in the contract of docs/configuration.md, built
by gateway_config(), edited by the test for its variant, and rendered to
YAML once, by to_yaml(), when the gateway starts or reloads."""
import os

from .net import hostport

__all__ = ["to_yaml", "gateway_config", "REFUSING_DNS"]

# A DNS server address that refuses at once (nothing listens on port 1), so
# that a domain without a static route gets its 503 immediately and no test
# ever asks a resolver outside the machine.
REFUSING_DNS = "127.0.0.1:1"


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts, lists and scalars (strings always quoted)."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                lines.append(f"{pad}{k}: []")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict):
                body = to_yaml(v, indent + 2).lstrip()
                lines.append(f"{pad}- {body}")
            elif isinstance(v, list):
                lines.append(f"{pad}- [{', '.join(_scalar(x) for x in v)}]")
            else:
                lines.append(f"{pad}- {_scalar(v)}")
    return "\n".join(lines)


def gateway_config(pki, leaf, sent_by, tls_listen, forward_to, legacy_listen, routes,
                   admin_listen, level="debug"):
    """A config dict for one gateway. leaf names a gen.sh leaf (gw-a,
    gw-b...); routes is {domain: [(ip, port), ...]}; endpoints are (ip,
    port) tuples. Callers edit the dict before starting for variants.

    ctest runs every gateway module once per event-loop backend
    (REUSEGW_TEST_IO_BACKEND) and some again with REUSEGW_TEST_WORKERS=2
    (label workers2): both land in runtime here."""
    return {
        "identity": {"sent_by": sent_by},
        "tls": {
            "listen": [hostport(tls_listen)],
            "certificate": str(pki / f"{leaf}.chain.pem"),
            "private_key": str(pki / f"{leaf}.key"),
            "ca": str(pki / "ca.pem"),
            "client_certificate": "required",
            "handshake_timeout": "10s",
        },
        "legacy": {"forward_to": hostport(forward_to), "listen": hostport(legacy_listen)},
        "reuse": {"accept_alias": True, "request_alias": True, "idle_timeout": "10m"},
        "routes": [{"domain": d, "targets": [hostport(t) for t in ts]}
                   for d, ts in routes.items()],
        "dns": {"servers": [REFUSING_DNS]},
        "limits": {"max_connections": 1000, "max_message_bytes": 131072},
        "admin": {"listen": hostport(admin_listen)},
        "runtime": {"workers": int(os.environ.get("REUSEGW_TEST_WORKERS", "1")),
                    "io_backend": os.environ.get("REUSEGW_TEST_IO_BACKEND", "auto")},
        "log": {"level": level, "format": "logfmt"},
    }
