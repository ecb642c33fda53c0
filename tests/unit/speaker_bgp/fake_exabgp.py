"""A stand-in for the ``exabgp`` executable: runs the configured API process and acks commands.

It reads the ``run`` line of the configuration it is given, starts that helper with pipes, emits
``neighbor ADDR up`` and then answers every command line with ``done`` (``error`` for a line
containing ``bogus``), appending each command to ``$FAKE_EXABGP_RECORD``. Behaviour switches:
``$FAKE_EXABGP_EXIT_AFTER`` (exit after N commands, once), ``$FAKE_EXABGP_HANG`` (never ack),
``$FAKE_EXABGP_FLOOD`` (write that many event lines before reading anything: pitfall P1).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def main() -> int:
    conf = open(sys.argv[-1]).read()
    run = re.search(r"^\s*run (.*);$", conf, re.M)
    peer = re.search(r"^neighbor (\S+) \{", conf, re.M)
    assert run
    assert peer
    helper = subprocess.Popen(run.group(1).split(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert helper.stdin
    assert helper.stdout
    record = os.environ.get("FAKE_EXABGP_RECORD")
    exit_after = int(os.environ.get("FAKE_EXABGP_EXIT_AFTER", "0"))
    flood = int(os.environ.get("FAKE_EXABGP_FLOOD", "0"))
    helper.stdin.write(f"neighbor {peer.group(1)} up\n".encode())
    for _ in range(flood):
        helper.stdin.write(f"neighbor {peer.group(1)} connected\n".encode())
    helper.stdin.flush()
    count = 0
    for raw in helper.stdout:
        line = raw.decode().strip()
        if record:
            with open(record, "a") as fh:
                fh.write(f"{os.getpid()} {line}\n")
        if os.environ.get("FAKE_EXABGP_HANG"):
            continue
        helper.stdin.write(b"error\n" if "bogus" in line else b"done\n")
        helper.stdin.flush()
        count += 1
        crashed = f"{record}.crashed"
        if exit_after and count >= exit_after and not os.path.exists(crashed):
            open(crashed, "w").close()  # crash once only
            helper.kill()
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
