-- Shared parts of the SSH server benchmarks (issue 6, "make bench"):
-- bench/bench_server_bulk.lua, bench_server_connect.lua and
-- bench_server_fanout.lua.  tools/bench.sh skips this file (*_lib.lua).
--
-- As a module (require "bench.bench_server_lib", from the repository
-- root): process control (background servers, /proc CPU and RSS
-- figures), keys and trust files in a temp dir, the OpenSSH command lines.
--
-- As a script, run by the drivers with the luassh binary under test:
--   luassh bench/bench_server_lib.lua --server DIR
--       the luassh server: ssh.listen on 127.0.0.1 port 0 with DIR's host
--       key and authorized_keys; writes the port to DIR/port.luassh.
--   luassh bench/bench_server_lib.lua --connect-client DIR PORT N
--       N sequential connect + auth + exec `true` + close.
--   luassh bench/bench_server_lib.lua --fanout-client DIR PORT N
--       N concurrent connections (ssh.gather), each running `echo`, then
--       all held open idle until the driver releases them.
-- bench/bench_server_asyncssh.py has the same modes for AsyncSSH.  The
-- client modes share one protocol with the driver: after a warm-up
-- connection they create DIR/ready and wait for DIR/go; they print their
-- figures on stdout; the fan-out client creates DIR/idle once every
-- connection is idle and waits for DIR/release before closing them.
--
-- The server's commands (the same in the AsyncSSH server):
--   head -c N /dev/zero   N zero bytes, written in 64 KiB chunks, each
--                         followed by drain(), then exit 0
--   true                  exit 0
--   echo WORDS            WORDS and a newline, exit 0
--   gc                    a full garbage collection, exit 0
local M = {}

local CHUNK = 65536

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.q = q

-- Modes run as a child -------------------------------------------------------

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function write_atomic(path, text)
  local f = assert(io.open(path .. ".tmp", "wb"))
  f:write(text)
  f:close()
  assert(os.rename(path .. ".tmp", path))
end

local function wait_for(ssh, path)
  while not exists(path) do ssh.sleep(0.01) end
end

local function run_server(dir)
  local ssh = require "luassh"
  local zero = string.rep("\0", CHUNK)
  local function handle(p)
    local cmd = p.command or ""
    local n = cmd:match("^head %-c (%d+) /dev/zero")
    if n then
      n = math.tointeger(tonumber(n))
      local out = p.stdout
      while n >= CHUNK do
        out:write(zero)
        out:drain()
        n = n - CHUNK
      end
      if n > 0 then
        out:write(zero:sub(1, n))
        out:drain()
      end
      p:exit(0)
    elseif cmd == "true" then
      p:exit(0)
    elseif cmd:sub(1, 5) == "echo " then
      p.stdout:write(cmd:sub(6) .. "\n")
      p:exit(0)
    elseif cmd == "gc" then
      collectgarbage()
      collectgarbage()
      p:exit(0)
    else
      p.stderr:write("bench server: unknown command\n")
      p:exit(127)
    end
  end
  local l = ssh.listen("127.0.0.1", 0, {
    server_host_keys = {dir .. "/ssh_host_ed25519_key"},
    authorized_client_keys = dir .. "/authorized_keys",
    process_factory = handle,
    login_timeout = 600,
  })
  write_atomic(dir .. "/port.luassh", tostring(l:get_port()) .. "\n")
  l:wait_closed()
end

local function client_opts(ssh, dir, port)
  local hostpub = assert(io.open(dir .. "/ssh_host_ed25519_key.pub")):read("a")
  return {
    username = "root",
    client_keys = {ssh.read_private_key(dir .. "/id_ed25519")},
    known_hosts = ssh.import_known_hosts(("[127.0.0.1]:%d %s"):format(port, hostpub)),
    agent_path = false,
    config = false,
  }
end

