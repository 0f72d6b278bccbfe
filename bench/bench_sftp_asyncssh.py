"""AsyncSSH side of bench/bench_sftp.lua (issue 7).

Usage: python3 bench_sftp_asyncssh.py PORT KEYFILE KNOWN_HOSTS CIPHER get|put
                                      SRC DST

Connects to 127.0.0.1:PORT as root with CIPHER (compression off), opens
an SFTP client with conn.start_sftp_client() and runs sftp.get(SRC, DST)
or sftp.put(SRC, DST) with AsyncSSH's defaults.  The driver measures this
process's CPU time with /usr/bin/time and checks the copy.
"""
import asyncio
import sys
import warnings

warnings.filterwarnings("ignore")  # cryptography's deprecation notices

import asyncssh  # noqa: E402


async def main(port, key, known_hosts, cipher, op, src, dst):
    async with asyncssh.connect(
            "127.0.0.1", port=port, username="root", client_keys=[key],
            known_hosts=known_hosts, encryption_algs=[cipher],
            compression_algs=["none"],
            server_host_key_algs=["ssh-ed25519"],
            agent_path=None) as conn:
        async with conn.start_sftp_client() as sftp:
            if op == "get":
                await sftp.get(src, dst)
            elif op == "put":
                await sftp.put(src, dst)
            else:
                sys.exit("asyncssh: unknown operation %r" % op)


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) != 7:
        sys.exit(__doc__)
    asyncio.run(main(int(a[0]), a[1], a[2], a[3], a[4], a[5], a[6]))
