-- Server bulk output (issue 6, "make bench" (a)).
--
-- Three servers on loopback ports, all with the same ed25519 host key,
-- each answer `head -c $BENCH_BYTES /dev/zero` to OpenSSH's `ssh` client
-- (stdout to /dev/null), one after the other, per cipher (the client
-- forces it with -o Ciphers; compression off):
--   luassh    bench/bench_server_lib.lua --server run by the luassh binary
--             under test: a process_factory handler writing 64 KiB chunks,
--             each followed by drain();
--   sshd      OpenSSH's sshd (its own config on a random port, as
--             spec/support/sshd.lua starts it), running the command;
--   asyncssh  bench/bench_server_asyncssh.py server (Debian's python3):
--             a process_factory writing the same chunks with drain().
-- Server CPU is the user+sys time of the server process read from
-- /proc/PID/stat before and after the client's run.  For sshd it is the
-- listening sshd's whole tree (the per-connection monitor and session
-- processes are reaped into its cutime/cstime) less the CPU of the
-- session's shell and `head`, which the session prints with `times`:
-- what is left is sshd's own work.  Every server also serves a 0-byte
-- run of the same cipher, whose wall and CPU (key exchange, auth,
-- session set-up) are subtracted, so the figures are per byte moved:
--   MB/s        = BENCH_BYTES / (wall - wall_0) / 1e6
--   CPU s/GiB   = (cpu - cpu_0) * 2^30 / BENCH_BYTES
--   ratio       = luassh CPU s/GiB / the other server's.
-- Target (issue 6): luassh server CPU per GiB <= 0.8x sshd's.
--
-- Environment: BENCH_BYTES (default 1073741824), BENCH_RUNS (default 1;
-- the best of n by server CPU is kept), BENCH_CIPHERS (a Lua
-- pattern: only matching rows), BENCH_LUASSH (the luassh binary for the
-- server; default: the one running this file).  Run from the repository
-- root:  build/luassh bench/bench_server_bulk.lua
local B = require "bench.bench_server_lib"
local ssh = require "luassh"

local BYTES = math.tointeger(tonumber(os.getenv("BENCH_BYTES") or "")) or 1073741824
local RUNS = math.tointeger(tonumber(os.getenv("BENCH_RUNS") or "")) or 1
local FILTER = os.getenv("BENCH_CIPHERS")
local CIPHERS = {"aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"}
local GIB = 1073741824

if not B.sh_ok("command -v ssh") then
  print("skipped: no OpenSSH ssh client")
  return
end

local dir = B.tmpdir()
B.keys(dir)

local servers = {} -- kind -> {pid=, port=, stop=}
local order = {"luassh", "sshd", "asyncssh"}

local function stop_all()
  for _, s in pairs(servers) do
    if s.stop then s.stop() else B.kill(s.pid) end
  end
  B.rmtree(dir)
end

local ok, err = pcall(function()
  local pid, port = B.start_luassh_server(dir)
  servers.luassh = {pid = pid, port = port}
  local spid, sport, sstop = B.start_sshd(dir)
  if spid then
    servers.sshd = {pid = spid, port = sport, stop = sstop}
  else
    print("note: no /usr/sbin/sshd; its columns are empty")
  end
  if B.have_asyncssh() then
    local apid, aport = B.start_asyncssh_server(dir)
    servers.asyncssh = {pid = apid, port = aport}
  else
    print("note: no asyncssh under " .. B.PYTHON .. "; its columns are empty")
  end
end)
if not ok then
  stop_all()
  error(err, 0)
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

