"""Drift between docs/operations.md and a running reusegw's /metrics.

The metric tables of the doc (rows starting "| `reusegw_...` |") must list
exactly the families /metrics exposes, each with its type and every label
name and value; any other reusegw_* name the doc mentions, and any
name{label="value"} it quotes, must exist too. The checker is tried on the
real scrape and, to show it can fail, on doctored copies of the doc.

(config/example.yaml against docs/configuration.md is checked in
test/config/test_check_config.py.)
"""
import re

import pytest

import reusegw_test as h

DOC = h.SOURCE_DIR / "docs" / "operations.md"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# ---------------------------------------------------------------- parsing

def exposed_families(text):
    """{family: (type, {label: {values}})} of a Prometheus text exposition;
    a histogram's _bucket, _sum and _count samples belong to its family."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    families = {name: (kind, {}) for name, kind in types.items()}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$", line)
        assert m, f"unparseable sample line {line!r}"
        name, labels = m.group(1), m.group(2) or ""
        if name not in families:
            base = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
            assert base in families and families[base][0] == "histogram", \
                f"sample {name} has no # TYPE line"
            name = base
        for label, value in re.findall(r'(\w+)="([^"]*)"', labels):
            families[name][1].setdefault(label, set()).add(value)
    return families


def doc_rows(doc):
    """{metric: (type cell, labels cell)} of the doc's metric table rows."""
    rows = {}
    for m in re.finditer(r"^\| `(reusegw_[a-z0-9_]+)` \|([^|]*)\|([^|]*)\|", doc, re.M):
        assert m.group(1) not in rows, f"{m.group(1)} has two rows"
        rows[m.group(1)] = (m.group(2).strip(), m.group(3))
    return rows


def drift(exposition, doc):
    """Every disagreement between a /metrics text and the doc, as text."""
    exposed = exposed_families(exposition)
    rows = doc_rows(doc)
    problems = []
    for name in sorted(exposed.keys() - rows.keys()):
        problems.append(f"{name}: exposed, but no row in the doc's metric tables")
    for name in sorted(rows.keys() - exposed.keys()):
        problems.append(f"{name}: documented, but not exposed")
    for name in sorted(exposed.keys() & rows.keys()):
        kind, labels = exposed[name]
        doc_type, doc_labels = rows[name]
        if doc_type != kind:
            problems.append(f"{name}: documented as {doc_type!r}, exposed as {kind!r}")
        for label, values in labels.items():
            for token in [label, *sorted(values)]:
                if f"`{token}`" not in doc_labels:
                    problems.append(f"{name}: label {label} value `{token}` missing from its row")
    # Names and label values quoted anywhere else in the doc.
    for m in re.finditer(r"\breusegw_[a-z0-9_]+", doc):
        name = m.group(0)
        base = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES
                     if name.endswith(s) and name[:-len(s)] in exposed), name)
        if base not in exposed:
            problems.append(f"{name}: mentioned in the doc, not exposed")
    for m in re.finditer(r'\b(reusegw_[a-z0-9_]+)\{(\w+)="([^"]*)"\}', doc):
        name, label, value = m.groups()
        if name in exposed and value not in exposed[name][1].get(label, set()):
            problems.append(f'{name}{{{label}="{value}"}}: quoted in the doc, not exposed')
    return sorted(set(problems))


# ---------------------------------------------------------------- a real reusegw

def scrape_gateway(stage, io_backend):
    """The /metrics text of a freshly started reusegw (real binary, real
    test PKI) on io_backend. Stops it with SIGTERM and checks the
    documented exit 0."""
    ip = f"{h.unique_net()}.7"
    tls = (ip, h.free_port(ip))
    cfg = h.gateway_config(stage.pki, "gw-a", f"a.test:{tls[1]}", tls, h.dead_endpoint(ip),
                           (ip, h.free_port(ip)), {}, (ip, h.free_port(ip)))
    cfg["runtime"]["io_backend"] = io_backend
    # With a CRL, so that the series only a CRL brings are exposed too.
    cfg["tls"]["crl"] = str(h.make_crl(stage.pki, stage.procs.log_dir / f"{io_backend}.crl"))
    gw = stage.gateway(f"reusegw-{io_backend}", cfg).start()
    text = gw.metrics_text()
    assert gw.stop() == 0, gw.log()
    return text


@pytest.fixture(scope="module")
def scrape(module_stage):
    """/metrics of one reusegw per io_backend (auto picks io_uring where the
    kernel allows it), concatenated: label values such as the backend name
    depend on the run, the doc must cover both."""
    return "".join(scrape_gateway(module_stage, backend) for backend in ("auto", "epoll"))


def test_operations_doc_matches_metrics(scrape):
    assert len(exposed_families(scrape)) >= 25, "suspiciously few families: parser broken?"
    problems = drift(scrape, DOC.read_text())
    assert not problems, "docs/operations.md drifted from /metrics:\n" + "\n".join(problems)


# ---------------------------------------------------------------- the check can fail

def drop_row(doc, name):
    out = re.sub(rf"^\| `{name}` \|.*\n", "", doc, flags=re.M)
    assert out != doc
    return out


def test_a_missing_row_is_reported(scrape):
    doc = drop_row(DOC.read_text(), "reusegw_keepalive_pongs_total")
    assert ("reusegw_keepalive_pongs_total: exposed, but no row in the doc's metric tables"
            in drift(scrape, doc))


def test_a_documented_metric_that_is_not_exposed_is_reported(scrape):
    doc = DOC.read_text() + "\n| `reusegw_imaginary_total` | counter | | | |\n"
    assert "reusegw_imaginary_total: documented, but not exposed" in drift(scrape, doc)


def test_a_metric_named_in_prose_only_is_reported(scrape):
    doc = DOC.read_text() + "\nWatch `reusegw_gone_total` for trouble.\n"
    assert "reusegw_gone_total: mentioned in the doc, not exposed" in drift(scrape, doc)


def test_a_wrong_type_is_reported(scrape):
    doc = DOC.read_text().replace("| `reusegw_alias_rows` | gauge |",
                                  "| `reusegw_alias_rows` | counter |")
    assert ("reusegw_alias_rows: documented as 'counter', exposed as 'gauge'"
            in drift(scrape, doc))


def test_a_missing_label_value_is_reported(scrape):
    doc = DOC.read_text().replace("`identity_mismatch`, `certless`", "`certless`", 1)
    assert ("reusegw_reuse_decisions_total: label reason value `identity_mismatch` "
            "missing from its row" in drift(scrape, doc))


def test_a_quoted_label_value_that_does_not_exist_is_reported(scrape):
    doc = DOC.read_text() + '\nAlert on `reusegw_503_sent_total{reason="dns_broken"}`.\n'
    assert ('reusegw_503_sent_total{reason="dns_broken"}: quoted in the doc, not exposed'
            in drift(scrape, doc))


def test_a_new_exposed_metric_is_reported():
    exposition = ("# HELP reusegw_new_total New.\n# TYPE reusegw_new_total counter\n"
                  "reusegw_new_total 0\n")
    assert drift(exposition, "") == [
        "reusegw_new_total: exposed, but no row in the doc's metric tables"]
