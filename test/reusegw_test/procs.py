"""Child processes of one test, with their logs.

Owns every process it starts and its log file (log_dir/<name>.log, stdout
and stderr together). teardown() stops them in reverse start order and
prints their logs, which pytest shows when the test failed."""
import os
import pathlib
import signal
import subprocess

from .net import STOP_TIMEOUT

__all__ = ["Process", "Processes", "rss_kib", "fds", "asan_build"]


class Process:
    """One child process with stdout+stderr in log_dir/<name>.log."""

    def __init__(self, name, argv, log_dir, cwd=None, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(log_dir) / f"{name}.log"
        self.cwd = cwd or log_dir
        self.env = env
        self.popen = None
        self.returncode = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.cwd,
                                          env=self.env)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def send_signal(self, sig):
        """Sends sig to the process."""
        self.popen.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit by itself; returns its exit code."""
        self.returncode = self.popen.wait(timeout=timeout)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig (if still running), waits, and KILLs after timeout.
        Returns the exit code (negative: killed by that signal)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        self.returncode = self.popen.returncode
        return self.returncode

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Processes:
    """The processes of one test (or one module): stopped at teardown in
    reverse start order, their logs printed."""

    def __init__(self, log_dir):
        self.log_dir = pathlib.Path(log_dir)
        self.started = []

    def start(self, name, argv, **kw):
        p = Process(name, argv, self.log_dir, **kw).start()
        self.started.append(p)
        return p

    def teardown(self):
        for p in reversed(self.started):
            p.stop()
        for p in self.started:
            print(f"----- {p.name} (exit {p.returncode}): {' '.join(p.argv)}")
            print(p.log_text()[-20000:])


def rss_kib(pid):
    """Resident set size of process pid in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError(f"no VmRSS for pid {pid}")


def asan_build(binary):
    """True when |binary| was built with AddressSanitizer (shadow memory and
    redzones make every allocation cost more RSS)."""
    return b"__asan_init" in pathlib.Path(binary).read_bytes()


def fds(pid):
    """Number of file descriptors process pid has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))
