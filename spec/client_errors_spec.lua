-- One spec per error kind of ssh.connect that needs no SSH server
-- (issue 5): refused, DNS failure, connect and login timeouts, bad
-- arguments.  Each error names the host and port.
local ssh = require "luassh"
local util = require "spec.support.util"

-- A TCP listener that never accepts and never speaks: the kernel
-- completes the handshake, the SSH version exchange never comes.
local function silent_listener()
  local dir = util.tmpdir()
  os.execute(("/usr/bin/python3 -c %s %s > /dev/null 2>&1 &"):format(util.q([[
import socket, sys, os, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
d = sys.argv[1]
open(d + "/pid", "w").write(str(os.getpid()))
open(d + "/port.tmp", "w").write(str(s.getsockname()[1]))
os.rename(d + "/port.tmp", d + "/port")
time.sleep(60)
]]), util.q(dir)))
  for _ = 1, 200 do
    local f = io.open(dir .. "/port")
    if f then
      local port = tonumber(f:read("l"))
      f:close()
      return port, function()
        local pf = io.open(dir .. "/pid")
        if pf then
          os.execute("kill " .. pf:read("l") .. " 2>/dev/null")
          pf:close()
        end
        util.rmtree(dir)
      end
    end
    os.execute("sleep 0.05")
  end
  error("could not start the silent listener")
end

-- A port nothing listens on.
local function closed_port()
  local r = util.run("/usr/bin/python3 -c " .. util.q(
    "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
    .. "print(s.getsockname()[1])"))
  return tonumber(r.stdout)
end

local function connect_error(host, opts)
  opts.known_hosts = false
  opts.known_hosts_warning = false
  opts.client_keys = false
  local ok, err = pcall(ssh.timeout, 30, ssh.connect, host, opts)
  assert.is_false(ok)
  assert.is_true(ssh.is_error(err), tostring(err))
  return err
end

describe("ssh.connect errors", function()
  it("raises ConnectionRefused naming host and port", function()
    local port = closed_port()
    local err = connect_error("127.0.0.1", {port = port})
    assert.equal("ConnectionRefused", err.kind)
    assert.equal("127.0.0.1", err.host)
    assert.equal(port, err.port)
    assert.equal("CONNREFUSED", err.code_name)
    assert.equal("ConnectionRefused: connection to 127.0.0.1 port " .. port
                 .. " refused", tostring(err))
  end)

  it("raises HostNotFound for a name that does not resolve", function()
    local err = connect_error("no-such-host.invalid", {port = 2222})
    assert.equal("HostNotFound", err.kind)
    assert.equal("no-such-host.invalid", err.host)
    assert.equal(2222, err.port)
    assert.matches("cannot resolve host name 'no%-such%-host%.invalid' %(port 2222%)",
                   err.reason)
  end)

  it("raises Timeout when the handshake does not finish in connect_timeout", function()
    local port, stop = silent_listener()
    local t0 = ssh.now()
    local ok, err = pcall(connect_error, "127.0.0.1", {port = port, connect_timeout = 0.5})
    stop()
    assert.is_true(ok, tostring(err))
    assert.equal("Timeout", err.kind)
    assert.equal(port, err.port)
    assert.equal("connection to 127.0.0.1 port " .. port
                 .. " timed out after 0.5 seconds", err.reason)
    assert.is_true(ssh.now() - t0 < 5)
  end)

  it("raises Timeout when login does not finish in login_timeout", function()
    local port, stop = silent_listener()
    local ok, err = pcall(connect_error, "127.0.0.1", {port = port, login_timeout = 1})
    stop()
    assert.is_true(ok, tostring(err))
    assert.equal("Timeout", err.kind)
    assert.equal("127.0.0.1", err.host)
    assert.matches("login timeout", err.reason)
    assert.matches("127%.0%.0%.1 port " .. port, err.reason)
  end)

  it("raises ConnectionLost when the server closes the socket", function()
    -- A server that accepts and closes at once.
    local r = util.run("/usr/bin/python3 -c " .. util.q(
      "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
      .. "print(s.getsockname()[1])"))
    local port = tonumber(r.stdout)
    local dir = util.tmpdir()
    os.execute(("/usr/bin/python3 -c %s %d %s > /dev/null 2>&1 &"):format(util.q([[
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
open(sys.argv[2] + "/ready", "w").close()
c, _ = s.accept()
c.close()
]]), port, util.q(dir)))
    for _ = 1, 100 do
      local f = io.open(dir .. "/ready")
      if f then f:close() break end
      os.execute("sleep 0.05")
    end
    util.rmtree(dir)
    local err = connect_error("127.0.0.1", {port = port})
    assert.equal("ConnectionLost", err.kind)
    assert.equal(port, err.port)
    assert.matches("127%.0%.0%.1 port " .. port, err.reason)
  end)

  it("rejects bad arguments with plain Lua errors", function()
    assert.has_error(function() ssh.connect(42) end)
    assert.has_error(function() ssh.connect("127.0.0.1", {port = 0}) end)
    assert.has_error(function() ssh.connect("127.0.0.1", {port = 70000}) end)
    assert.has_error(function()
      ssh.connect("127.0.0.1", {port = closed_port(), kex_algs = 5,
                                known_hosts = false})
    end)
  end)
end)
