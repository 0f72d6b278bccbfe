# A tiny FUSE filesystem for spec/sftp_server_async_spec.lua: a stalled
# disk on demand.  Mounted at argv[1] (needs root and /dev/fuse; speaks
# the kernel's FUSE protocol itself, no libfuse).  The root directory is
# empty; a LOOKUP of "slow" is answered (ENOENT) only once the file
# argv[2] exists, or after 20 s, so that stat("slow") blocks in the
# kernel meanwhile.  Prints "ready" once mounted; exits at unmount.
import ctypes, os, struct, sys, threading, time

mnt, gofile = sys.argv[1], sys.argv[2]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = ("fd=%d,rootmode=40000,user_id=0,group_id=0" % fd).encode()
if libc.mount(b"slowfs", mnt.encode(), b"fuse", 0, opts) != 0:
    sys.exit("mount: " + os.strerror(ctypes.get_errno()))
print("ready", flush=True)
lock = threading.Lock()


def reply(unique, err, payload=b""):
    with lock:
        os.write(fd, struct.pack("<IiQ", 16 + len(payload), -err, unique)
                 + payload)


def attr(ino, mode):
    now = int(time.time())
    return struct.pack("<QQQQQQIIIIIIIIII", ino, 0, 0, now, now, now,
                       0, 0, 0, mode, 2, 0, 0, 0, 4096, 0)


def later(unique):
    end = time.time() + 20
    while not os.path.exists(gofile) and time.time() < end:
        time.sleep(0.02)
    try:
        reply(unique, 2)  # ENOENT
    except OSError:
        pass


while True:
    try:
        req = os.read(fd, (1 << 20) + 4096)
    except OSError:
        break
    ln, op, unique, node = struct.unpack_from("<IIQQ", req)
    body = req[40:ln]
    if op == 26:  # INIT: protocol 7.31
        reply(unique, 0, struct.pack("<IIIIHHIIHH", 7, 31, 0, 0, 16, 16,
                                     65536, 1, 32, 0) + bytes(32))
    elif op == 3:  # GETATTR
        reply(unique, 0, struct.pack("<QII", 1, 0, 0) + attr(node, 0o40755))
    elif op == 1:  # LOOKUP
        if body.split(b"\0", 1)[0] == b"slow":
            threading.Thread(target=later, args=(unique,), daemon=True).start()
        else:
            reply(unique, 2)
    elif op in (2, 42):  # FORGET, BATCH_FORGET: no reply
        pass
    elif op == 38:  # DESTROY
        break
    else:
        reply(unique, 38)  # ENOSYS