local function run_connect_client(dir, port, n)
  local ssh = require "luassh"
  local opts = client_opts(ssh, dir, port)
  local function once()
    local conn = ssh.connect("127.0.0.1", port, opts)
    local r = conn:run("true")
    if r.exit_status ~= 0 then error("`true` exited with " .. tostring(r.exit_status)) end
    conn:close()
    conn:wait_closed()
  end
  once() -- warm-up, not counted
  write_atomic(dir .. "/ready", "")
  wait_for(ssh, dir .. "/go")
  local c0, w0 = os.clock(), ssh.now()
  for _ = 1, n do once() end
  local cpu, wall = os.clock() - c0, ssh.now() - w0
  print(("cpu %.6f wall %.6f"):format(cpu, wall))
end

local function run_fanout_client(dir, port, n)
  local ssh = require "luassh"
  local opts = client_opts(ssh, dir, port)
  do -- warm-up, not counted
    local conn <close> = ssh.connect("127.0.0.1", port, opts)
    conn:run("echo warm")
  end
  collectgarbage()
  write_atomic(dir .. "/ready", "")
  wait_for(ssh, dir .. "/go")
  local conns, bad = {}, 0
  local fns = {}
  for i = 1, n do
    fns[i] = function()
      local conn = ssh.connect("127.0.0.1", port, opts)
      conns[i] = conn
      local r = conn:run("echo hello " .. i)
      if r.exit_status ~= 0 or r.stdout ~= "hello " .. i .. "\n" then
        bad = bad + 1
      end
      return true
    end
  end
  local w0 = ssh.now()
  local res = ssh.gather(fns, {return_errors = true})
  local wall = ssh.now() - w0
  -- The bench's input, not the connections' (asyncio.gather consumes its
  -- coroutines too).
  fns = nil
  local failed = 0
  for i = 1, n do
    if res[i] ~= true then
      failed = failed + 1
      if failed <= 3 then io.stderr:write("connection ", i, ": ", tostring(res[i]), "\n") end
    end
  end
  -- Every connection is now authenticated and idle (its one channel
  -- closed).  Collect garbage on both sides before the RSS is read.
  local open = {}
  for i = 1, n do if conns[i] then open[#open + 1] = conns[i] end end
  collectgarbage()
  collectgarbage()
  if open[1] then open[1]:run("gc") end
  collectgarbage()
  write_atomic(dir .. "/idle", "")
  wait_for(ssh, dir .. "/release")
  for _, c in ipairs(open) do c:close() end
  print(("wall %.6f failed %d bad %d"):format(wall, failed, bad))
end

if arg and arg[0] and arg[0]:match("bench_server_lib%.lua$") then
  local mode = arg[1]
  if mode == "--server" then
    run_server(arg[2])
  elseif mode == "--connect-client" then
    run_connect_client(arg[2], math.tointeger(tonumber(arg[3])), math.tointeger(tonumber(arg[4])))
  elseif mode == "--fanout-client" then
    run_fanout_client(arg[2], math.tointeger(tonumber(arg[3])), math.tointeger(tonumber(arg[4])))
  else
    -- run by itself (tools/bench.sh skips it): nothing to measure
    print("helpers for bench/bench_server_*.lua; nothing to run")
  end
  return
end

-- Driver helpers ----------------------------------------------------------------

M.LIB = "bench/bench_server_lib.lua"
M.PY_SCRIPT = "bench/bench_server_asyncssh.py"
M.PYTHON = "/usr/bin/python3"
-- The luassh binary under test: BENCH_LUASSH, else the one running us.
M.LUASSH = os.getenv("BENCH_LUASSH") or (arg and arg[-1]) or "build/luassh"
M.NOFILE = 8192 -- ulimit -n for servers and clients

local HZ = 100
do
  local p = io.popen("getconf CLK_TCK 2>/dev/null")
  if p then
    HZ = tonumber(p:read("l") or "") or 100
    p:close()
  end
end

function M.sh_ok(cmd)
  return os.execute(cmd .. " >/dev/null 2>&1") == true
end

function M.readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

M.exists = exists

function M.writefile(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

function M.tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local d = p:read("l")
  p:close()
  return d
end

function M.rmtree(path) os.execute("rm -rf " .. q(path)) end

function M.sleep(s) os.execute(("sleep %.3f"):format(s)) end

--- have_asyncssh() -> true when Debian's python3 imports asyncssh
function M.have_asyncssh()
  return M.sh_ok(M.PYTHON .. " -W ignore -c 'import asyncssh'")
end

--- keys(dir): an ed25519 host key and user key, authorized_keys for it.
function M.keys(dir)
  assert(M.sh_ok("ssh-keygen -q -N '' -t ed25519 -f " .. q(dir .. "/ssh_host_ed25519_key")),
         "ssh-keygen failed")
  assert(M.sh_ok("ssh-keygen -q -N '' -t ed25519 -f " .. q(dir .. "/id_ed25519")),
         "ssh-keygen failed")
  M.writefile(dir .. "/authorized_keys", M.readfile(dir .. "/id_ed25519.pub"))
end

--- known_hosts(dir, port) -> path of a known_hosts file for that port
function M.known_hosts(dir, port)
  local path = ("%s/known_hosts.%d"):format(dir, port)
  M.writefile(path, ("[127.0.0.1]:%d %s"):format(port,
              M.readfile(dir .. "/ssh_host_ed25519_key.pub")))
  return path
end

--- spawn(cmd, log) -> pid: cmd runs in the background (its own process,
--- exec'd from a subshell with a raised ulimit -n), output into log.
function M.spawn(cmd, log)
  local pidf = os.tmpname()
  os.execute(("(ulimit -n %d 2>/dev/null; exec %s) >%s 2>&1 </dev/null & echo $! >%s")
    :format(M.NOFILE, cmd, q(log), q(pidf)))
  local pid = math.tointeger(tonumber(M.readfile(pidf) or ""))
  os.remove(pidf)
  assert(pid, "could not start: " .. cmd)
  return pid
end

function M.alive(pid)
  return exists("/proc/" .. pid .. "/stat")
    and not (M.readfile("/proc/" .. pid .. "/stat") or ""):match("^%d+ %b() Z")
end

function M.kill(pid)
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
end

--- wait_file(path, seconds [, pid]) -> true once path exists; false on
--- timeout or when process pid has gone.
function M.wait_file(path, seconds, pid)
  local deadline = os.time() + seconds
  while not exists(path) do
    if os.time() > deadline then return false end
    if pid and not M.alive(pid) then return exists(path) end
    M.sleep(0.01)
  end
  return true
end

--- wait_exit(pid, seconds): until the process has ended (zombie or gone).
function M.wait_exit(pid, seconds)
  local deadline = os.time() + seconds
  while M.alive(pid) do
    if os.time() > deadline then return false end
    M.sleep(0.01)
  end
  return true
end

--- cpu(pid) -> own user+sys seconds, reaped children's user+sys seconds
function M.cpu(pid)
  local s = M.readfile("/proc/" .. pid .. "/stat")
  if not s then return nil end
  local rest = s:match("^%d+ %b() (.*)$")
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = tonumber(w) or 0 end
  -- fields 14..17 of stat (utime stime cutime cstime) are 12..15 here
  return (f[12] + f[13]) / HZ, (f[14] + f[15]) / HZ
end

--- rss(pid) -> VmRSS KiB, VmHWM KiB
function M.rss(pid)
  local s = M.readfile("/proc/" .. pid .. "/status") or ""
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

--- wait_reaped(pid, seconds): until pid has no child processes left (so
--- that their CPU time has reached its cutime/cstime).
function M.wait_reaped(pid, seconds)
  local deadline = os.time() + (seconds or 10)
  while true do
    local c = M.readfile(("/proc/%d/task/%d/children"):format(pid, pid))
    if c == nil then M.sleep(0.3) return end -- no such file: a fixed wait
    if not c:match("%d") then return true end
    if os.time() > deadline then return false end
    M.sleep(0.01)
  end
end

--- start_luassh_server(dir) -> pid, port
function M.start_luassh_server(dir)
  os.remove(dir .. "/port.luassh")
  local pid = M.spawn(("%s %s --server %s"):format(q(M.LUASSH), q(M.LIB), q(dir)),
                      dir .. "/server.luassh.log")
  if not M.wait_file(dir .. "/port.luassh", 30, pid) then
    M.kill(pid)
    error("luassh server did not start: " .. (M.readfile(dir .. "/server.luassh.log") or ""), 0)
  end
  return pid, math.tointeger(tonumber(M.readfile(dir .. "/port.luassh")))
end

--- start_asyncssh_server(dir) -> pid, port
function M.start_asyncssh_server(dir)
  os.remove(dir .. "/port.asyncssh")
  local pid = M.spawn(("%s %s server %s"):format(M.PYTHON, q(M.PY_SCRIPT), q(dir)),
                      dir .. "/server.asyncssh.log")
  if not M.wait_file(dir .. "/port.asyncssh", 30, pid) then
    M.kill(pid)
    error("asyncssh server did not start: " .. (M.readfile(dir .. "/server.asyncssh.log") or ""), 0)
  end
  return pid, math.tointeger(tonumber(M.readfile(dir .. "/port.asyncssh")))
end

--- start_sshd(dir) -> pid of the listening sshd, port, stop function
--- (OpenSSH's sshd with its own config, as the interop specs start it).
function M.start_sshd(dir)
  local sshd = require "spec.support.sshd"
  if not sshd.available() then return nil end
  local srv = sshd.start {
    host_keys = {dir .. "/ssh_host_ed25519_key"},
    authorized_keys = M.readfile(dir .. "/authorized_keys"),
    log_level = "INFO", -- sshd.start waits for "Server listening"
    -- As bench_client_download.lua: keep root's shell start-up cheap.
    first = {"SetEnv SHLVL=1"},
    extra = {"MaxSessions 10"},
  }
  local pid
  for _ = 1, 100 do
    pid = math.tointeger(tonumber(M.readfile(srv.dir .. "/sshd.pid") or ""))
    if pid then break end
    M.sleep(0.02)
  end
  if not pid then srv.stop() error("sshd wrote no pid file", 0) end
  return pid, srv.port, srv.stop
end

--- ssh_cmd(dir, port, command [, cipher]) -> OpenSSH ssh command line
function M.ssh_cmd(dir, port, command, cipher)
  local kh = M.known_hosts(dir, port)
  local t = {"ssh -F /dev/null -n -T -i", q(dir .. "/id_ed25519"),
    "-o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes",
    "-o UserKnownHostsFile=" .. q(kh), "-o GlobalKnownHostsFile=/dev/null",
    "-o StrictHostKeyChecking=yes -o HostKeyAlgorithms=ssh-ed25519",
    "-o Compression=no -o ControlMaster=no -o ControlPath=none"}
  if cipher then t[#t + 1] = "-o Ciphers=" .. q(cipher) end
  t[#t + 1] = "-p " .. port .. " root@127.0.0.1 " .. q(command)
  return table.concat(t, " ")
end

--- client_cmd(kind, mode, dir, port, n) -> command line of a luassh or
--- asyncssh client in mode "connect" or "fanout"
function M.client_cmd(kind, mode, dir, port, n)
  if kind == "luassh" then
    return ("%s %s --%s-client %s %d %d"):format(q(M.LUASSH), q(M.LIB), mode, q(dir), port, n)
  end
  return ("%s %s %s-client %s %d %d"):format(M.PYTHON, q(M.PY_SCRIPT), mode, q(dir), port, n)
end

function M.reset_sync(dir)
  for _, f in ipairs {"ready", "go", "idle", "release"} do os.remove(dir .. "/" .. f) end
end

-- Formatting
function M.fmt(v, f) return v and f:format(v) or "-" end

function M.ratio(a, b)
  if a and b and b > 0 then return a / b end
end

--- verdict(value, limit) -> "ok" / "MISS" / "-"
function M.verdict(v, limit)
  if v == nil then return "-" end
  return v <= limit and "ok" or "MISS"
end

return M
