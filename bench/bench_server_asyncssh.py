"""AsyncSSH side of the SSH server benchmarks (issue 6, "make bench").

Usage (run by bench/bench_server_*.lua with Debian's /usr/bin/python3):
  bench_server_asyncssh.py server DIR
      asyncssh.listen on 127.0.0.1 port 0 with DIR/ssh_host_ed25519_key and
      DIR/authorized_keys; writes the port to DIR/port.asyncssh.
  bench_server_asyncssh.py connect-client DIR PORT N
      N sequential connect + auth + exec `true` + close.
  bench_server_asyncssh.py fanout-client DIR PORT N
      N concurrent connections (asyncio.gather), each running `echo`, then
      all held open idle until the driver releases them.

The same commands and the same protocol with the driver as the luassh
modes of bench/bench_server_lib.lua (which see).
"""
import asyncio
import gc
import os
import re
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # cryptography's deprecation notices

import asyncssh  # noqa: E402

CHUNK = 65536
HEAD = re.compile(r"^head -c (\d+) /dev/zero")


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


async def wait_for(path):
    while not os.path.exists(path):
        await asyncio.sleep(0.01)


async def handle(process):
    cmd = process.command or ""
    m = HEAD.match(cmd)
    if m:
        n = int(m.group(1))
        zero = bytes(CHUNK)
        out = process.stdout
        while n >= CHUNK:
            out.write(zero)
            await out.drain()
            n -= CHUNK
        if n:
            out.write(zero[:n])
            await out.drain()
        process.exit(0)
    elif cmd == "true":
        process.exit(0)
    elif cmd.startswith("echo "):
        process.stdout.write((cmd[5:] + "\n").encode())
        process.exit(0)
    elif cmd == "gc":
        gc.collect()
        process.exit(0)
    else:
        process.stderr.write(b"bench server: unknown command\n")
        process.exit(127)


async def server(d):
    srv = await asyncssh.listen(
        "127.0.0.1", 0, server_host_keys=[d + "/ssh_host_ed25519_key"],
        authorized_client_keys=d + "/authorized_keys",
        process_factory=handle, encoding=None, backlog=1024,
        login_timeout=600)
    write_atomic(d + "/port.asyncssh", "%d\n" % srv.sockets[0].getsockname()[1])
    await srv.wait_closed()


def client_opts(d, port):
    with open(d + "/ssh_host_ed25519_key.pub") as f:
        hostpub = f.read()
    return dict(
        username="root",
        client_keys=[asyncssh.read_private_key(d + "/id_ed25519")],
        known_hosts=asyncssh.import_known_hosts(
            "[127.0.0.1]:%d %s" % (port, hostpub)),
        agent_path=None, config=None)


async def connect_client(d, port, n):
    opts = client_opts(d, port)

    async def once():
        async with asyncssh.connect("127.0.0.1", port, **opts) as conn:
            r = await conn.run("true")
            if r.exit_status != 0:
                raise RuntimeError("`true` exited with %r" % r.exit_status)
        await conn.wait_closed()

    await once()  # warm-up, not counted
    write_atomic(d + "/ready", "")
    await wait_for(d + "/go")
    c0, w0 = time.process_time(), time.monotonic()
    for _ in range(n):
        await once()
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    print("cpu %.6f wall %.6f" % (cpu, wall))


async def fanout_client(d, port, n):
    opts = client_opts(d, port)
    async with asyncssh.connect("127.0.0.1", port, **opts) as conn:
        await conn.run("echo warm")  # warm-up, not counted
    gc.collect()
    write_atomic(d + "/ready", "")
    await wait_for(d + "/go")
    conns = [None] * n
    bad = 0

    async def one(i):
        nonlocal bad
        conn = await asyncssh.connect("127.0.0.1", port, **opts)
        conns[i] = conn
        r = await conn.run("echo hello %d" % (i + 1))
        if r.exit_status != 0 or r.stdout != "hello %d\n" % (i + 1):
            bad += 1
        return True

    w0 = time.monotonic()
    res = await asyncio.gather(*(one(i) for i in range(n)),
                               return_exceptions=True)
    wall = time.monotonic() - w0
    failed = 0
    for i, r in enumerate(res):
        if r is not True:
            failed += 1
            if failed <= 3:
                print("connection %d: %r" % (i + 1, r), file=sys.stderr)
    open_conns = [c for c in conns if c is not None]
    gc.collect()
    if open_conns:
        await open_conns[0].run("gc")
    gc.collect()
    write_atomic(d + "/idle", "")
    await wait_for(d + "/release")
    for c in open_conns:
        c.close()
    print("wall %.6f failed %d bad %d" % (wall, failed, bad))


def main():
    a = sys.argv[1:]
    mode, d = a[0], a[1]
    if mode == "server":
        asyncio.run(server(d))
    elif mode == "connect-client":
        asyncio.run(connect_client(d, int(a[2]), int(a[3])))
    elif mode == "fanout-client":
        asyncio.run(fanout_client(d, int(a[2]), int(a[3])))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
