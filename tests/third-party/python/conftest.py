"""Fixtures: a fresh maas-sim binary per test, started the way a user starts it.

The binary comes from MAAS_SIM_BIN (set by `make test-clients`). It is run as
`maas-sim --listen 127.0.0.1:0 --inventory ../inventory.yaml ...` and its stdout
contract (`KEY=value` lines) gives the endpoint, the keys and the control URL.
Nothing here skips: a missing binary fails the run with a clear message.
"""

import json
import os
import pathlib
import signal
import subprocess
import threading
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
INVENTORY = HERE.parent / "inventory.yaml"

# Steps last ten minutes: nothing moves until a test calls `complete()`. (Not longer: the
# simulated deploy timeout is 30 min on 3.4, so a longer deploy would end in Failed deployment.)
SLOW = ["--deploy-seconds", "600", "--release-seconds", "600", "--erase-seconds", "600",
        "--commission-seconds", "600", "--power-seconds", "600"]


def sim_binary():
    path = os.environ.get("MAAS_SIM_BIN")
    if not path:
        pytest.exit("MAAS_SIM_BIN is not set: run `make test-clients` (it builds maas-sim)", 2)
    if not os.access(path, os.X_OK):
        pytest.exit(f"MAAS_SIM_BIN={path} is not an executable maas-sim binary", 2)
    return path


class Sim:
    """A running maas-sim process and its control API."""

    def __init__(self, *extra):
        self.proc = subprocess.Popen(
            [sim_binary(), "--listen", "127.0.0.1:0", "--inventory", str(INVENTORY),
             "--seed", "5", "--log-level", "warn", *SLOW, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.values = {}
        # A watchdog, so that a silent binary fails the test instead of hanging it.
        watchdog = threading.Timer(20, self.proc.kill)
        watchdog.start()
        try:
            while len(self.values) < 4:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(
                        f"maas-sim exited ({self.proc.wait()}) after printing only {self.values}")
                key, _, value = line.strip().partition("=")
                self.values[key] = value
        finally:
            watchdog.cancel()
        self.endpoint = self.values["MAAS_ENDPOINT"]
        self.admin_key = self.values["MAAS_API_KEY"]
        self.user_key = self.values["MAAS_USER_API_KEY"]
        self.control = self.values["MAAS_SIM_CONTROL"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode

    # --- control API (/_sim/) --------------------------------------------------
    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.control + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text and text[0] in "[{" else text

    def complete(self):
        """Finish every pending transition (deploy, release, power...)."""
        self._call("POST", "/complete", {})

    def machine(self, system_id):
        return self._call("GET", f"/machines/{system_id}")

    def machines(self):
        return self._call("GET", "/machines")

    def owned(self):
        return sorted(m["hostname"] for m in self.machines() if m["owner"])

    def requests(self):
        return self._call("GET", "/requests")

    def clear_requests(self):
        self._call("DELETE", "/requests")

    def scripted_fault(self, **fault):
        self._call("POST", "/faults/scripted", fault)


@pytest.fixture
def sim():
    s = Sim()
    yield s
    code = s.stop()
    assert code == 0, f"maas-sim exited {code} on SIGTERM"


@pytest.fixture
def sim_38():
    """MAAS main (3.8) behaviour: VM host support removed."""
    s = Sim("--maas-version", "3.8")
    yield s
    assert s.stop() == 0


@pytest.fixture
def client(sim):
    """A viscera client (maas.client.connect) for the admin."""
    from maas.client import connect

    return connect(sim.endpoint, apikey=sim.admin_key)


@pytest.fixture
def user_client(sim):
    from maas.client import connect

    return connect(sim.endpoint, apikey=sim.user_key)
