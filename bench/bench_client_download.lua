-- Bulk download through the SSH client (issue 5, "make bench").
--
-- One OpenSSH sshd on a random loopback port (its own config, host and
-- user keys in a temp dir, as spec/support/sshd.lua starts it for the
-- interop specs) serves `head -c $BENCH_BYTES /dev/zero`.  Three clients
-- download it, read everything and discard it, one at a time, per cipher:
--   luassh    this file run again with --client: ssh.connect,
--             conn:create_process, proc.stdout:read(65536) until EOF;
--   ssh       OpenSSH's client, stdout to /dev/null;
--   asyncssh  bench/bench_client_download.py (conn.create_process,
--             proc.stdout.read(65536) until EOF), Debian's python3.
-- Every client runs as a child of a small timer (python3, os.wait4): CPU
-- is the user+sys time of the client process, to the microsecond.  Each
-- client also runs 0-byte downloads of the same cipher (one before and
-- one after every measured run), and the least of their times (start-up,
-- key exchange, auth) is subtracted, so that the figures are per byte
-- moved:
--   MB/s        = BENCH_BYTES / (wall - wall_0) / 1e6
--   CPU s/GiB   = (cpu - cpu_0) * 2^30 / BENCH_BYTES
--   ratio       = luassh CPU s/GiB / the other client's.
-- Compression is off for every client; all use the same host key
-- (ssh-ed25519) and the default key exchange.
--
-- Each client's best run by CPU is kept (the runs of the three clients
-- are interleaved), because the figures move with the load on the machine
-- and with the server's pace: a client that drains the socket faster than
-- sshd fills it sleeps and wakes more often, and every wake-up costs CPU.
--
-- Environment: BENCH_BYTES (default 1073741824), BENCH_RUNS (default 3),
-- BENCH_CIPHERS (a substring: only the rows whose cipher name holds it),
-- BENCH_CLIENTS (default "luassh,ssh,asyncssh": the columns measured),
-- BENCH_ALT (a second luassh binary measured beside the first: A/B of a
-- change), BENCH_WRAP / BENCH_SSH_WRAP (a command put before the luassh /
-- ssh client on the measured runs, e.g. "perf record -g -o FILE").
-- Run from the repository root:
--   build/luassh bench/bench_client_download.lua
-- It exits non-zero when sshd or python3 is missing; without the asyncssh
-- module (Debian's python3-asyncssh) its columns are left empty, with a
-- note.  A client that fails (wrong byte count, error) is reported on
-- stderr and its columns are left empty.
-- Targets (issue 5): luassh CPU/GiB <= 0.8x ssh and <= 0.4x asyncssh.

local THIS = "bench/bench_client_download.lua"
local PY = "bench/bench_client_download.py"
local CHUNK = 65536

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Client mode -------------------------------------------------------------

if arg and arg[1] == "--client" then
  local ssh = require "luassh"
  local port, key, kh, cipher, mac, want, command =
    tonumber(arg[2]), arg[3], arg[4], arg[5], arg[6], tonumber(arg[7]), arg[8]
  local conn <close> = ssh.connect("127.0.0.1", {
    port = port, username = "root", client_keys = {key}, known_hosts = kh,
    encryption_algs = {cipher}, mac_algs = {mac}, compression_algs = false,
    server_host_key_algs = {"ssh-ed25519"}, agent_path = false,
  })
  local proc <close> = conn:create_process(command)
  local got = 0
  while true do
    local d = proc.stdout:read(CHUNK)
    if d == "" then break end
    got = got + #d
  end
  proc:wait()
  if got ~= want then
    io.stderr:write(("luassh: got %d bytes, expected %d\n"):format(got, want))
    os.exit(1)
  end
  return
end

-- Driver ------------------------------------------------------------------

local sshd = require "spec.support.sshd"
local util = require "spec.support.util"

local BYTES = math.tointeger(tonumber(os.getenv("BENCH_BYTES") or "")) or 1073741824
local RUNS = math.tointeger(tonumber(os.getenv("BENCH_RUNS") or "")) or 3
local FILTER = os.getenv("BENCH_CIPHERS")
local LUASSH = arg and arg[-1] or "build/luassh"
local PYTHON = "/usr/bin/python3"
-- The timer: runs `sh -c CMD` and writes "wall user sys" with microsecond
-- resolution (GNU time(1) prints only hundredths, too coarse for a
-- 256 MiB run that costs a fraction of a CPU second).
local TIMER = [[
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", cmd])
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
with open(out, "w") as f:
    f.write("%.6f %.6f %.6f\n" % (wall, ru.ru_utime, ru.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status))
]]
-- BENCH_WRAP: a command put before the luassh client on measured runs
-- (e.g. "perf record -g -o /tmp/perf.data"); its CPU then counts too.
local WRAP = os.getenv("BENCH_WRAP") or ""
local SSH_WRAP = os.getenv("BENCH_SSH_WRAP") or "" -- the same for ssh
-- BENCH_ALT: another luassh binary, measured beside this one (A/B of a
-- change); its CPU s/GiB is printed on a line of its own under each row.
local ALT = os.getenv("BENCH_ALT")

local ROWS = {
  {"chacha20-poly1305@openssh.com", "hmac-sha2-256-etm@openssh.com"},
  {"aes128-ctr", "hmac-sha2-256-etm@openssh.com"},
  {"aes128-gcm@openssh.com", "hmac-sha2-256-etm@openssh.com"},
  {"aes256-gcm@openssh.com", "hmac-sha2-256-etm@openssh.com"},
}

local function sh_ok(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok == true
end

local function readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Without a server or a timer there is nothing to measure: fail loudly
-- (non-zero exit) rather than print an empty table.
if not sshd.available() then
  io.stderr:write("bench_client_download: no OpenSSH sshd (/usr/sbin/sshd);"
                  .. " install openssh-server\n")
  os.exit(2)
end
if not sh_ok("test -x " .. PYTHON) then
  io.stderr:write("bench_client_download: no " .. PYTHON
                  .. " (it times the clients); install python3\n")
  os.exit(2)
end

local have_ssh = sh_ok("command -v ssh")
local have_async = sh_ok(PYTHON .. " -W ignore -c 'import asyncssh'")

math.randomseed(os.time() ~ (tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0))
local dir = util.tmpdir()
local hostkey = dir .. "/ssh_host_ed25519_key"
local userkey = dir .. "/id_ed25519"
assert(sh_ok("ssh-keygen -q -N '' -t ed25519 -f " .. q(hostkey)), "ssh-keygen")
assert(sh_ok("ssh-keygen -q -N '' -t ed25519 -f " .. q(userkey)), "ssh-keygen")

local srv
local ok, err = pcall(function()
  srv = sshd.start {
    host_keys = {hostkey},
    authorized_keys = readfile(userkey .. ".pub"),
    log_level = "INFO", -- sshd.start waits for "Server listening"
    -- As spec/support/client_env.lua: keep root's shell start-up cheap.
    first = {"SetEnv SHLVL=1"},
  }
end)
if not ok then
  util.rmtree(dir)
  error(err, 0)
end

local kh = dir .. "/known_hosts"
util.write(kh, ("[127.0.0.1]:%d %s"):format(srv.port, readfile(hostkey .. ".pub")))

local function command_for(n)
  return ("head -c %d /dev/zero"):format(n)
end

-- The shell command line for one client run.
local function client_cmd(client, cipher, mac, n)
  local cmd = command_for(n)
  if client == "luassh" or client == "alt" then
    local bin = client == "alt" and ALT or LUASSH
    return table.concat({n > 0 and WRAP or "", q(bin), q(THIS), "--client", srv.port, q(userkey),
                         q(kh), q(cipher), q(mac), n, q(cmd)}, " ")
  elseif client == "ssh" then
    return table.concat({n > 0 and SSH_WRAP or "", "ssh -F /dev/null -n -T -i", q(userkey),
      "-o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes",
      "-o UserKnownHostsFile=" .. q(kh), "-o GlobalKnownHostsFile=/dev/null",
      "-o StrictHostKeyChecking=yes -o HostKeyAlgorithms=ssh-ed25519",
      "-o Compression=no -o Ciphers=" .. q(cipher), "-o MACs=" .. q(mac),
      "-p", srv.port, "root@127.0.0.1", q(cmd)}, " ")
  else
    return table.concat({PYTHON, q(PY), srv.port, q(userkey), q(kh),
                         q(cipher), q(mac), n, q(cmd)}, " ")
  end
end

-- Runs one client under the timer: wall, cpu seconds (nil on failure).
local function timed_run(client, cipher, mac, n)
  local tf, ef = dir .. "/time", dir .. "/stderr"
  local cmd = ("%s -c %s %s %s > /dev/null 2> %s"):format(PYTHON, q(TIMER),
    q(tf), q(client_cmd(client, cipher, mac, n)), q(ef))
  local okr = os.execute(cmd)
  local t = readfile(tf) or ""
  local e, u, s = t:match("([%d.]+) ([%d.]+) ([%d.]+)%s*$")
  if okr ~= true or not e then
    local msg = (readfile(ef) or ""):gsub("%s+$", "")
    io.stderr:write(("%s %s: failed: %s\n"):format(client, cipher,
                    msg ~= "" and msg or t))
    return nil
  end
  return tonumber(e), tonumber(u) + tonumber(s)
end

-- Net figures for every client on one cipher: {client = {mbs=, cpu=}}.
-- The runs are interleaved (luassh, ssh, asyncssh, luassh, ...) so that a
-- change of load on the machine hits every client alike.
local function measure(clients, cipher, mac)
  local base, best = {}, {}
  for _, c in ipairs(clients) do
    local w0, c0 = timed_run(c, cipher, mac, 0)
    if w0 then base[c] = {w0, c0} end
  end
  for _ = 1, RUNS do
    for _, c in ipairs(clients) do
      if base[c] then
        local w, cpu = timed_run(c, cipher, mac, BYTES)
        -- The fixed cost too is the least of RUNS tries: one slow
        -- start-up must not flatter the per-byte figure.
        local w0, c0 = timed_run(c, cipher, mac, 0)
        if not w or not w0 then
          base[c] = nil
        else
          if cpu < (best[c] and best[c][2] or math.huge) then
            best[c] = {w, cpu}
          end
          base[c] = {math.min(base[c][1], w0), math.min(base[c][2], c0)}
        end
      end
    end
  end
  local res = {}
  for _, c in ipairs(clients) do
    if base[c] and best[c] then
      local wall = math.max(best[c][1] - base[c][1], 0.01)
      local cpu = math.max(best[c][2] - base[c][2], 0)
      res[c] = {mbs = BYTES / wall / 1e6, cpu = cpu * 1073741824 / BYTES}
    else
      res[c] = {}
    end
  end
  return res
end

-- BENCH_CLIENTS: a comma-separated subset of "luassh,ssh,asyncssh".
local WANT = os.getenv("BENCH_CLIENTS") or "luassh,ssh,asyncssh"
local function wanted(c) return ("," .. WANT .. ","):find("," .. c .. ",", 1, true) end
local clients = {"luassh"}
if ALT then clients[#clients + 1] = "alt" end
if not wanted("ssh") then
  print("note: ssh left out (BENCH_CLIENTS); its columns are empty")
elseif have_ssh then clients[#clients + 1] = "ssh" else
  print("note: no OpenSSH ssh client; its columns are empty") end
if not wanted("asyncssh") then
  print("note: asyncssh left out (BENCH_CLIENTS); its columns are empty")
elseif have_async then clients[#clients + 1] = "asyncssh" else
  print("note: no asyncssh under " .. PYTHON .. "; its columns are empty") end

print(("%d bytes (`%s`) from sshd on 127.0.0.1:%d, best of %d by CPU; "
  .. "net of a 0-byte run"):format(BYTES, command_for(BYTES), srv.port, RUNS))
print("CPU = client user+sys seconds per GiB; ratio = luassh CPU / other CPU "
  .. "(targets: <= 0.80 vs ssh, <= 0.40 vs asyncssh)")
local hdr = ("%-34s %8s %8s %8s | %7s %7s %7s | %8s %8s"):format(
  "cipher", "MB/s", "ssh", "async", "CPU", "ssh", "async",
  "/ssh", "/async")
print(("%-34s %8s %8s %8s | %7s %7s %7s | %8s %8s"):format(
  "", "luassh", "MB/s", "MB/s", "luassh", "CPU", "CPU", "ratio", "ratio"))
print(hdr)

local function fmt(v, f) return v and f:format(v) or "-" end

local run_ok, run_err = pcall(function()
  for _, row in ipairs(ROWS) do
    local cipher, mac = row[1], row[2]
    if not FILTER or cipher:find(FILTER, 1, true) then
      local res = measure(clients, cipher, mac)
      local l, s, a = res.luassh, res.ssh or {}, res.asyncssh or {}
      local function ratio(x)
        if l.cpu and x.cpu and x.cpu > 0 then return l.cpu / x.cpu end
      end
      local name = cipher
      if not cipher:find("gcm", 1, true) and not cipher:find("poly", 1, true) then
        name = cipher .. " + " .. mac:gsub("@openssh%.com$", "")
      end
      print(("%-34s %8s %8s %8s | %7s %7s %7s | %8s %8s"):format(
        name, fmt(l.mbs, "%.0f"), fmt(s.mbs, "%.0f"), fmt(a.mbs, "%.0f"),
        fmt(l.cpu, "%.2f"), fmt(s.cpu, "%.2f"), fmt(a.cpu, "%.2f"),
        fmt(ratio(s), "%.2fx"), fmt(ratio(a), "%.2fx")))
      if ALT then
        print(("  alt %s: %s MB/s, CPU %s s/GiB (%s of luassh)"):format(ALT,
          fmt(res.alt.mbs, "%.0f"), fmt(res.alt.cpu, "%.2f"),
          fmt(res.alt.cpu and l.cpu and l.cpu > 0 and res.alt.cpu / l.cpu,
              "%.2fx")))
      end
      io.stdout:flush()
    end
  end
end)
srv.stop()
util.rmtree(dir)
if not run_ok then error(run_err, 0) end
