-- SFTP bulk transfers (issue 7, "make bench").
--
-- One run measures, per cipher (aes128-gcm@openssh.com and
-- chacha20-poly1305@openssh.com; compression off, ed25519 host key),
-- BENCH_BYTES of random data (a file on tmpfs) moved one way at a time:
--
-- (1) Clients against OpenSSH's sshd (its own config on a random loopback
--     port, as spec/support/sshd.lua starts it) with its sftp-server as
--     the "sftp" subsystem; `get` (server file to a local file) and `put`
--     (the other way), each with its defaults:
--       luassh    this file run again with --client by the luassh binary
--                 under test: ssh.connect, conn:start_sftp_client(),
--                 sftp:get(src, dst) or sftp:put(src, dst);
--       sftp      OpenSSH's `sftp -b BATCH` (one get or put line);
--       asyncssh  bench/bench_sftp_asyncssh.py (Debian's python3):
--                 conn.start_sftp_client(), sftp.get/put.
--     Client CPU is the user+sys time of the client process, read to the
--     millisecond with bash's `time` (its getrusage of the child; for sftp
--     that includes its ssh child, which it reaps).
-- (2) OpenSSH's `sftp -b` get and put against two servers:
--       luassh    this file run with --server by the luassh binary under
--                 test, its own process: ssh.listen with
--                 sftp_factory = {chroot = DIR/root};
--       sshd      the sshd of (1).
--     Server CPU is read from /proc/PID/stat before and after the run:
--     the luassh server process's own user+sys (all its threads); for
--     sshd, the listening sshd's own time plus its reaped children's
--     (cutime/cstime), so the per-connection monitor, the session process
--     and sftp-server (run through a /bin/sh wrapper that records its
--     `times` so that sftp-server's share can be shown) are all counted,
--     as bench_server_bulk.lua accounts sshd.
--
-- Every client/server pair also gets a 0-byte file of the same cipher;
-- its wall and CPU (start-up, key exchange, auth, SFTP init) are
-- subtracted, so the figures are per byte moved:
--   MB/s        = BENCH_BYTES / (wall - wall_0) / 1e6
--   CPU s/GiB   = (cpu - cpu_0) * 2^30 / BENCH_BYTES
-- Targets (issue 7), for (1) on the same cipher: luassh throughput
-- >= 1.2x OpenSSH sftp's, luassh client CPU/GiB <= 0.5x sftp's.
-- Every copy is compared with its source (cmp); a mismatch fails the run.
--
-- On a virtual machine one run of any client can cost up to twice its
-- usual kernel time: writing the destination into tmpfs pages the host
-- has not backed yet (perf shows copy_folio_from_iter_atomic at ~45%
-- of the client's time, against ~5% in a normal run).  It strikes every
-- client alike and at random, so use BENCH_RUNS=3 or more: the best run
-- of each is compared.
--
-- Below a few hundred MiB the figures are dominated by the noise of
-- process start-up (asyncssh's especially); BENCH_BYTES=33554432 checks
-- the harness in well under a minute.
--
-- Environment: BENCH_BYTES (default 1073741824), BENCH_RUNS (default 1;
-- the best of n by the measured CPU is kept), BENCH_VERBOSE (non-empty:
-- every run's raw figures on stderr), BENCH_CIPHERS (names or
-- Lua patterns, comma-separated: only matching rows), BENCH_PARTS ("1",
-- "2" or "1,2", the default: which of the tables above to run),
-- BENCH_OPS ("get", "put" or "get,put", the default: which rows),
-- BENCH_LUASSH (the luassh binary for our client and server; default: the
-- one running this file), BENCH_WRAP (a command prefix for our client's
-- runs, e.g. "perf record -o FILE --"; its cost is then counted too).  Files live in a temp dir under /dev/shm (tmpfs), removed at the
-- end with the servers.  Run from the repository root:
--   build/luassh bench/bench_sftp.lua

local SELF = (arg and arg[0]) or "bench/bench_sftp.lua"

local function write_atomic(path, text)
  local f = assert(io.open(path .. ".tmp", "wb"))
  f:write(text)
  f:close()
  assert(os.rename(path .. ".tmp", path))
end

-- Server mode: luassh SELF --server DIR ----------------------------------------

if arg and arg[1] == "--server" then
  local ssh = require "luassh"
  local dir = arg[2]
  local l = ssh.listen("127.0.0.1", 0, {
    server_host_keys = {dir .. "/ssh_host_ed25519_key"},
    authorized_client_keys = dir .. "/authorized_keys",
    sftp_factory = {chroot = dir .. "/root"},
    login_timeout = 600,
    log_host_key = false,
  })
  write_atomic(dir .. "/port.luassh", tostring(l:get_port()) .. "\n")
  l:wait_closed()
  return
end

-- Client mode: luassh SELF --client PORT DIR CIPHER get|put SRC DST --------------

if arg and arg[1] == "--client" then
  local ssh = require "luassh"
  local port = math.tointeger(tonumber(arg[2]))
  local dir, cipher, op, src, dst = arg[3], arg[4], arg[5], arg[6], arg[7]
  local conn <close> = ssh.connect("127.0.0.1", port, {
    username = "root",
    client_keys = {dir .. "/id_ed25519"},
    known_hosts = ("%s/known_hosts.%d"):format(dir, port),
    encryption_algs = {cipher},
    compression_algs = false,
    server_host_key_algs = {"ssh-ed25519"},
    agent_path = false,
    config = false,
  })
  local sftp <close> = conn:start_sftp_client()
  if op == "get" then
    sftp:get(src, dst)
  elseif op == "put" then
    sftp:put(src, dst)
  else
    error("unknown operation " .. tostring(op))
  end
  return
end

-- Driver ------------------------------------------------------------------------

local B = require "bench.bench_server_lib"
local ssh = require "luassh"
local sshd = require "spec.support.sshd"
local q = B.q

local BYTES = math.tointeger(tonumber(os.getenv("BENCH_BYTES") or "")) or 1073741824
local RUNS = math.tointeger(tonumber(os.getenv("BENCH_RUNS") or "")) or 1
local FILTER = os.getenv("BENCH_CIPHERS")
local function set_of(env, default)
  local t = {}
  for item in (os.getenv(env) or default):gmatch("[^,%s]+") do t[item] = true end
  return t
end
local PARTS = set_of("BENCH_PARTS", "1,2")
local OPS = {}
do
  local want = set_of("BENCH_OPS", "get,put")
  for _, op in ipairs {"get", "put"} do
    if want[op] then OPS[#OPS + 1] = op end
  end
end
local VERBOSE = (os.getenv("BENCH_VERBOSE") or "") ~= ""
local CIPHERS = {"aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"}
local GIB = 1073741824
local BASE_RUNS = 2
local BASH = "/bin/bash"
local SFTP_SERVER = "/usr/lib/openssh/sftp-server"
local PY = "bench/bench_sftp_asyncssh.py"
local TPUT_TARGET, CPU_TARGET = 1.2, 0.5

if BYTES < 1 then error("BENCH_BYTES must be at least 1", 0) end

for _, need in ipairs {
  {sshd.available(), "no /usr/sbin/sshd"},
  {B.sh_ok("test -x " .. SFTP_SERVER), "no " .. SFTP_SERVER},
  {B.sh_ok("command -v sftp"), "no OpenSSH sftp client"},
  {B.sh_ok("test -x " .. BASH), "no " .. BASH},
} do
  if not need[1] then
    print("skipped: " .. need[2])
    return
  end
end

local function selected(cipher)
  if not FILTER or FILTER == "" then return true end
  for item in FILTER:gmatch("[^,%s]+") do
    if cipher:find(item, 1, true) then return true end
    local okm, m = pcall(string.match, cipher, item)
    if okm and m then return true end
  end
  return false
end

local ciphers = {}
for _, c in ipairs(CIPHERS) do
  if selected(c) then ciphers[#ciphers + 1] = c end
end
if #ciphers == 0 then
  print("skipped: BENCH_CIPHERS matches none of " .. table.concat(CIPHERS, ", "))
  return
end

local have_async = B.have_asyncssh()

math.randomseed(os.time() ~ (tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0))

local dir
do
  local p = io.popen("mktemp -d /dev/shm/luassh-bench-sftp.XXXXXX 2>/dev/null")
  dir = p and p:read("l")
  if p then p:close() end
  if not dir or dir == "" then dir = B.tmpdir() end
end
local root = dir .. "/root"          -- the luassh server's chroot
local SRC = root .. "/src.bin"       -- BENCH_BYTES of random data
local EMPTY = root .. "/empty.bin"   -- the 0-byte runs' file
local TIMES = dir .. "/sftp-server.times"

local servers = {}
local sshd_srv

local function cleanup()
  local l = servers.luassh
  if l then
    B.kill(l.pid)
    B.wait_exit(l.pid, 5)
  end
  if sshd_srv then sshd_srv.stop() end
  B.rmtree(dir)
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

local function start_luassh_server()
  os.remove(dir .. "/port.luassh")
  local pid = B.spawn(("%s %s --server %s"):format(q(B.LUASSH), q(SELF), q(dir)),
                      dir .. "/server.luassh.log")
  if not B.wait_file(dir .. "/port.luassh", 30, pid) then
    B.kill(pid)
    error("luassh server did not start: " .. (B.readfile(dir .. "/server.luassh.log") or ""), 0)
  end
  return pid, math.tointeger(tonumber(B.readfile(dir .. "/port.luassh")))
end

local setup_ok, setup_err = pcall(function()
  B.keys(dir)
  assert(B.sh_ok("mkdir " .. q(root)), "mkdir failed")
  -- Touch twice BENCH_BYTES of tmpfs first: in a VM the first use of guest
  -- memory can cost several CPU seconds per GiB, which would otherwise
  -- land on whichever run first needs that much memory.
  -- (Not B.sh_ok: its own >/dev/null would take the place of this one.)
  assert(os.execute(("head -c %d /dev/zero > %s; rm -f %s"):format(2 * BYTES,
    q(dir .. "/warm"), q(dir .. "/warm"))) == true, "could not write to " .. dir)
  assert(os.execute(("head -c %d /dev/urandom > %s"):format(BYTES, q(SRC))) == true
         and file_size(SRC) == BYTES, "could not write the source file")
  B.writefile(EMPTY, "")
  -- sshd runs the subsystem line through root's shell; the wrapper keeps
  -- sftp-server's own CPU time for the (2) table.
  B.writefile(dir .. "/sftp-server.sh", ("#!/bin/sh\n%s \"$@\"\nrc=$?\ntimes > %s\nexit $rc\n")
    :format(SFTP_SERVER, q(TIMES)))
  sshd_srv = sshd.start {
    host_keys = {dir .. "/ssh_host_ed25519_key"},
    authorized_keys = B.readfile(dir .. "/authorized_keys"),
    log_level = "INFO", -- sshd.start waits for "Server listening"
    -- As bench_client_download.lua: keep root's shell start-up cheap.
    first = {"SetEnv SHLVL=1"},
    extra = {"Subsystem sftp /bin/sh " .. dir .. "/sftp-server.sh"},
  }
  local spid
  for _ = 1, 100 do
    spid = math.tointeger(tonumber(B.readfile(sshd_srv.dir .. "/sshd.pid") or ""))
    if spid then break end
    B.sleep(0.02)
  end
  if not spid then error("sshd wrote no pid file", 0) end
  servers.sshd = {kind = "sshd", pid = spid, port = sshd_srv.port,
                  remote = function(name) return root .. "/" .. name end}
  local lpid, lport = start_luassh_server()
  servers.luassh = {kind = "luassh", pid = lpid, port = lport,
                    remote = function(name) return "/" .. name end}
  B.known_hosts(dir, sshd_srv.port)
  B.known_hosts(dir, lport)
end)
if not setup_ok then
  cleanup()
  error(setup_err, 0)
end

-- The command line of one client run.
local function client_cmd(client, port, cipher, op, src, dst)
  local key, kh = dir .. "/id_ed25519", ("%s/known_hosts.%d"):format(dir, port)
  if client == "luassh" then
    return table.concat({os.getenv("BENCH_WRAP") or "", q(B.LUASSH), q(SELF),
                         "--client", port, q(dir), q(cipher),
                         op, q(src), q(dst)}, " ")
  elseif client == "sftp" then
    local batch = dir .. "/batch"
    B.writefile(batch, ('%s "%s" "%s"\n'):format(op, src, dst))
    return table.concat({"sftp -F /dev/null -q -b", q(batch), "-i", q(key),
      "-o IdentitiesOnly=yes -o IdentityAgent=none",
      "-o UserKnownHostsFile=" .. q(kh), "-o GlobalKnownHostsFile=/dev/null",
      "-o StrictHostKeyChecking=yes -o HostKeyAlgorithms=ssh-ed25519",
      "-o Compression=no -o ControlMaster=no -o ControlPath=none",
      "-o Ciphers=" .. q(cipher), "-P", port, "root@127.0.0.1"}, " ")
  end
  return table.concat({B.PYTHON, q(PY), port, q(key), q(kh), q(cipher), op,
                       q(src), q(dst)}, " ")
end

-- `times` output: the shell's own and its children's user and sys times.
local function parse_times(text)
  local total, found = 0, false
  for m, s in (text or ""):gmatch("(%d+)m([%d.]+)s") do
    total = total + tonumber(m) * 60 + tonumber(s)
    found = true
  end
  return found and total or nil
end

local function server_cpu(s)
  local own, kids = B.cpu(s.pid)
  return own and own + kids
end

-- One client run of n bytes (n is 0 or BYTES): {wall=, cpu= client,
-- scpu= server, sftps= sftp-server's (sshd only)} or nil on failure.
local function run_once(client, s, cipher, op, n)
  local src, dst, out, want
  if n == 0 then
    op, src, dst, out, want = "get", s.remote("empty.bin"), dir .. "/out.bin", dir .. "/out.bin", EMPTY
  elseif op == "get" then
    src, dst, out, want = s.remote("src.bin"), dir .. "/out.bin", dir .. "/out.bin", SRC
  else
    src, dst, out, want = SRC, s.remote("out.bin"), root .. "/out.bin", SRC
  end
  os.remove(out)
  os.remove(TIMES)
  local tf, ef, script = dir .. "/time.out", dir .. "/client.err", dir .. "/run.sh"
  os.remove(tf)
  -- bash's `time`: the child's getrusage to the millisecond (/usr/bin/time
  -- prints hundredths, too coarse for small BENCH_BYTES).
  B.writefile(script, ("TIMEFORMAT='%%3U %%3S'\n{ time %s >%s 2>&1 </dev/null ; } 2>%s\n")
    :format(client_cmd(client, s.port, cipher, op, src, dst), q(ef), q(tf)))
  local s0 = server_cpu(s)
  local w0 = ssh.now()
  local okr = os.execute(BASH .. " " .. q(script))
  local wall = ssh.now() - w0
  if s.kind == "sshd" then B.wait_reaped(s.pid, 10) else B.sleep(0.2) end
  local s1 = server_cpu(s)
  local u, sy = (B.readfile(tf) or ""):match("([%d.]+) ([%d.]+)%s*$")
  local problem
  if okr ~= true or not u then
    problem = (B.readfile(ef) or "") .. (B.readfile(tf) or "")
  elseif not B.sh_ok(("cmp %s %s"):format(q(want), q(out))) then
    problem = ("%s differs from %s"):format(out, want)
  elseif not (s0 and s1) then
    problem = "the server has gone"
  end
  os.remove(out)
  if VERBOSE then
    io.stderr:write(("  %-8s -> %-6s %-29s %s %10d: wall %.3f client %s server %s\n"):format(
      client, s.kind, cipher, op, n, wall, u and ("%.3f"):format(u + sy) or "-",
      s0 and s1 and ("%.2f"):format(s1 - s0) or "-"))
  end
  if problem then
    io.stderr:write(("%s -> %s %s %s %d bytes: failed: %s\n"):format(client, s.kind, cipher,
                    op, n, (problem:gsub("%s+$", ""))))
    return nil
  end
  return {wall = wall, cpu = tonumber(u) + tonumber(sy), scpu = s1 - s0,
          sftps = s.kind == "sshd" and parse_times(B.readfile(TIMES)) or nil}
end

local base = {} -- "client server cipher" -> the 0-byte run

-- Net figures of one client/server/cipher/op: {mbs=, cpu=, scpu=, sftps=}
-- (per GiB), or {} on failure.  by: "cpu" or "scpu", which CPU picks the
-- best of BENCH_RUNS.
local function measure(client, s, cipher, op, by)
  if not s then return {} end
  local k = table.concat({client, s.kind, cipher}, " ")
  if base[k] == nil then
    -- the least of each figure over BASE_RUNS 0-byte runs (the first
    -- also warms up the client's and the server's page cache)
    local b = {}
    for _ = 1, BASE_RUNS do
      local r = run_once(client, s, cipher, "get", 0)
      if not r then b = false break end
      for f, v in pairs(r) do b[f] = math.min(b[f] or v, v) end
    end
    base[k] = b
  end
  local b = base[k]
  if not b then return {} end
  local best
  for _ = 1, RUNS do
    local r = run_once(client, s, cipher, op, BYTES)
    if not r then return {} end
    if not best or r[by] < best[by] then best = r end
  end
  local function per_gib(x, x0)
    if x and x0 then return math.max(x - x0, 0) * GIB / BYTES end
  end
  return {mbs = BYTES / math.max(best.wall - b.wall, 0.001) / 1e6,
          cpu = per_gib(best.cpu, b.cpu), scpu = per_gib(best.scpu, b.scpu),
          sftps = per_gib(best.sftps, b.sftps)}
end

local function verdict_min(v, limit)
  if v == nil then return "-" end
  return v >= limit and "ok" or "MISS"
end

local fmt, ratio = B.fmt, B.ratio

local run_ok, run_err = pcall(function()
  print(("%d bytes of random data, tmpfs to tmpfs; best of %d; net of a 0-byte get; "
    .. "luassh: %s"):format(BYTES, RUNS, B.LUASSH))
  if not have_async then
    print("note: no asyncssh under " .. B.PYTHON .. "; its columns are empty")
  end
  if PARTS["1"] then
    print()
    print("(1) clients against sshd + sftp-server.  CPU = client user+sys s/GiB "
      .. "(sftp: with its ssh).")
    print(("    targets: luassh MB/s >= %.1fx sftp's, luassh CPU <= %.1fx sftp's"):format(
      TPUT_TARGET, CPU_TARGET))
    local h1 = "%-29s %-3s %7s %7s %7s | %6s %6s %6s | %6s %-4s %6s %-4s | %6s %6s"
    print(h1:format("", "", "luassh", "sftp", "async", "luassh", "sftp", "async",
                    "luassh/sftp", "", "", "", "luassh/async", ""))
    print(h1:format("cipher", "op", "MB/s", "MB/s", "MB/s", "CPU", "CPU", "CPU",
                    "MB/s", ">=" .. TPUT_TARGET, "CPU", "<=" .. CPU_TARGET, "MB/s", "CPU"))
    io.stdout:flush()
    for _, cipher in ipairs(ciphers) do
      for _, op in ipairs(OPS) do
        local l = measure("luassh", servers.sshd, cipher, op, "cpu")
        local o = measure("sftp", servers.sshd, cipher, op, "cpu")
        local a = have_async and measure("asyncssh", servers.sshd, cipher, op, "cpu") or {}
        local rt, rc = ratio(l.mbs, o.mbs), ratio(l.cpu, o.cpu)
        print(h1:format(cipher, op, fmt(l.mbs, "%.0f"), fmt(o.mbs, "%.0f"), fmt(a.mbs, "%.0f"),
          fmt(l.cpu, "%.2f"), fmt(o.cpu, "%.2f"), fmt(a.cpu, "%.2f"),
          fmt(rt, "%.2fx"), verdict_min(rt, TPUT_TARGET), fmt(rc, "%.2fx"), B.verdict(rc, CPU_TARGET),
          fmt(ratio(l.mbs, a.mbs), "%.2fx"), fmt(ratio(l.cpu, a.cpu), "%.2fx")))
        io.stdout:flush()
      end
    end
  end

  if not PARTS["2"] then return end
  print()
  print("(2) OpenSSH `sftp -b` against the luassh server (sftp_factory = {chroot}, its own")
  print("    process) and against sshd + sftp-server.  CPU = server user+sys s/GiB (sshd: all")
  print("    its processes for the connection, sftp-server included; its share in sftp-srv).")
  local h2 = "%-29s %-3s %7s %7s | %6s %6s %8s | %11s %11s"
  print(h2:format("", "", "luassh", "sshd", "luassh", "sshd", "sftp-srv",
                  "luassh/sshd", "luassh/sshd"))
  print(h2:format("cipher", "op", "MB/s", "MB/s", "CPU", "CPU", "CPU", "MB/s", "CPU"))
  io.stdout:flush()
  for _, cipher in ipairs(ciphers) do
    for _, op in ipairs(OPS) do
      local l = measure("sftp", servers.luassh, cipher, op, "scpu")
      local o = measure("sftp", servers.sshd, cipher, op, "scpu")
      local rc = ratio(l.scpu, o.scpu)
      print(h2:format(cipher, op, fmt(l.mbs, "%.0f"), fmt(o.mbs, "%.0f"),
        fmt(l.scpu, "%.2f"), fmt(o.scpu, "%.2f"), fmt(o.sftps, "%.2f"),
        fmt(ratio(l.mbs, o.mbs), "%.2fx"), fmt(rc, "%.2fx")))
      io.stdout:flush()
    end
  end
end)
cleanup()
if not run_ok then error(run_err, 0) end
