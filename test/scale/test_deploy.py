"""The deployment files in deploy/ are valid and agree with each other: YAML
passes yamllint, Kamailio accepts kamailio-legacy.cfg, reusegw accepts both
of its configs (compose and the Kubernetes ConfigMap), the shutdown grace
periods exceed runtime.drain_timeout, and the Kubernetes Pod is a native
sidecar that PodSecurity "restricted" admits."""
import re
import shutil
import subprocess

import pytest
import yaml

import reusegw_test as h

SOURCE = h.SOURCE_DIR
DEPLOY = SOURCE / "deploy"


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def seconds(duration):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    assert m, duration
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def compose():
    return load(DEPLOY / "compose.yaml")


def pod():
    return load(DEPLOY / "kubernetes/pod.yaml")


def configmap_config():
    return yaml.safe_load(load(DEPLOY / "kubernetes/reusegw-config.yaml")["data"]["reusegw.yaml"])


def kamailio_defines():
    text = (DEPLOY / "kamailio-legacy.cfg").read_text()
    return {k: v.strip('"') for k, v in re.findall(r"(?m)^#!trydef (\w+) (.+)$", text)}


def test_yamllint_strict():
    run = subprocess.run(["yamllint", "-s", "-c", str(SOURCE / "test/scale/yamllint.yaml"),
                          str(DEPLOY)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_kamailio_accepts_the_legacy_config():
    # As shipped: nothing in it needs DNS (no advertised name), so the
    # example domain passes as it is; the sockets come from the defines.
    run = subprocess.run(["kamailio", "-c", "-f", str(DEPLOY / "kamailio-legacy.cfg")],
                         capture_output=True, text=True, timeout=60)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "config file ok" in out
    assert not re.search(r"\b(ERROR|CRITICAL)\b", out), out  # kamailio -c exits 0 on some
    assert re.search(r"tcp: 127\.0\.0\.1 \[127\.0\.0\.1\]:5060 name legacy", out), out
    assert "advertise" not in out, out


def check_config(reusegw_bin, certs, tmp_path, text):
    tls = tmp_path / "tls"
    tls.mkdir()
    for src, dst in (("gw-a.pem", "proxy.pem"), ("gw-a.key", "proxy.key"), ("ca.pem", "ca.pem")):
        shutil.copy(certs / src, tls / dst)
    cfg = tmp_path / "reusegw.yaml"
    cfg.write_text(text)
    run = subprocess.run([reusegw_bin, "--check-config", "-c", str(cfg)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_reusegw_accepts_the_compose_config(reusegw_bin, pki, tmp_path):
    check_config(reusegw_bin, pki, tmp_path, (DEPLOY / "reusegw.yaml").read_text())


def test_reusegw_accepts_the_kubernetes_config(reusegw_bin, pki, tmp_path):
    text = load(DEPLOY / "kubernetes/reusegw-config.yaml")["data"]["reusegw.yaml"]
    assert "/etc/reusegw/tls/" in text
    check_config(reusegw_bin, pki, tmp_path,
                 text.replace("/etc/reusegw/tls/", str(tmp_path / "tls") + "/"))


@pytest.mark.parametrize("cfg", [load(DEPLOY / "reusegw.yaml"), configmap_config()],
                         ids=["compose", "kubernetes"])
def test_kamailio_and_reusegw_agree(cfg):
    d = kamailio_defines()
    host, port = cfg["identity"]["sent_by"].rsplit(":", 1)
    assert d["SENT_BY_HOST"] == host
    assert d["TLS_FACE"] == "%s:%s;transport=tls" % (host, port)
    assert d["LEGACY_SOCKET"] == "tcp:" + cfg["legacy"]["forward_to"]
    assert d["GW_EGRESS"] == "sip:%s;transport=tcp" % cfg["legacy"]["listen"]
    assert cfg["runtime"]["io_backend"] == "auto"


def test_compose_sidecar_shape():
    services = compose()["services"]
    gw = services["reusegw"]
    assert gw["network_mode"] == "service:kamailio"
    assert gw["volumes"] and all(v.endswith(":ro") for v in gw["volumes"])
    drain = seconds(load(DEPLOY / "reusegw.yaml")["runtime"]["drain_timeout"])
    assert gw["stop_signal"] == "SIGTERM"
    assert seconds(gw["stop_grace_period"]) > drain
    assert "/healthz" in " ".join(gw["healthcheck"]["test"])
    assert "9091" in " ".join(gw["healthcheck"]["test"])
    assert load(DEPLOY / "reusegw.yaml")["admin"]["listen"].endswith(":9091")
    assert gw["cap_drop"] == ["ALL"] and gw["read_only"] is True
    # Only TLS leaves the namespace.
    assert services["kamailio"]["ports"] == ["5061:5061/tcp"]


def test_kubernetes_native_sidecar_restricted():
    spec = pod()["spec"]
    cfg = configmap_config()
    assert spec["terminationGracePeriodSeconds"] > seconds(cfg["runtime"]["drain_timeout"])
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (gw,) = spec["initContainers"]
    assert gw["restartPolicy"] == "Always"
    for c in spec["initContainers"] + spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert all(m.get("readOnly") for m in c["volumeMounts"] if "config" in m["name"])
    admin_port = int(cfg["admin"]["listen"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in gw["ports"]}
    assert ports["admin"] == admin_port
    assert gw["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert gw["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
    tls = next(v for v in spec["volumes"] if v["name"] == "reusegw-tls")
    assert tls["secret"]["secretName"] == "reusegw-tls"
    assert any(m["name"] == "reusegw-tls" and m["readOnly"] for m in gw["volumeMounts"])