-- One client run: wall seconds, server CPU seconds (sshd: net of the
-- command; and gross), or nil.
local function run_once(kind, cipher, n)
  local s = servers[kind]
  local command = ("head -c %d /dev/zero"):format(n)
  if kind == "sshd" then command = command .. "; times >&2" end
  local errf = dir .. "/ssh.stderr"
  local cmd = B.ssh_cmd(dir, s.port, command, cipher) .. " >/dev/null 2>" .. B.q(errf)
  local u0, c0 = B.cpu(s.pid)
  local w0 = ssh.now()
  local okr = os.execute(cmd)
  local wall = ssh.now() - w0
  if kind == "sshd" then B.wait_reaped(s.pid, 10) else B.sleep(0.2) end
  local u1, c1 = B.cpu(s.pid)
  if okr ~= true or not u1 then
    io.stderr:write(("%s %s: failed: %s\n"):format(kind, cipher,
                    (B.readfile(errf) or ""):gsub("%s+$", "")))
    return nil
  end
  local gross = (u1 + c1) - (u0 + c0)
  local net = gross
  if kind == "sshd" then
    local t = parse_times(B.readfile(errf))
    if not t then
      io.stderr:write("sshd: no `times` output from the session\n")
      return nil
    end
    net = gross - t
  end
  return wall, net, gross
end

local function measure(kind, cipher)
  if not servers[kind] then return {} end
  local w0, n0, g0 = run_once(kind, cipher, 0)
  if not w0 then return {} end
  local w, n, g
  for _ = 1, RUNS do -- the best of RUNS by server CPU
    local w1, n1, g1 = run_once(kind, cipher, BYTES)
    if not w1 then return {} end
    if not n or n1 < n then w, n, g = w1, n1, g1 end
  end
  local wall = math.max(w - w0, 0.001)
  return {mbs = BYTES / wall / 1e6,
          cpu = math.max(n - n0, 0) * GIB / BYTES,
          gross = math.max(g - g0, 0) * GIB / BYTES}
end

print(("%d bytes (`head -c N /dev/zero`) from each server to OpenSSH ssh "
  .. "(stdout to /dev/null); best of %d by CPU, net of a 0-byte run; luassh: %s"):format(
  BYTES, RUNS, B.LUASSH))
print("CPU = server user+sys seconds per GiB (sshd: its process tree less the "
  .. "session's shell and head); ratio = luassh CPU / other CPU (target: <= 0.80 vs sshd)")
print(("%-30s %8s %8s %8s | %7s %7s %7s | %7s %7s %6s"):format(
  "", "luassh", "sshd", "async", "luassh", "sshd", "async", "/sshd", "/async", "target"))
print(("%-30s %8s %8s %8s | %7s %7s %7s | %7s %7s %6s"):format(
  "cipher", "MB/s", "MB/s", "MB/s", "CPU", "CPU", "CPU", "ratio", "ratio", "<=0.8"))
io.stdout:flush()

local notes = {}
local run_ok, run_err = pcall(function()
  for _, cipher in ipairs(CIPHERS) do
    if not FILTER or cipher:match(FILTER) then
      local res = {}
      for _, kind in ipairs(order) do res[kind] = measure(kind, cipher) end
      local l, s, a = res.luassh, res.sshd, res.asyncssh
      local rs, ra = B.ratio(l.cpu, s.cpu), B.ratio(l.cpu, a.cpu)
      print(("%-30s %8s %8s %8s | %7s %7s %7s | %7s %7s %6s"):format(cipher,
        B.fmt(l.mbs, "%.0f"), B.fmt(s.mbs, "%.0f"), B.fmt(a.mbs, "%.0f"),
        B.fmt(l.cpu, "%.2f"), B.fmt(s.cpu, "%.2f"), B.fmt(a.cpu, "%.2f"),
        B.fmt(rs, "%.2fx"), B.fmt(ra, "%.2fx"), B.verdict(rs, 0.8)))
      io.stdout:flush()
      if s.gross then
        notes[#notes + 1] = ("  %s: sshd with its shell and head %.2f s/GiB "
          .. "(luassh / that: %s)"):format(cipher, s.gross,
          B.fmt(B.ratio(l.cpu, s.gross), "%.2fx"))
      end
    end
  end
end)
for _, n in ipairs(notes) do print(n) end
stop_all()
if not run_ok then error(run_err, 0) end
