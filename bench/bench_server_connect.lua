-- Connection cost (issue 6, "make bench" (b)).
--
-- BENCH_CONNECTIONS (default 200) sequential connections, each: connect,
-- key exchange, ed25519 publickey auth, exec `true`, close; for three
-- client -> server pairs, all with the same ed25519 host and user keys and
-- the default algorithms:
--   luassh -> luassh      bench/bench_server_lib.lua --connect-client
--                         against its --server (the luassh binary under
--                         test): ssh.connect, conn:run("true"), close;
--   asyncssh -> asyncssh  bench/bench_server_asyncssh.py connect-client
--                         against its server (Debian's python3);
--   ssh -> sshd           OpenSSH: one `ssh ... true` process per
--                         connection against a test sshd.
-- Each luassh / AsyncSSH client makes one warm-up connection first (not
-- counted), then measures its own CPU (os.clock / time.process_time: all
-- threads) over the N connections.  The server's CPU is read from
-- /proc/PID/stat before and after (for sshd: the listener's tree, with the
-- per-connection processes and the session's shell running `true`).  The
-- ssh client's CPU is that of the shell loop running the N ssh processes.
-- Targets (issue 6): luassh CPU per connection <= 0.25x AsyncSSH's, on
-- each side.
--
-- Environment: BENCH_CONNECTIONS, BENCH_LUASSH (the luassh binary for the
-- server and client; default: the one running this file).  Run from the
-- repository root:  build/luassh bench/bench_server_connect.lua
local B = require "bench.bench_server_lib"
local ssh = require "luassh"

local N = math.tointeger(tonumber(os.getenv("BENCH_CONNECTIONS") or "")) or 200

local dir = B.tmpdir()
B.keys(dir)
local have_async = B.have_asyncssh()
local have_openssh = B.sh_ok("command -v ssh") and B.sh_ok("test -x /usr/sbin/sshd")

-- luassh / asyncssh: a server process and a client process.
local function pair(kind)
  local start = kind == "luassh" and B.start_luassh_server or B.start_asyncssh_server
  local spid, port = start(dir)
  local res = {}
  local ok, err = pcall(function()
    B.reset_sync(dir)
    local out = dir .. "/client.out"
    local cpid = B.spawn(B.client_cmd(kind, "connect", dir, port, N), out)
    if not B.wait_file(dir .. "/ready", 60, cpid) then
      error(kind .. " client failed: " .. (B.readfile(out) or ""), 0)
    end
    local u0, c0 = B.cpu(spid)
    B.writefile(dir .. "/go", "")
    B.wait_exit(cpid, 3600)
    B.sleep(0.2) -- the server's side of the last close
    local u1, c1 = B.cpu(spid)
    local text = B.readfile(out) or ""
    local cpu, wall = text:match("cpu ([%d.]+) wall ([%d.]+)")
    if not cpu then error(kind .. " client failed: " .. text, 0) end
    res.client = tonumber(cpu) * 1000 / N
    res.wall = tonumber(wall) * 1000 / N
    res.server = ((u1 + c1) - (u0 + c0)) * 1000 / N
  end)
  B.kill(spid)
  if not ok then error(err, 0) end
  return res
end

local function openssh()
  local spid, port, stop = B.start_sshd(dir)
  local res = {}
  local ok, err = pcall(function()
    local one = B.ssh_cmd(dir, port, "true")
    assert(B.sh_ok(one), "ssh -> sshd warm-up connection failed")
    B.wait_reaped(spid, 10)
    local loop = dir .. "/loop.sh"
    B.writefile(loop, ("i=0\nwhile [ $i -lt %d ]; do\n  %s >/dev/null 2>&1 </dev/null || exit 1\n"
      .. "  i=$((i+1))\ndone\n"):format(N, one))
    local tf = dir .. "/time"
    local u0, c0 = B.cpu(spid)
    local w0 = ssh.now()
    local okr = os.execute(("/usr/bin/time -f '%%U %%S' -o %s sh %s"):format(B.q(tf), B.q(loop)))
    local wall = ssh.now() - w0
    B.wait_reaped(spid, 10)
    local u1, c1 = B.cpu(spid)
    local u, s = (B.readfile(tf) or ""):match("([%d.]+) ([%d.]+)%s*$")
    if okr ~= true or not u then error("ssh -> sshd loop failed", 0) end
    res.client = (tonumber(u) + tonumber(s)) * 1000 / N
    res.wall = wall * 1000 / N
    res.server = ((u1 + c1) - (u0 + c0)) * 1000 / N
  end)
  stop()
  if not ok then error(err, 0) end
  return res
end

local results = {}
local run_ok, run_err = pcall(function()
  results.luassh = pair("luassh")
  if have_async then results.asyncssh = pair("asyncssh")
  else print("note: no asyncssh under " .. B.PYTHON .. "; its row is empty") end
  if have_openssh and B.sh_ok("test -x /usr/bin/time") then results.openssh = openssh()
  else print("note: no OpenSSH ssh/sshd or /usr/bin/time; its row is empty") end
end)
B.rmtree(dir)
if not run_ok then error(run_err, 0) end

print(("%d sequential connections: connect + ed25519 publickey auth + exec `true` + close "
  .. "(after 1 warm-up); luassh: %s"):format(N, B.LUASSH))
print("CPU = user+sys milliseconds per connection of the client and the server process "
  .. "(sshd: its tree, with the session's shell)")
print(("%-22s %12s %14s %14s"):format("client -> server", "wall ms/conn",
  "client CPU ms", "server CPU ms"))
local rows = {{"luassh -> luassh", results.luassh}, {"asyncssh -> asyncssh", results.asyncssh},
              {"ssh -> sshd", results.openssh}}
for _, r in ipairs(rows) do
  local v = r[2] or {}
  print(("%-22s %12s %14s %14s"):format(r[1], B.fmt(v.wall, "%.2f"),
    B.fmt(v.client, "%.2f"), B.fmt(v.server, "%.2f")))
end
local l, a, o = results.luassh or {}, results.asyncssh or {}, results.openssh or {}
local rc, rs = B.ratio(l.client, a.client), B.ratio(l.server, a.server)
print(("%-22s %12s %14s %14s"):format("luassh / asyncssh", B.fmt(B.ratio(l.wall, a.wall), "%.2fx"),
  B.fmt(rc, "%.2fx"), B.fmt(rs, "%.2fx")))
print(("%-22s %12s %14s %14s"):format("  target <= 0.25x", "", B.verdict(rc, 0.25), B.verdict(rs, 0.25)))
print(("%-22s %12s %14s %14s"):format("luassh / openssh", B.fmt(B.ratio(l.wall, o.wall), "%.2fx"),
  B.fmt(B.ratio(l.client, o.client), "%.2fx"), B.fmt(B.ratio(l.server, o.server), "%.2fx")))
