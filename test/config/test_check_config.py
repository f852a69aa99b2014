"""reusegw --check-config on good and bad files: every error is printed as
FILE:LINE:COL: KEY: MESSAGE on stderr with exit code 1; a good file prints
"FILE: configuration OK" with exit code 0. The certificates are a real test
PKI made by test/certs/gen.sh."""
import os
import shutil
import subprocess

import pytest

IDENTITY = "identity: {sent_by: a.test}\n"
TLS = ('tls:\n'
       '  listen: ["127.0.0.1:5061"]\n'
       '  certificate: tls/proxy.pem\n'
       '  private_key: tls/proxy.key\n'
       '  ca: tls/ca.pem\n')
LEGACY = 'legacy: {forward_to: "127.0.0.1:5060", listen: "127.0.0.1:5070"}\n'
VALID = IDENTITY + TLS + LEGACY  # 7 lines: whatever follows starts on line 8


def tls_with(line):
    """TLS with one line replaced or added (by key name)."""
    key = line.split(":")[0]
    lines = [l for l in TLS.splitlines() if not l.startswith(key + ":")]
    lines.insert(1, line)
    return "\n".join(lines) + "\n"


@pytest.fixture
def confdir(tmp_path, pki):
    """A directory holding tls/proxy.pem, tls/proxy.key and tls/ca.pem."""
    tls = tmp_path / "tls"
    tls.mkdir()
    shutil.copy(pki / "gw-a.chain.pem", tls / "proxy.pem")
    shutil.copy(pki / "gw-a.key", tls / "proxy.key")
    shutil.copy(pki / "ca.pem", tls / "ca.pem")
    for leaf, name in (("gw-b", "b"), ("virtual", "v")):  # extra identities
        shutil.copy(pki / f"{leaf}.pem", tls / f"{name}.pem")
        shutil.copy(pki / f"{leaf}.key", tls / f"{name}.key")
    return tmp_path


def check(reusegw_bin, path):
    return subprocess.run([str(reusegw_bin), "--check-config", "-c", str(path)],
                          capture_output=True, timeout=60)


