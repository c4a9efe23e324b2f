"""`wirebench serve` for the Python checks: every protocol on ephemeral loopback ports, the
"small" payload, stopped when the block ends."""

import contextlib
import json
import os
import subprocess
import sys
import time


def addr_file(work):
    """Where `serving` has the server write its addresses (`run --target` takes the file)."""
    return os.path.join(work, "servers.json")


@contextlib.contextmanager
def serving(binary, work, tls=False, bind=None, prefix=()):
    """Starts the server, waits (60 s at most) for its address file in `work`, yields
    `{"server name": "host:port"}`, and stops the server after the block. With `tls`, every
    port also serves TLS, and the certificate is in `work`/cert.pem. `bind` is the address to
    listen on (the server's default, 127.0.0.1, unless given); `prefix` goes before the
    command, such as `ip netns exec NAME`, which execs the server in the same process."""
    addrs_at = addr_file(work)
    if os.path.exists(addrs_at):  # an earlier server's: wait for this one's
        os.remove(addrs_at)
    command = [*prefix, binary, "serve", "--port-base", "0", "--payload", "small", "--addr-file", addrs_at]
    if tls:
        command += ["--tls", "--tls-cert-out", os.path.join(work, "cert.pem")]
    if bind:
        command += ["--bind", bind]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not os.path.exists(addrs_at):
            if time.time() > deadline or server.poll() is not None:
                sys.exit("wirebench serve did not start")
            time.sleep(0.05)
        with open(addrs_at) as f:
            addrs = json.load(f)
        yield addrs
    finally:
        server.terminate()
        server.wait(timeout=10)
