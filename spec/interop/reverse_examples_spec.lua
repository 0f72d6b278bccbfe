-- AsyncSSH's "Reverse Direction Example" in Lua (scripts/examples/
-- reverse_client.lua and reverse_server.lua) run as programs against each
-- other on a random loopback port, then each against AsyncSSH's own
-- connect_reverse / listen_reverse (Debian's /usr/bin/python3), so that
-- the swapped TCP roles interoperate both ways.  Keys come from
-- ssh-keygen with the seed's file names.
local ssh = require "luassh"
local util = require "spec.support.util"

local PYTHON = "/usr/bin/python3"
local q = util.q
local dir

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  return (os.getenv("PWD") or io.popen("pwd"):read("l")) .. "/" .. p
end
local BIN = abspath(util.bin)
local EXAMPLES = abspath(util.root) .. "/scripts/examples/"

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local d = f:read("a")
  f:close()
  return d
end

-- Starts cmd in dir in the background; -> {pid, out(), err(), rc()}, rc
-- being nil while it runs.
local function bg(name, cmd, env)
  local base = ("%s/%s"):format(dir, name)
  os.remove(base .. ".out")
  os.remove(base .. ".rc")
  local line = ("cd %s && { %s %s > %s 2> %s; echo $? > %s; } & echo $!")
    :format(q(dir), env or "", cmd, q(base .. ".out"), q(base .. ".err"),
            q(base .. ".rc"))
  local p = io.popen("sh -c " .. q(line))
  local pid = p:read("l")
  p:close()
  local proc = {pid = pid}
  function proc.out() return read_file(base .. ".out") end
  function proc.err() return read_file(base .. ".err") end
  function proc.rc()
    local r = read_file(base .. ".rc")
    return r ~= "" and tonumber(r) or nil
  end
  function proc.stop()
    -- The subshell's child is the program: end both.
    os.execute(("pkill -P %s 2>/dev/null; kill %s 2>/dev/null")
      :format(proc.pid, proc.pid))
  end
  return proc
end

local function wait_for(what, pred, seconds)
  local deadline = ssh.now() + (seconds or 20)
  while ssh.now() < deadline do
    local v = pred()
    if v then return v end
    ssh.sleep(0.05)
  end
  error("timed out waiting for " .. what, 2)
end

local function port_of(proc)
  return tonumber(wait_for("the listening port", function()
    return proc.out():match("listening on port (%d+)")
  end))
end

local COMMANDS = "echo hello\nprintf oops >&2; exit 3\nsleep 0.3 && echo late"
local SERVER_ENV = ("LUASSH_EXAMPLE_HOST=127.0.0.1 LUASSH_EXAMPLE_SECONDS=30 "
                    .. "LUASSH_REVERSE_COMMANDS=%s"):format(q(COMMANDS))

local function start_server()
  return bg("reverse_server", ("%s %s 0"):format(q(BIN),
            q(EXAMPLES .. "reverse_server.lua")), SERVER_ENV)
end

local function run_client(port)
  return bg("reverse_client", ("%s %s %d"):format(q(BIN),
            q(EXAMPLES .. "reverse_client.lua"), port),
            "LUASSH_EXAMPLE_HOST=127.0.0.1")
end

-- The three results the server prints, keyed by command.
local function results(text)
  local out = {}
  -- (stdout and stderr are written as they are: the line of 75 dashes
  -- follows them directly.)
  for block in text:gmatch("Command: (.-)" .. ("%-"):rep(75) .. "\n") do
    local cmd, rc, so, se = block:match(
      "^(.-)\nReturn code: (%-?%d+)\nStdout:\n(.-)Stderr:\n(.*)$")
    assert(cmd, "unparsed block: " .. block)
    out[cmd] = {rc = tonumber(rc), stdout = so, stderr = se}
  end
  return out
end

local function check_results(text)
  local r = results(text)
  assert.same({rc = 0, stdout = "hello\n", stderr = ""}, r["echo hello"])
  assert.same({rc = 3, stdout = "", stderr = "oops"},
              r["printf oops >&2; exit 3"])
  assert.same({rc = 0, stdout = "late\n", stderr = ""},
              r["sleep 0.3 && echo late"])
  -- Printed as they complete: the slow one last.
  assert.is_true(text:find("Command: sleep 0.3", 1, true) >
                 text:find("Command: echo hello", 1, true))
end

local function write_trust(pattern)
  util.write(dir .. "/trusted_client_host_keys",
             pattern .. " " .. read_file(dir .. "/client_host_key.pub"))
end

setup(function()
  dir = util.tmpdir()
  for _, k in ipairs {"client_host_key", "server_key", "other_key"} do
    local r = util.run(("ssh-keygen -q -t ed25519 -N '' -C %s -f %s")
                       :format(k, q(dir .. "/" .. k)))
    assert(r.status == 0, r.stderr)
  end
  util.write(dir .. "/trusted_server_keys", read_file(dir .. "/server_key.pub"))
  write_trust("127.0.0.1")
end)

teardown(function()
  if dir then util.rmtree(dir) end
end)

describe("reverse_server.lua + reverse_client.lua", function()
  it("the server runs its commands on the client that called in", function()
    write_trust("127.0.0.1")
    local srv = start_server()
    local ok, err = pcall(function()
      local cli = run_client(port_of(srv))
      local rc = wait_for("the reverse client to end", cli.rc)
      assert.equal(0, rc, cli.err())
      wait_for("three results", function()
        local _, n = srv.out():gsub("Return code:", "")
        return n == 3
      end)
      check_results(srv.out())
    end)
    srv.stop()
    assert(ok, tostring(err) .. "\n-- server stderr:\n" .. srv.err())
  end)

  it("an unknown client host key: both sides report it", function()
    util.write(dir .. "/trusted_client_host_keys",
               "127.0.0.1 " .. read_file(dir .. "/other_key.pub"))
    local srv = start_server()
    local ok, err = pcall(function()
      local cli = run_client(port_of(srv))
      local rc = wait_for("the reverse client to end", cli.rc)
      assert.equal(1, rc)
      assert.matches("Reverse SSH connection failed: ", cli.err(), 1, true)
      assert.matches("HostKeyNotVerifiable", cli.err(), 1, true)
      wait_for("the server's error", function()
        return srv.err():find("Reverse connection failed", 1, true)
      end)
      assert.matches("has CHANGED", srv.err(), 1, true)
      assert.equal("listening on port", srv.out():match("^listening on port"))
      assert.is_nil(srv.out():find("Command:", 1, true))
    end)
    srv.stop()
    write_trust("127.0.0.1")
    assert(ok, tostring(err) .. "\n-- server stderr:\n" .. srv.err())
  end)

  it("a server key the client does not trust: PermissionDenied", function()
    util.write(dir .. "/trusted_server_keys", read_file(dir .. "/other_key.pub"))
    local srv = start_server()
    local ok, err = pcall(function()
      local cli = run_client(port_of(srv))
      local rc = wait_for("the reverse client to end", cli.rc)
      assert.equal(1, rc)
      assert.matches("PermissionDenied", cli.err(), 1, true)
      wait_for("the server's error", function()
        return srv.err():find("PermissionDenied", 1, true)
      end)
    end)
    srv.stop()
    util.write(dir .. "/trusted_server_keys", read_file(dir .. "/server_key.pub"))
    assert(ok, tostring(err) .. "\n-- server stderr:\n" .. srv.err())
  end)
end)

local function has_asyncssh()
  return util.run(PYTHON .. " -c 'import asyncssh' 2>/dev/null").status == 0
end

-- AsyncSSH's listen_reverse: runs two commands on whoever calls in,
-- prints them, exits.
local ASYNC_LISTEN = [[
import asyncio, asyncssh, sys
async def main():
    done = asyncio.get_running_loop().create_future()
    async def run(conn):
        async with conn:
            for cmd in ('echo from-asyncssh', 'printf err >&2; exit 5'):
                r = await conn.run(cmd)
                print('Command:', r.command)
                print('Return code:', r.returncode)
                print('Stdout:', repr(r.stdout))
                print('Stderr:', repr(r.stderr))
        done.set_result(None)
    server = await asyncssh.listen_reverse(
        '127.0.0.1', 0, client_keys=['server_key'],
        known_hosts='trusted_client_host_keys', acceptor=run)
    print('listening on port', server.sockets[0].getsockname()[1], flush=True)
    await asyncio.wait_for(done, 20)
    server.close()
asyncio.run(main())
]]

-- The seed's reverse client in AsyncSSH, dialling argv[1].  (The seed
-- redirects the session to the local process; AsyncSSH 2.10.1 can then
-- write the process's last output after its own exit() closed the
-- channel, a BrokenPipeError that drops the connection: the command's
-- output is collected first instead.)
local ASYNC_CONNECT = [[
import asyncio, asyncssh, sys
from asyncio.subprocess import PIPE
async def handle_request(process):
    local_proc = await asyncio.create_subprocess_shell(
        process.command, stdin=PIPE, stdout=PIPE, stderr=PIPE)
    out, err = await local_proc.communicate()
    process.stdout.write(out)
    process.stderr.write(err)
    process.exit(local_proc.returncode)
async def main():
    conn = await asyncssh.connect_reverse(
        '127.0.0.1', int(sys.argv[1]), server_host_keys=['client_host_key'],
        authorized_client_keys='trusted_server_keys',
        process_factory=handle_request, encoding=None)
    await conn.wait_closed()
asyncio.run(main())
]]