# (id, file contents, expected stderr line after "FILE:"); {dir} is the
# directory of the file.
BAD = [
    ("wrong_type_bool", VALID + "reuse: {accept_alias: 3}\n",
     '8:23: reuse.accept_alias: expected true or false, got "3"'),
    ("yaml11_yes_is_not_bool", VALID + "reuse: {request_alias: yes}\n",
     '8:24: reuse.request_alias: expected true or false, got "yes"'),
    ("wrong_type_int", VALID + "limits: {max_connections: lots}\n",
     '8:27: limits.max_connections: expected an integer in 1..10000000, got "lots"'),
    ("int_out_of_range", VALID + "limits: {max_connections_per_peer: 0}\n",
     "8:36: limits.max_connections_per_peer: 0 is out of range 1..10000000"),
    ("duration_without_unit", VALID + "reuse: {idle_timeout: 10}\n",
     '8:23: reuse.idle_timeout: duration "10" needs a unit: ms, s, m or h'),
    ("duration_negative", VALID + "reuse: {idle_timeout: -1s}\n",
     '8:23: reuse.idle_timeout: expected a duration such as 10s or 250ms, got "-1s"'),
    ("duration_bad_unit", VALID + "runtime: {drain_timeout: 5x}\n",
     '8:26: runtime.drain_timeout: unknown unit in duration "5x"; use ms, s, m or h'),
    ("duration_out_of_range", IDENTITY + tls_with("  handshake_timeout: 2h") + LEGACY,
     "3:22: tls.handshake_timeout: duration 2h is out of range 1ms..1h"),
    ("port_0", IDENTITY + TLS + 'legacy: {forward_to: "127.0.0.1:0", listen: "127.0.0.1:5070"}\n',
     '7:22: legacy.forward_to: port 0 is out of range 1..65535 in "127.0.0.1:0"'),
    ("port_65536", IDENTITY + tls_with('  listen: ["127.0.0.1:65536"]') + LEGACY,
     '3:12: tls.listen[0]: port 65536 is out of range 1..65535 in "127.0.0.1:65536"'),
    ("missing_port", IDENTITY + tls_with('  listen: ["127.0.0.1:5061", "x"]') + LEGACY,
     '3:30: tls.listen[1]: expected host:port, got "x"'),
    ("missing_port_admin", VALID + "admin: {listen: localhost}\n",
     '8:17: admin.listen: expected host:port, got "localhost"'),
    ("ipv6_without_brackets", IDENTITY + tls_with('  listen: ["::1:5061"]') + LEGACY,
     '3:12: tls.listen[0]: IPv6 addresses need brackets, as in [::1]:5061; got "::1:5061"'),
    ("ipv6_unclosed_bracket", IDENTITY + tls_with('  listen: ["[::1:5061"]') + LEGACY,
     '3:12: tls.listen[0]: missing "]" in "[::1:5061"'),
    ("ipv4_in_brackets", "identity: {sent_by: \"[192.0.2.1]\"}\n" + TLS + LEGACY,
     '1:21: identity.sent_by: "192.0.2.1" in brackets is not an IPv6 address'),
    ("duplicate_listen", IDENTITY + tls_with('  listen: ["127.0.0.1:5061", "127.0.0.1:5061"]') + LEGACY,
     "3:30: tls.listen[1]: duplicate listen address 127.0.0.1:5061 (also tls.listen[0])"),
    ("duplicate_listen_across_sections", VALID + 'admin: {listen: "127.0.0.1:5070"}\n',
     "8:17: admin.listen: duplicate listen address 127.0.0.1:5070 (also legacy.listen)"),
    ("listen_overlaps_wildcard",
     IDENTITY + tls_with('  listen: ["0.0.0.0:5061"]') + 'legacy: {forward_to: "127.0.0.1:5060", '
     'listen: "127.0.0.1:5061"}\n',
     "7:48: legacy.listen: listen address 127.0.0.1:5061 overlaps 0.0.0.0:5061 (tls.listen[0]): "
     "both cannot be bound"),
    ("forward_to_is_own_listen",
     IDENTITY + TLS + 'legacy: {listen: "127.0.0.1:5070", forward_to: "127.0.0.1:5070"}\n',
     "7:48: legacy.forward_to: 127.0.0.1:5070 is reusegw's own legacy.listen: traffic would loop"),
    ("listen_is_forward_to", VALID + 'admin: {listen: "127.0.0.1:5060"}\n',
     "8:17: admin.listen: 127.0.0.1:5060 is also legacy.forward_to, the legacy proxy's address: "
     "traffic would loop"),
    ("forward_to_under_wildcard",
     IDENTITY + tls_with('  listen: ["0.0.0.0:5061"]') + 'legacy: {forward_to: "127.0.0.1:5061", '
     'listen: "127.0.0.1:5070"}\n',
     "7:22: legacy.forward_to: 127.0.0.1:5061 is reusegw's own tls.listen[0]: traffic would loop"),
    ("unknown_key", VALID + "metrics: {}\n",
     '8:1: metrics: unknown key "metrics"; valid keys: identity, tls, legacy, reuse, routes, '
     'identities, peers, dns, limits, admin, runtime, log, capture'),
    ("unknown_nested_key_suggested", IDENTITY + tls_with("  handshake_timout: 1s") + LEGACY,
     '3:3: tls.handshake_timout: unknown key "handshake_timout"; did you mean "handshake_timeout"?'),
    ("missing_required_key", IDENTITY + TLS.replace("  ca: tls/ca.pem\n", "") + LEGACY,
     "3:3: tls.ca: required key is missing"),
    ("missing_required_section", IDENTITY + TLS,
     "1:1: legacy: required key is missing"),
    ("duplicate_key", VALID + "log: {level: info}\nlog: {level: debug}\n",
     '9:1: log: duplicate key "log" (first at line 8)'),
    ("cert_missing", IDENTITY + tls_with("  certificate: tls/nope.pem") + LEGACY,
     '3:16: tls.certificate: cannot read "{dir}/tls/nope.pem": No such file or directory'),
    ("ca_not_a_directory", IDENTITY + tls_with("  ca: tls/proxy.pem/ca.pem") + LEGACY,
     '3:7: tls.ca: cannot read "{dir}/tls/proxy.pem/ca.pem": Not a directory'),
    ("key_is_a_directory", IDENTITY + tls_with("  private_key: tls") + LEGACY,
     '3:16: tls.private_key: "{dir}/tls" is not a regular file'),
    ("bad_enum", IDENTITY + tls_with("  client_certificate: sometimes") + LEGACY,
     '3:23: tls.client_certificate: expected one of required, optional; got "sometimes"'),
    ("bad_enum_backend", VALID + "runtime: {io_backend: kqueue}\n",
     '8:23: runtime.io_backend: expected one of auto, io_uring, epoll; got "kqueue"'),
    ("workers_0", VALID + "runtime: {workers: 0}\n",
     '8:20: runtime.workers: expected auto or an integer in 1..256, got "0"'),
    ("workers_300", VALID + "runtime: {workers: 300}\n",
     '8:20: runtime.workers: expected auto or an integer in 1..256, got "300"'),
    ("list_where_map_expected", VALID + "reuse: [accept_alias]\n",
     "8:8: reuse: expected a mapping (keys: accept_alias, request_alias, "
     "require_sent_by_identity, idle_timeout), got a list"),
    ("map_where_list_expected", VALID + "dns: {servers: {a: 1}}\n",
     "8:16: dns.servers: expected a list of host[:port], got a mapping"),
    ("string_where_list_expected", IDENTITY + tls_with('  listen: "127.0.0.1:5061"') + LEGACY,
     '3:11: tls.listen: expected a list of host:port, got "127.0.0.1:5061"'),
    ("dns_server_by_name", VALID + "dns: {servers: [ns.example.com]}\n",
     '8:17: dns.servers[0]: expected an IP address, got host name "ns.example.com"'),
    ("route_without_targets", VALID + "routes:\n  - domain: b.test\n",
     "9:5: routes[0].targets: required key is missing"),
    ("identity_sent_by_is_default", VALID + "identities:\n"
     "  - {sent_by: a.test, certificate: tls/b.pem, private_key: tls/b.key}\n",
     ["9:15: identities[0].sent_by: a.test:5061 is identity.sent_by, the default identity's",
      '9:36: identities[0].certificate: the certificate proves b.test (RFC 5922), not the sent_by '
      'host "a.test"']),
    ("identity_sent_by_twice", VALID + "identities:\n"
     "  - {sent_by: b.test, certificate: tls/b.pem, private_key: tls/b.key, domains: [b.test]}\n"
     "  - {sent_by: \"b.test:5061\", certificate: tls/b.pem, private_key: tls/b.key}\n",
     ["10:15: identities[1].sent_by: b.test:5061 is also identities[0].sent_by",
      '10:5: identities[1]: domain "b.test" is also identities[0]\'s: each domain has one identity '
      "(list this identity's own under domains)"]),
    ("identity_sent_by_not_proven", VALID + "identities:\n"
     "  - {sent_by: c.test, certificate: tls/b.pem, private_key: tls/b.key}\n",
     '9:36: identities[0].certificate: the certificate proves b.test (RFC 5922), not the sent_by '
     'host "c.test"'),
    ("identity_domain_not_proven", VALID + "identities:\n"
     "  - {sent_by: a.virt.test, certificate: tls/v.pem, private_key: tls/v.key, "
     "domains: [a.virt.test, c.virt.test]}\n",
     '9:99: identities[0].domains[1]: domain "c.virt.test" is not proven by '
     "identities[0].certificate"),
    ("identity_domain_of_default", VALID + "identities:\n"
     "  - {sent_by: \"a.test:5062\", certificate: tls/proxy.pem, private_key: tls/proxy.key}\n",
     '9:5: identities[0]: domain "a.test" is also the default identity\'s (tls.certificate): each '
     "domain has one identity (list this identity's own under domains)"),
    ("identity_domain_twice", VALID + "identities:\n"
     "  - {sent_by: a.virt.test, certificate: tls/v.pem, private_key: tls/v.key}\n"
     "  - {sent_by: b.virt.test, certificate: tls/v.pem, private_key: tls/v.key, "
     "domains: [b.virt.test]}\n",
     '10:85: identities[1].domains: domain "b.virt.test" is also identities[0]\'s: each domain '
     "has one identity"),
    ("identity_domain_listed_twice", VALID + "identities:\n"
     "  - {sent_by: a.virt.test, certificate: tls/v.pem, private_key: tls/v.key, "
     "domains: [a.virt.test, A.virt.test]}\n",
     '9:99: identities[0].domains[1]: domain "A.virt.test" is listed twice'),
    ("identity_legacy_listen_clash", VALID + "identities:\n"
     "  - {sent_by: b.test, certificate: tls/b.pem, private_key: tls/b.key, "
     "legacy_listen: \"127.0.0.1:5070\"}\n",
     "9:86: identities[0].legacy_listen: duplicate listen address 127.0.0.1:5070 "
     "(also legacy.listen)"),
    ("identity_without_key", VALID + "identities:\n  - {sent_by: b.test, certificate: tls/b.pem}\n",
     "9:5: identities[0].private_key: required key is missing"),
    ("peer_twice", VALID + "peers:\n  - {domain: b.test}\n  - {domain: B.TEST, sni: x.b.test}\n",
     '10:5: peers[1]: duplicate peer policy for domain "B.TEST" (also peers[0])'),
    ("peer_unknown_key", VALID + "peers:\n  - {domain: b.test, allow_server_auth: true}\n",
     '9:22: peers[0].allow_server_auth: unknown key "allow_server_auth"; '
     'did you mean "allow_server_auth_only"?'),
    ("yaml_syntax_error", VALID + "log: {level: info\n",
     "9:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping "
     "at line 8, column 6)"),
    ("yaml_bad_indentation", VALID + "log:\n  level: info\n format: json\n",
     "10:2: YAML syntax error: did not find expected key (while parsing a block mapping at "
     "line 1, column 1)"),
    ("empty_file", "", "1:1: the file is empty; expected a mapping with identity, tls and legacy"),
    ("top_level_list", "- identity\n- tls\n",
     "1:1: expected a mapping (keys: identity, tls, legacy, reuse, routes, identities, peers, dns, "
     "limits, admin, runtime, log, capture), got a list"),
    ("two_documents", VALID + "---\n" + VALID,
     "9:1: only one YAML document is allowed; this is a second one"),
    ("nesting_too_deep", VALID + "log: " + "[" * 100000 + "]" * 100000 + "\n",
     "8:21: nesting is deeper than 16 levels"),
    ("key_log_directory_missing", IDENTITY + tls_with("  key_log: /nonexistent/keys.log") + LEGACY,
     '3:12: tls.key_log: cannot create "/nonexistent/keys.log": directory "/nonexistent" '
     "does not exist"),
    ("key_log_is_a_directory", IDENTITY + tls_with("  key_log: tls") + LEGACY,
     '3:12: tls.key_log: "{dir}/tls" exists and is not a regular file'),
    ("crl_not_a_crl", IDENTITY + tls_with("  crl: tls/ca.pem") + LEGACY,
     "3:8: tls.crl: crl_file {dir}/tls/ca.pem: no PEM CRL (NO_START_LINE)"),
    ("crl_missing", IDENTITY + tls_with("  crl: tls/crl.pem") + LEGACY,
     '3:8: tls.crl: cannot read "{dir}/tls/crl.pem": No such file or directory'),
    ("crl_strict_not_bool", IDENTITY + tls_with("  crl_strict: sometimes") + LEGACY,
     '3:15: tls.crl_strict: expected true or false, got "sometimes"'),
    ("watch_not_bool", IDENTITY + tls_with("  watch: 1") + LEGACY,
     '3:10: tls.watch: expected true or false, got "1"'),
    ("capture_without_address", VALID + "capture: {hep: {transport: udp}}\n",
     "8:16: capture.hep.address: required key is missing"),
    ("capture_address_by_name", VALID + "capture: {hep: {address: homer.example.com}}\n",
     '8:26: capture.hep.address: expected an IP address, got host name "homer.example.com"'),
    ("capture_transport_unknown", VALID + 'capture: {hep: {address: "127.0.0.1", transport: sctp}}\n',
     '8:50: capture.hep.transport: expected one of udp, tcp; got "sctp"'),
    ("capture_id_too_large", VALID + 'capture: {hep: {address: "127.0.0.1", capture_id: 4294967296}}\n',
     "8:51: capture.hep.capture_id: 4294967296 is out of range 0..4294967295"),
    ("capture_node_name_too_long", VALID + 'capture: {hep: {address: "127.0.0.1", node_name: '
     + "n" * 256 + "}}\n",
     '8:50: capture.hep.node_name: "' + "n" * 55 + '..." is 256 bytes long; at most 255 are allowed'),
    ("capture_legs_empty", VALID + 'capture: {hep: {address: "127.0.0.1", legs: []}}\n',
     "8:45: capture.hep.legs: needs at least 1 of: tls, legacy"),
    ("capture_leg_unknown", VALID + 'capture: {hep: {address: "127.0.0.1", legs: [tls, wire]}}\n',
     '8:51: capture.hep.legs[1]: expected one of tls, legacy; got "wire"'),
    ("capture_leg_twice", VALID + 'capture: {hep: {address: "127.0.0.1", legs: [legacy, legacy]}}\n',
     '8:54: capture.hep.legs[1]: "legacy" is listed twice'),
    ("capture_unknown_key", VALID + 'capture: {hep: {address: "127.0.0.1", nodename: x}}\n',
     '8:39: capture.hep.nodename: unknown key "nodename"; did you mean "node_name"?'),
    ("proxy_protocol_without_trusted", IDENTITY + tls_with("  proxy_protocol: {timeout: 2s}")
     + LEGACY, "3:19: tls.proxy_protocol.trusted: required key is missing"),
    ("proxy_protocol_trusted_empty", IDENTITY + tls_with("  proxy_protocol: {trusted: []}")
     + LEGACY, "3:29: tls.proxy_protocol.trusted: needs at least 1 address range"),
    ("proxy_protocol_trusted_by_name", IDENTITY
     + tls_with('  proxy_protocol: {trusted: ["10.0.0.0/8", lb.example.com]}') + LEGACY,
     '3:44: tls.proxy_protocol.trusted[1]: expected an IP address or a range such as '
     '10.0.0.0/8 or 2001:db8::/32, got "lb.example.com"'),
    ("proxy_protocol_host_bits", IDENTITY
     + tls_with('  proxy_protocol: {trusted: ["2001:db8::1/32"]}') + LEGACY,
     '3:30: tls.proxy_protocol.trusted[0]: "2001:db8::1/32" has bits set past its prefix; '
     "the network is 2001:db8::/32"),
    ("proxy_protocol_prefix_too_long", IDENTITY
     + tls_with('  proxy_protocol: {trusted: ["192.0.2.0/33"]}') + LEGACY,
     '3:30: tls.proxy_protocol.trusted[0]: prefix length in "192.0.2.0/33" must be 0..32'),
    ("proxy_protocol_timeout_out_of_range", IDENTITY
     + tls_with('  proxy_protocol: {trusted: ["10.0.0.0/8"], timeout: 2m}') + LEGACY,
     "3:54: tls.proxy_protocol.timeout: duration 2m is out of range 1ms..1m"),
    ("proxy_protocol_unknown_key", IDENTITY
     + tls_with('  proxy_protocol: {trusted: ["10.0.0.0/8"], trust: []}') + LEGACY,
     '3:45: tls.proxy_protocol.trust: unknown key "trust"; did you mean "trusted"?'),
    ("legacy_transport_unknown", IDENTITY + TLS +
     'legacy: {forward_to: "127.0.0.1:5060", listen: "127.0.0.1:5070", transport: sctp}\n',
     '7:77: legacy.transport: expected one of tcp, udp; got "sctp"'),
    ("legacy_udp_needs_ip_forward_to", IDENTITY + TLS +
     'legacy: {forward_to: "proxy.test:5060", listen: "127.0.0.1:5070", transport: udp}\n',
     '7:22: legacy.forward_to: with legacy.transport udp this must be an IP address, '
     'got host name "proxy.test"'),
    ("legacy_udp_not_transparent", IDENTITY + TLS +
     'legacy:\n  forward_to: "127.0.0.1:5060"\n  listen: "127.0.0.1:5070"\n'
     '  transparent: true\n  transport: udp\n',
     '11:14: legacy.transport: udp cannot be combined with legacy.transparent: true '
     '(transparent mode is TCP only)'),
    ("invalid_utf8", VALID.encode() + b"log: {level: \xc3\x28}\n",
     "8:15: not valid YAML text: invalid trailing UTF-8 octet (byte 0x28); is this a binary file?"),
]


