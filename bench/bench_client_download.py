"""AsyncSSH side of bench/bench_client_download.lua (issue 5).

Usage: python3 bench_client_download.py PORT KEYFILE KNOWN_HOSTS CIPHER MAC
                                         BYTES COMMAND

Connects to 127.0.0.1:PORT as root, runs COMMAND through
conn.create_process(), reads its stdout in 64 KiB chunks and discards them,
and exits non-zero unless exactly BYTES bytes arrived.  The driver measures
this process's CPU time with /usr/bin/time.
"""
import asyncio
import sys
import warnings

warnings.filterwarnings("ignore")  # cryptography's deprecation notices

import asyncssh  # noqa: E402


async def main(port, key, known_hosts, cipher, mac, want, command):
    async with asyncssh.connect(
            "127.0.0.1", port=port, username="root", client_keys=[key],
            known_hosts=known_hosts, encryption_algs=[cipher],
            mac_algs=[mac], compression_algs=["none"],
            agent_path=None) as conn:
        proc = await conn.create_process(command, encoding=None)
        got = 0
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            got += len(chunk)
        await proc.wait()
    if got != want:
        sys.exit("asyncssh: got %d bytes, expected %d" % (got, want))


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(int(a[0]), a[1], a[2], a[3], a[4], int(a[5]), a[6]))
