-- Pre-authentication rules and connection floods against the Lua server
-- (issue 6, reliability-plan.md P-1, P-5), with raw protocol messages
-- sent by paramiko's Transport after a real key exchange: whatever a
-- client sends before it has authenticated, no process is ever started
-- (the handler would write a canary file), and the server keeps serving.
local ssh = require "luassh"
local util = require "spec.support.util"

local PY = "/usr/bin/python3"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local d = f:read("a")
  f:close()
  return d
end

-- Runs a python snippet in the background (the loop must keep serving
-- our server meanwhile) and returns its output once it has finished.
local function python(code, timeout)
  local dir = util.tmpdir()
  util.write(dir .. "/t.py", code)
  os.execute(("(%s %s > %s/out 2>&1; touch %s/done) &"):format(
    PY, util.q(dir .. "/t.py"), dir, dir))
  local deadline = ssh.now() + (timeout or 30)
  while ssh.now() < deadline do
    local f = io.open(dir .. "/done")
    if f then
      f:close()
      local out = read(dir .. "/out")
      util.rmtree(dir)
      return out
    end
    ssh.sleep(0.05)
  end
  util.rmtree(dir)
  error("python snippet timed out")
end

local PRELUDE = [[
import socket, sys, time, warnings
warnings.filterwarnings("ignore")
import paramiko
from paramiko.message import Message
def transport(port):
    s = socket.create_connection(("127.0.0.1", port))
    t = paramiko.Transport(s)
    t.start_client(timeout=10)
    return t
def closed_within(t, secs):
    end = time.time() + secs
    while time.time() < end:
        if not t.is_active():
            return True
        time.sleep(0.05)
    return False
]]

describe("server pre-auth rules", function()
  local dir, canary, l, port
  local user_key = ssh.generate_private_key("ssh-ed25519")

  before_each(function()
    dir = util.tmpdir()
    canary = dir .. "/canary"
    l = ssh.listen("127.0.0.1", 0, {
      authorized_client_keys = {user_key}, log_host_key = false,
      process_factory = function(p)
        util.write(canary, "started " .. tostring(p.command))
        p:exit(0)
      end})
    port = l:get_port()
  end)

  after_each(function()
    l:close()
    util.rmtree(dir)
  end)

  local function assert_no_process()
    assert.is_nil(io.open(canary), "a process was started")
  end

  it("a channel open before authentication disconnects, no process starts", function()
    local out = python(PRELUDE .. ([[
t = transport(%d)
m = Message(); m.add_byte(bytes([90])); m.add_string("session")
m.add_int(0); m.add_int(2097152); m.add_int(32768)
t._send_message(m)
m = Message(); m.add_byte(bytes([98])); m.add_int(0); m.add_string("exec")
m.add_boolean(False); m.add_string("touch /tmp/x")
t._send_message(m)
print("closed" if closed_within(t, 5) else "open")
]]):format(port))
    assert.matches("closed", out, 1, true)
    assert_no_process()
  end)

  it("USERAUTH_SUCCESS sent by a client disconnects", function()
    local out = python(PRELUDE .. ([[
t = transport(%d)
m = Message(); m.add_byte(bytes([52]))
t._send_message(m)
print("closed" if closed_within(t, 5) else "open")
]]):format(port))
    assert.matches("closed", out, 1, true)
    assert_no_process()
  end)

  it("a changed user name mid-auth disconnects", function()
    local out = python(PRELUDE .. ([[
t = transport(%d)
try:
    t.auth_password("alice", "wrong")
except Exception as e:
    pass
try:
    t.auth_password("bob", "wrong")
except Exception as e:
    pass
print("closed" if closed_within(t, 5) else "open")
]]):format(port))
    assert.matches("closed", out, 1, true)
    assert_no_process()
  end)

  it("a real login still works after all of that", function()
    local conn <close> = ssh.connect("127.0.0.1", port, {
      username = "alice", client_keys = {user_key}, known_hosts = false,
      agent_path = false})
    assert.equal(0, conn:run("ok").exit_status)
    assert.matches("started ok", read(canary), 1, true)
  end)
end)

describe("server startup limits", function()
  it("max_startups holds under a flood of 2,000 silent connections while a real client logs in", function()
    local user_key = ssh.generate_private_key("ssh-ed25519")
    local l <close> = ssh.listen("127.0.0.1", 0, {
      authorized_client_keys = {user_key}, log_host_key = false,
      max_startups = 50, login_timeout = 20,
      process_factory = function(p) p:exit(0) end})
    local port = l:get_port()
    local flood = ssh.spawn(python, ([[
import socket, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
ss = []
for i in range(2000):
    try:
        ss.append(socket.create_connection(("127.0.0.1", %d), timeout=5))
    except Exception as e:
        pass
time.sleep(3)
print(len(ss))
]]):format(port), 60)
    ssh.sleep(1.0)
    local t0 = ssh.now()
    local conn <close> = ssh.connect("127.0.0.1", port, {
      username = "alice", client_keys = {user_key}, known_hosts = false,
      agent_path = false, connect_timeout = 10})
    assert.equal(0, conn:run("x").exit_status)
    assert.is_true(ssh.now() - t0 < 5)
    local opened = tonumber(flood:wait():match("(%d+)"))
    local stats = l:get_stats()
    assert.is_true(stats.unauthenticated <= 50, "unauthenticated: " .. stats.unauthenticated)
    -- every silent connection past the 50 made room or was refused
    assert.is_true(stats.dropped >= opened - 50, "dropped: " .. stats.dropped)
  end)

  it("login_timeout drops a silent client", function()
    local lost = 0
    local l <close> = ssh.create_server(function()
      return {connection_lost = function() lost = lost + 1 end}
    end, "127.0.0.1", 0, {log_host_key = false, login_timeout = 0.5,
                           process_factory = function(p) p:exit(0) end})
    local out = python(([[
import socket, time
s = socket.create_connection(("127.0.0.1", %d))
s.settimeout(5)
data = b""
t0 = time.time()
try:
    while True:
        d = s.recv(4096)
        if not d: break
        data += d
except Exception as e:
    print("error", e)
print("closed after %%.1f" %% (time.time() - t0))
]]):format(l:get_port()))
    local secs = tonumber(out:match("closed after ([%d.]+)"))
    assert.is_not_nil(secs, out)
    assert.is_true(secs < 3, out)
    assert.equal(1, lost)
  end)
end)