@pytest.mark.parametrize("name,text,expected", BAD, ids=[c[0] for c in BAD])
def test_bad_config_is_reported_with_position_and_key(reusegw_bin, confdir, name, text, expected):
    path = confdir / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    r = check(reusegw_bin, path)
    assert r.returncode == 1, r
    assert r.stdout == b""
    lines = r.stderr.decode().splitlines()
    expected = [expected] if isinstance(expected, str) else expected
    assert lines == [f"{path}:" + e.replace("{dir}", str(confdir)) for e in expected]


def test_table_is_large_enough():
    assert len(BAD) >= 30


def test_binary_garbage_is_refused(reusegw_bin, confdir):
    path = confdir / "garbage.yaml"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    r = check(reusegw_bin, path)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"{path}:1:8: binary data (a NUL byte); expected YAML text"]


def test_ten_megabyte_file_is_refused_without_parsing(reusegw_bin, confdir):
    path = confdir / "huge.yaml"
    path.write_bytes((VALID + "#" * 1000 + "\n").encode() * 10 * 1024)
    size = path.stat().st_size
    assert size > 10 * 1024 * 1024
    r = check(reusegw_bin, path)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"{path}: file is {size} bytes, more than the limit of 1048576 (1 MiB); not parsed"]


def test_missing_file(reusegw_bin, confdir):
    path = confdir / "absent.yaml"
    r = check(reusegw_bin, path)
    assert r.returncode == 1
    assert r.stderr.decode() == f"{path}: cannot open: No such file or directory\n"


