-- Error kinds raised by the client against real servers (issue 5):
-- disconnect by peer, protocol error, too many auth failures, channel
-- open failure, connection lost mid-command.  (Host key errors are in
-- client_auth_spec.lua, refused/DNS/timeouts in spec/client_errors_spec.lua.)
local ssh = require "luassh"
local cenv = require "spec.support.client_env"
local asrv = require "spec.support.asyncssh_server"

local timed = cenv.timed

describe("client errors against an AsyncSSH server", function()
  local srv, kh

  setup(function()
    srv = asrv.start()
    kh = ssh.format_known_hosts_entry("127.0.0.1", srv.port,
                                      ssh.read_public_key(srv.host_key_pub))
  end)
  teardown(function() if srv then srv.stop() end end)

  local function connect(user)
    return ssh.connect("127.0.0.1", {port = srv.port, known_hosts = kh,
                                     client_keys = false, username = user,
                                     password = "secret"})
  end

  it("raises DisconnectError when the server disconnects", function()
    local ok, err = pcall(timed, 30, connect, "dropme")
    assert.is_false(ok)
    assert.equal("DisconnectError", err.kind)
    assert.equal(11, err.disconnect_reason)
    assert.equal(srv.port, err.port)
    assert.equal("the server 127.0.0.1 port " .. srv.port .. " disconnected "
                 .. "(reason 11, BY_APPLICATION): go away, dropme", err.reason)
  end)

  it("raises ProtocolError for a PROTOCOL_ERROR disconnect", function()
    local ok, err = pcall(timed, 30, connect, "dropproto")
    assert.is_false(ok)
    assert.equal("ProtocolError", err.kind)
    assert.equal(2, err.disconnect_reason)
    assert.matches("scripted protocol error", err.reason)
  end)

  it("raises ConnectionLost in every task when the connection drops mid-command", function()
    timed(30, function()
      local conn = connect("alice")
      local other = conn:create_process("cat")
      local reader = ssh.spawn(function() return other.stdout:read() end)
      local ok, err = pcall(conn.run, conn, "drop")
      assert.is_false(ok)
      assert.equal("ConnectionLost", err.kind)
      assert.equal(srv.port, err.port)
      local ok2, err2 = pcall(reader.wait, reader)
      assert.is_false(ok2)
      assert.equal("ConnectionLost", err2.kind)
      local ok3, err3 = pcall(other.stdin.write, other.stdin, "x")
      assert.is_false(ok3)
      assert.equal("ConnectionLost", err3.kind)
    end)
  end)
end)

describe("keepalives", function()
  it("notice a server that stopped answering", function()
    local srv = asrv.start()
    local kh = ssh.format_known_hosts_entry("127.0.0.1", srv.port,
                                            ssh.read_public_key(srv.host_key_pub))
    local ok, err = pcall(timed, 30, function()
      local conn = ssh.connect("127.0.0.1", {port = srv.port, known_hosts = kh,
        client_keys = false, username = "alice", password = "secret",
        keepalive_interval = 0.2, keepalive_count_max = 2})
      local proc = conn:create_process("cat")
      os.execute("kill -STOP " .. srv.pid())
      local t0 = ssh.now()
      local ok1, e1 = pcall(proc.wait, proc)
      os.execute("kill -CONT " .. srv.pid())
      assert.is_false(ok1)
      assert.equal("ConnectionLost", e1.kind)
      assert.matches("keepalive", e1.reason)
      assert.is_true(ssh.now() - t0 < 5)
    end)
    srv.stop()
    if not ok then error(err, 0) end
  end)

  it("keep an idle connection to sshd alive", function()
    local env = cenv.start_sshd()
    local ok, err = pcall(timed, 30, function()
      local conn <close> = env.connect {keepalive_interval = 0.1}
      assert.equal("ok\n", conn:run("sleep 0.6; echo ok").stdout)
      ssh.sleep(0.4)
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end)
    env.stop()
    if not ok then error(err, 0) end
  end)
end)

describe("client errors against sshd", function()
  local env

  setup(function()
    env = cenv.start_sshd {first = {"MaxSessions 1", "MaxAuthTries 2"}}
  end)
  teardown(function() if env then env.stop() end end)

  it("raises ChannelOpenError when the server refuses a session", function()
    timed(30, function()
      local conn <close> = env.connect()
      local first = conn:create_process("sleep 5")
      local ok, err = pcall(conn.create_process, conn, "echo second")
      assert.is_false(ok)
      assert.equal("ChannelOpenError", err.kind)
      assert.is_number(err.code)
      assert.matches("127%.0%.0%.1 port " .. env.port .. " refused to open a "
                     .. "session channel", err.reason)
      first:close()
    end)
  end)

  it("raises PermissionDenied when the server stops the tries", function()
    timed(30, function()
      local keys = {}
      for i = 1, 4 do keys[i] = ssh.generate_private_key("ssh-ed25519") end
      local ok, err = pcall(env.connect, {client_keys = keys})
      assert.is_false(ok)
      assert.equal("PermissionDenied", err.kind)
      assert.equal("root", err.username)
      assert.equal("publickey", err.methods_tried[1].method)
    end)
  end)
end)
