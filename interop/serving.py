"""`wirebench serve` for the Python checks: every protocol on ephemeral loopback ports, the
"small" payload, stopped when the block ends."""

import contextlib
import json
import os
import subprocess
import sys
import time


@contextlib.contextmanager
def serving(binary, work, tls=False):
    """Starts the server, waits (60 s at most) for its address file in `work`, yields
    `{"server name": "host:port"}`, and stops the server after the block. With `tls`, every
    port also serves TLS, and the certificate is in `work`/cert.pem."""
    addr_file = os.path.join(work, "servers.json")
    command = [binary, "serve", "--port-base", "0", "--payload", "small", "--addr-file", addr_file]
    if tls:
        command += ["--tls", "--tls-cert-out", os.path.join(work, "cert.pem")]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not os.path.exists(addr_file):
            if time.time() > deadline or server.poll() is not None:
                sys.exit("wirebench serve did not start")
            time.sleep(0.05)
        with open(addr_file) as f:
            addrs = json.load(f)
        yield addrs
    finally:
        server.terminate()
        server.wait(timeout=10)