def test_fifo_as_config_or_certificate_does_not_hang(reusegw_bin, confdir):
    fifo = confdir / "fifo"
    os.mkfifo(fifo)
    r = check(reusegw_bin, fifo)
    assert r.returncode == 1
    assert r.stderr.decode() == f"{fifo}: not a regular file\n"
    path = confdir / "ca_fifo.yaml"
    path.write_text(IDENTITY + tls_with("  ca: fifo") + LEGACY)
    r = check(reusegw_bin, path)
    assert r.returncode == 1
    assert r.stderr.decode() == f'{path}:3:7: tls.ca: "{fifo}" is not a regular file\n'


def test_every_error_of_a_file_is_reported_in_order(reusegw_bin, confdir):
    path = confdir / "many.yaml"
    path.write_text("identity: {sent_by: \"a.test:99999\"}\n"
                    "tls:\n"
                    "  listen: [\"0.0.0.0:5061\", \"0.0.0.0:5061\"]\n"
                    "  certificate: tls/proxy.pem\n"
                    "  private_key: tls/missing.key\n"
                    "  ca: tls/ca.pem\n"
                    "  client_certificate: maybe\n"
                    "legacy: {forward_to: \"127.0.0.1:5060\"}\n"
                    "reuse: {idle_timeout: 10}\n"
                    "runtime: {workers: 0, io_backend: kqueue}\n"
                    "lgo: {}\n")
    r = check(reusegw_bin, path)
    assert r.returncode == 1
    p = str(path)
    assert r.stderr.decode().splitlines() == [
        f'{p}:1:21: identity.sent_by: port 99999 is out of range 1..65535 in "a.test:99999"',
        f"{p}:3:28: tls.listen[1]: duplicate listen address 0.0.0.0:5061 (also tls.listen[0])",
        f'{p}:5:16: tls.private_key: cannot read "{confdir}/tls/missing.key": '
        "No such file or directory",
        f'{p}:7:23: tls.client_certificate: expected one of required, optional; got "maybe"',
        f"{p}:8:9: legacy.listen: required key is missing",
        f'{p}:9:23: reuse.idle_timeout: duration "10" needs a unit: ms, s, m or h',
        f'{p}:10:20: runtime.workers: expected auto or an integer in 1..256, got "0"',
        f'{p}:10:35: runtime.io_backend: expected one of auto, io_uring, epoll; got "kqueue"',
        f'{p}:11:1: lgo: unknown key "lgo"; did you mean "log"?',
    ]