describe("interop with AsyncSSH", function()
  local py_env = "PYTHONWARNINGS=ignore"

  it("AsyncSSH's listen_reverse accepts our connect_reverse", function()
    if not has_asyncssh() then
      pending("python3 asyncssh not installed")
      return
    end
    -- AsyncSSH looks the caller up as "[addr]:port" (its dialling port):
    -- a pattern entry matches that.
    write_trust("*")
    util.write(dir .. "/async_listen.py", ASYNC_LISTEN)
    local py = bg("async_listen", PYTHON .. " async_listen.py", py_env)
    local ok, err = pcall(function()
      local cli = run_client(port_of(py))
      local rc = wait_for("the reverse client to end", cli.rc)
      assert.equal(0, rc, cli.err())
      wait_for("asyncssh to end", py.rc)
      assert.equal(0, py.rc(), py.err())
      local out = py.out()
      assert.matches("Command: echo from-asyncssh\nReturn code: 0\nStdout: "
                     .. "'from-asyncssh\\n'\nStderr: ''", out, 1, true)
      assert.matches("Command: printf err >&2; exit 5\nReturn code: 5\n"
                     .. "Stdout: ''\nStderr: 'err'", out, 1, true)
    end)
    py.stop()
    write_trust("127.0.0.1")
    assert(ok, tostring(err) .. "\n-- asyncssh stderr:\n" .. py.err())
  end)

  it("AsyncSSH's connect_reverse (the seed's client) dials our listen_reverse", function()
    if not has_asyncssh() then
      pending("python3 asyncssh not installed")
      return
    end
    util.write(dir .. "/async_connect.py", ASYNC_CONNECT)
    local srv = start_server()
    local ok, err = pcall(function()
      local py = bg("async_connect", PYTHON .. " async_connect.py "
                    .. port_of(srv), py_env)
      wait_for("three results", function()
        local _, n = srv.out():gsub("Return code:", "")
        return n == 3
      end)
      check_results(srv.out())
      -- Our side closes the connection after the commands: AsyncSSH's
      -- wait_closed returns and it exits cleanly.
      local rc = wait_for("asyncssh to end", py.rc)
      assert.equal(0, rc, py.err())
    end)
    srv.stop()
    assert(ok, tostring(err) .. "\n-- server stderr:\n" .. srv.err())
  end)
end)
