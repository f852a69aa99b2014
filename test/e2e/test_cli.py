"""The command line contract of README.md: --version, --help, exit codes."""
import subprocess


def run(bin_path, *args):
    return subprocess.run([str(bin_path), *args], capture_output=True, text=True, timeout=30)


def test_version_prints_name_and_version(reusegw_bin):
    r = run(reusegw_bin, "--version")
    assert r.returncode == 0
    assert r.stdout.startswith("reusegw ")
    assert r.stdout.split()[1].count(".") == 2


def test_help_lists_every_mode(reusegw_bin):
    r = run(reusegw_bin, "--help")
    assert r.returncode == 0
    for word in ("-c FILE", "--check-config", "--version"):
        assert word in r.stdout


def test_no_config_is_a_usage_error(reusegw_bin):
    r = run(reusegw_bin)
    assert r.returncode == 2
    assert "usage:" in r.stderr


def test_unknown_option_is_a_usage_error(reusegw_bin):
    r = run(reusegw_bin, "--no-such-option")
    assert r.returncode == 2