def test_capture_password_is_never_echoed(reusegw_bin, confdir):
    path = confdir / "password.yaml"
    secret = "hunter2-" + "p" * 300
    path.write_text(VALID + f'capture: {{hep: {{address: "127.0.0.1", password: "{secret}"}}}}\n')
    r = check(reusegw_bin, path)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        f"{path}:8:49: capture.hep.password: the value is 308 bytes long; at most 255 are allowed"]
    assert b"hunter2" not in r.stdout + r.stderr


def test_capture_and_key_log_accept_a_full_section(reusegw_bin, confdir):
    path = confdir / "capture.yaml"
    path.write_text(IDENTITY + tls_with('  key_log: ""') + LEGACY +
                    "capture:\n"
                    "  hep:\n"
                    '    address: "[::1]"\n'
                    "    transport: tcp\n"
                    "    capture_id: 0\n"
                    '    password: "s3cret"\n'
                    '    node_name: ""\n'
                    "    legs: [legacy]\n")
    r = check(reusegw_bin, path)
    assert (r.returncode, r.stderr) == (0, b"")
    assert not (confdir / "keys.log").exists()


def test_legacy_udp_is_accepted(reusegw_bin, confdir):
    path = confdir / "udp.yaml"
    path.write_text(IDENTITY + TLS + 'legacy: {forward_to: "127.0.0.1:5060", '
                    'listen: "127.0.0.1:5070", transport: udp}\n')
    r = check(reusegw_bin, path)
    assert (r.returncode, r.stderr) == (0, b"")


