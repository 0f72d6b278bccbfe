-- Helpers for the client specs: an sshd that lets root in with a key made
-- by the test, known_hosts data for it, and connecting with a deadline.
local ssh = require "luassh"
local sshd = require "spec.support.sshd"
local util = require "spec.support.util"

local M = {}

--- known_hosts(port, pubkey_paths [, names]) -> known_hosts data
function M.known_hosts(port, pubs, names)
  local lines = {}
  for _, name in ipairs(names or {"127.0.0.1", "localhost"}) do
    for _, p in ipairs(pubs) do
      local k = type(p) == "string" and ssh.read_public_key(p) or p
      lines[#lines + 1] = ssh.format_known_hosts_entry(name, port, k)
    end
  end
  return table.concat(lines)
end

--- start_sshd([opts]) -> env {srv=, key=, known_hosts=, kh_file=, opts=,
--- connect=function(extra_opts), stop=function}
-- opts as for sshd.start; the user key is an ed25519 key authorized for
-- root, and known_hosts (data and a file) lists the server's host keys.
function M.start_sshd(opts)
  opts = opts or {}
  -- bash sources ~/.bashrc when sshd starts it at shell level 1, and
  -- root's may be slow (pyenv init takes half a second): start sessions
  -- at level 2.
  opts.first = opts.first or {}
  table.insert(opts.first, 1, "SetEnv SHLVL=1")
  local key = ssh.generate_private_key("ssh-ed25519")
  opts.authorized_keys = (opts.authorized_keys or "")
    .. key:export_public_key()
  local srv = sshd.start(opts)
  local pubs = {}
  for i, p in ipairs(srv.host_keys) do pubs[i] = p .. ".pub" end
  local env = {srv = srv, key = key, port = srv.port, dir = srv.dir}
  -- Nothing below may leave the server running if it fails.
  local ok, err = pcall(function()
    env.known_hosts = M.known_hosts(srv.port, pubs)
    env.kh_file = srv.dir .. "/known_hosts"
    util.write(env.kh_file, env.known_hosts)
  end)
  if not ok then
    srv.stop()
    error(err, 0)
  end
  env.opts = {port = srv.port, username = "root", client_keys = {key},
              known_hosts = env.kh_file}
  function env.options(extra)
    local o = {}
    for k, v in pairs(env.opts) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  function env.connect(extra)
    return ssh.connect("127.0.0.1", env.options(extra))
  end
  function env.log()
    local f = io.open(srv.log, "r")
    local text = f and f:read("a") or ""
    if f then f:close() end
    return text
  end
  function env.stop() srv.stop() end
  return env
end

--- timed(seconds, fn, ...) -> fn's results, with a clear error on a hang
function M.timed(seconds, fn, ...)
  return ssh.timeout(seconds, fn, ...)
end

--- check_exec(conn): what every server must get right for a command:
--- stdout, stderr and the exit status apart, a process killed by SIGTERM
--- reported as a signal, and stdin.  Raises naming what differs.
function M.check_exec(conn)
  local function same(want, got, what)
    if want ~= got then
      error(("%s: expected %q, got %q"):format(what, tostring(want), tostring(got)), 3)
    end
  end
  local r = conn:run("echo out; echo err >&2; exit 3")
  same("out\n", r.stdout, "stdout")
  same("err\n", r.stderr, "stderr")
  same(3, r.exit_status, "exit status")
  r = conn:run("kill -TERM $$")
  same("TERM", r.exit_signal and r.exit_signal.signal, "exit signal")
  same(-15, r.returncode, "returncode")
  same("3\n2\n1\n", conn:run("tac", {input = "1\n2\n3\n"}).stdout, "stdin")
end

--- connector(base) -> with_conn(fn [, opts]) for specs against one
--- server: connects to 127.0.0.1 with the options base() returns (read
--- at each call: servers start in setup) under opts' own, no agent and
--- no config file, runs fn(conn) within 120 s and closes the connection.
function M.connector(base)
  return function(fn, opts)
    return M.timed(120, function()
      local o = {agent_path = false, config = false}
      for k, v in pairs(base()) do o[k] = v end
      for k, v in pairs(opts or {}) do o[k] = v end
      local conn <close> = ssh.connect("127.0.0.1", o)
      return fn(conn)
    end)
  end
end

return M