def test_example_config_passes(reusegw_bin, confdir, source_dir):
    path = confdir / "example.yaml"
    shutil.copy(source_dir / "config/example.yaml", path)
    r = check(reusegw_bin, path)
    assert r.stderr == b""
    assert r.stdout.decode() == f"{path}: configuration OK\n"
    assert r.returncode == 0


def test_relative_config_path_resolves_files_next_to_it(reusegw_bin, confdir, source_dir):
    shutil.copy(source_dir / "config/example.yaml", confdir / "example.yaml")
    r = subprocess.run([str(reusegw_bin), "--check-config", "-c", "example.yaml"],
                       cwd=confdir, capture_output=True, timeout=60)
    assert r.stdout.decode() == "example.yaml: configuration OK\n"
    assert r.returncode == 0


def test_check_config_without_file_is_a_usage_error(reusegw_bin):
    r = subprocess.run([str(reusegw_bin), "--check-config"], capture_output=True, timeout=60)
    assert r.returncode == 2
    assert b"usage:" in r.stderr


def key_secrets(key_path):
    """Every 12-character piece of the key's base64 body: none may be printed."""
    body = "".join(l for l in key_path.read_text().splitlines() if not l.startswith("-----"))
    assert len(body) > 100
    return [body[i:i + 12] for i in range(0, len(body) - 12)]


def test_errors_never_print_private_key_contents(reusegw_bin, confdir):
    key = confdir / "tls/proxy.key"
    pem = key.read_text()
    indented = "".join("    " + l + "\n" for l in pem.splitlines())
    one_line = " ".join(pem.splitlines())
    attempts = {
        # The key file itself given as the configuration.
        "key_as_config": (None, key),
        # The key pasted where its path belongs, as a literal and a folded block.
        "inline_literal": (IDENTITY + tls_with("  private_key: |\n" + indented.rstrip("\n"))
                           + LEGACY, None),
        "inline_folded": (IDENTITY + tls_with("  private_key: >\n" + indented.rstrip("\n"))
                          + LEGACY, None),
        # The key on one line in a key that echoes bad values.
        "one_line_in_sent_by": (f'identity: {{sent_by: "{one_line}"}}\n' + TLS + LEGACY, None),
        "as_unknown_key": (VALID + f'"{one_line}": 1\n', None),
    }
    secrets = key_secrets(key)
    for name, (text, path) in attempts.items():
        if path is None:
            path = confdir / f"{name}.yaml"
            path.write_text(text)
        r = check(reusegw_bin, path)
        assert r.returncode == 1, name
        output = (r.stdout + r.stderr).decode()
        assert output, name
        leaked = [s for s in secrets if s in output]
        assert not leaked, f"{name} printed key material: {output}"


def key_paths(node, prefix=""):
    """Every leaf key path of a parsed YAML tree; list entries become []."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from key_paths(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for item in node:
            yield from key_paths(item, prefix + "[]")
    else:
        yield prefix


# The keys of docs/design.md's contract: they may be extended, never renamed or dropped.
DESIGN_KEYS = {
    "identity.sent_by", "tls.listen", "tls.certificate", "tls.private_key", "tls.ca",
    "tls.client_certificate", "tls.handshake_timeout", "legacy.forward_to", "legacy.listen",
    "legacy.transparent", "reuse.accept_alias", "reuse.request_alias",
    "reuse.require_sent_by_identity", "reuse.idle_timeout", "routes[].domain",
    "routes[].targets", "dns.servers", "limits.max_connections", "limits.max_message_bytes",
    "admin.listen", "runtime.workers", "runtime.io_backend", "log.level", "log.format",
}


def test_example_and_reference_document_the_same_keys(source_dir):
    import re
    import yaml
    example = set(key_paths(yaml.safe_load((source_dir / "config/example.yaml").read_text())))
    doc = (source_dir / "docs/configuration.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_.\[\]]+)` \|", doc, re.M))
    assert DESIGN_KEYS <= example
    assert example == documented
