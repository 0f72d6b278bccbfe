-- The SSH server's Lua API (issue 6), driven by our own client in the same
-- process: listening, every auth method and SSHServer callback,
-- authorized_keys options, sessions in both styles, runtime requests,
-- and the limits.  Interop with OpenSSH, paramiko and asyncssh clients is
-- in spec/interop/server_spec.lua.
local ssh = require "luassh"
local util = require "spec.support.util"

local host_key = ssh.generate_private_key("ssh-ed25519")
local user_key = ssh.generate_private_key("ssh-ed25519")
local other_key = ssh.generate_private_key("ssh-ed25519")

local function listen(opts)
  opts.server_host_keys = opts.server_host_keys or {host_key}
  return ssh.listen("127.0.0.1", 0, opts)
end

local function connect(l, opts)
  opts = opts or {}
  opts.known_hosts = opts.known_hosts or ssh.import_known_hosts(
    ssh.format_known_hosts_entry("127.0.0.1", l:get_port(), host_key))
  opts.username = opts.username or "alice"
  if opts.client_keys == nil then opts.client_keys = {} end
  opts.agent_path = false
  return ssh.connect("127.0.0.1", l:get_port(), opts)
end

local function echo_factory(p)
  p.stdout:write(("user=%s command=%s subsystem=%s\n"):format(
    p:get_extra_info("username"), tostring(p.command), tostring(p.subsystem)))
  p:exit(0)
end

describe("ssh.listen", function()
  it("listens on port 0, reports the port and closes", function()
    local l <close> = listen {authorized_client_keys = {user_key},
                              process_factory = echo_factory}
    local port = l:get_port()
    assert.is_true(port > 0)
    assert.same({{"127.0.0.1", port}}, l:get_addresses())
    local conn <close> = connect(l, {client_keys = {user_key}})
    local r = conn:run("hello world")
    assert.equal("user=alice command=hello world subsystem=nil\n", r.stdout)
    assert.equal(0, r.exit_status)
    l:close()
    assert.is_true(l:is_closed())
    local ok, err = pcall(ssh.connect, "127.0.0.1", port, {known_hosts = false})
    assert.is_false(ok)
    assert.equal("ConnectionRefused", err.kind)
  end)

  it("generates a host key when given none, and stores it in host_key_file", function()
    local dir = util.tmpdir()
    local path = dir .. "/hostkey"
    local l <close> = ssh.listen("127.0.0.1", 0, {host_key_file = path,
      authorized_client_keys = {user_key}, process_factory = echo_factory,
      log_host_key = false})
    local key = ssh.read_private_key(path)
    local conn <close> = ssh.connect("127.0.0.1", l:get_port(), {
      username = "u", client_keys = {user_key}, agent_path = false,
      known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
        "127.0.0.1", l:get_port(), key))})
    assert.equal(0, conn:run("x").exit_status)
    -- a second listener reuses the stored key
    local l2 <close> = ssh.listen("127.0.0.1", 0, {host_key_file = path,
      authorized_client_keys = {user_key}, process_factory = echo_factory})
    assert.equal(key:get_fingerprint(), l2.host_keys[1]:get_fingerprint())
    util.rmtree(dir)
  end)

  it("get_extra_info on both sides: versions and directions from each one's view", function()
    local seen
    local l <close> = listen {authorized_client_keys = {user_key},
      server_version = "TestServer_1",
      process_factory = function(p)
        local conn = p:get_extra_info("connection")
        seen = {}
        for _, k in ipairs {"client_version", "server_version", "send_cipher",
                            "recv_cipher", "send_mac", "recv_mac",
                            "send_compression", "recv_compression"} do
          seen[k] = conn:get_extra_info(k)
        end
        p:exit(0)
      end}
    local conn <close> = connect(l, {client_keys = {user_key},
      client_version = "TestClient_2",
      encryption_algs = {"aes128-ctr", "aes256-ctr"},
      mac_algs = {"hmac-sha2-256"}, compression_algs = {"zlib@openssh.com", "none"}})
    assert.equal(0, conn:run("x").exit_status)
    assert.equal("SSH-2.0-TestClient_2", conn:get_extra_info("client_version"))
    assert.equal("SSH-2.0-TestServer_1", conn:get_extra_info("server_version"))
    assert.equal("SSH-2.0-TestClient_2", seen.client_version)
    assert.equal("SSH-2.0-TestServer_1", seen.server_version)
    for _, dir in ipairs {{"send", "recv"}, {"recv", "send"}} do
      for _, what in ipairs {"cipher", "mac", "compression"} do
        assert.equal(conn:get_extra_info(dir[1] .. "_" .. what),
                     seen[dir[2] .. "_" .. what], dir[2] .. "_" .. what)
      end
    end
  end)

  it("rejects unknown options and bad ports", function()
    assert.has_error(function() ssh.listen("127.0.0.1", 0, {bogus = 1}) end,
                     "unknown listen option 'bogus'")
    assert.has_error(function() ssh.listen("127.0.0.1", 70000, {}) end)
  end)

  it("refuses factories that cannot be called, before any client comes", function()
    assert.has_error(function()
      listen {server_factory = {begin_auth = function() return true end}}
    end, "listen option 'server_factory' must be a function (got table)")
    assert.has_error(function() listen {process_factory = "run"} end,
      "listen option 'process_factory' must be a function (got string)")
    assert.has_error(function() listen {sftp_factory = 1} end,
      "listen option 'sftp_factory' must be true, a table or a function (got number)")
    -- A callable table is a factory (AsyncSSH takes a class).
    local Server = setmetatable({}, {__call = function() return {} end})
    local l <close> = listen {server_factory = Server,
                              authorized_client_keys = {user_key},
                              process_factory = echo_factory}
    local conn <close> = connect(l, {client_keys = {user_key}})
    assert.equal(0, conn:run("x").exit_status)
  end)

  it("drops the client at once when server_factory raises", function()
    local calls = 0
    local l <close> = listen {server_factory = function()
      calls = calls + 1
      if calls == 1 then error("boom in the factory") end
      return {}
    end, authorized_client_keys = {user_key}, process_factory = echo_factory,
      login_timeout = 30}
    local t0 = ssh.now()
    local ok, err = pcall(connect, l, {client_keys = {user_key}})
    assert.is_false(ok)
    assert.equal("ConnectionLost", err.kind)
    assert.is_true(ssh.now() - t0 < 5) -- not the 30 s login timeout
    -- and the next client is served
    local conn <close> = connect(l, {client_keys = {user_key}})
    assert.equal(0, conn:run("x").exit_status)
  end)

  it("reports a port in use as OSError", function()
    local l <close> = listen {process_factory = echo_factory}
    local ok, err = pcall(ssh.listen, "127.0.0.1", l:get_port(),
                          {server_host_keys = {host_key}})
    assert.is_false(ok)
    assert.equal("OSError", err.kind)
    assert.matches("cannot listen on 127.0.0.1 port", err.reason, 1, true)
  end)
end)

describe("server authentication", function()
  it("password auth through SSHServer callbacks, in order", function()
    local calls = {}
    local srv = {}
    function srv:connection_made(conn) calls[#calls + 1] = "made" self.conn = conn end
    function srv:begin_auth(user) calls[#calls + 1] = "begin " .. user return true end
    function srv:password_auth_supported() return true end
    function srv:validate_password(user, pw)
      ssh.sleep(0.01) -- validators may wait
      return user == "alice" and pw == "s3cret"
    end
    function srv:auth_completed() calls[#calls + 1] = "completed" end
    function srv:connection_lost(exc) calls[#calls + 1] = "lost" end
    local l <close> = ssh.create_server(function() return srv end, "127.0.0.1", 0,
      {server_host_keys = {host_key}, process_factory = echo_factory})
    local ok, err = pcall(connect, l, {password = "wrong", preferred_auth = {"password"}})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
    local conn = connect(l, {password = "s3cret", preferred_auth = {"password"}})
    assert.equal("user=alice command=ls subsystem=nil\n", conn:run("ls").stdout)
    conn:close()
    conn:wait_closed()
    ssh.sleep(0.05)
    assert.same({"made", "begin alice", "lost", "made", "begin alice",
                 "completed", "lost"}, calls)
  end)

  it("begin_auth returning false admits the user with no credentials", function()
    local l <close> = ssh.create_server(function()
      return {begin_auth = function(_, user) return user ~= "guest" end}
    end, "127.0.0.1", 0, {server_host_keys = {host_key}, process_factory = echo_factory})
    local conn <close> = connect(l, {username = "guest"})
    assert.equal(0, conn:run("x").exit_status)
    local ok, err = pcall(connect, l, {username = "other"})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
  end)

  it("password change requested by validate_password", function()
    local srv = {
      password_auth_supported = function() return true end,
      validate_password = function(_, _, pw)
        if pw == "old" then error(ssh.PasswordChangeRequired("expired")) end
        return pw == "new"
      end,
      change_password = function(_, user, old, new)
        return old == "old" and new == "new"
      end,
    }
    local l <close> = ssh.create_server(function() return srv end, "127.0.0.1", 0,
      {server_host_keys = {host_key}, process_factory = echo_factory})
    local prompts = {}
    local conn <close> = connect(l, {password = "old", preferred_auth = {"password"},
      password_change = function(prompt) prompts[#prompts + 1] = prompt return "old", "new" end})
    assert.equal(0, conn:run("x").exit_status)
    assert.same({"expired"}, prompts)
  end)

  it("keyboard-interactive challenges through callbacks", function()
    local srv = {
      kbdint_auth_supported = function() return true end,
      get_kbdint_challenge = function(_, user)
        return {"Login", "Answer two questions", "",
                {{"Name: ", true}, {"PIN: ", false}}}
      end,
      validate_kbdint_response = function(_, user, responses)
        return responses[1] == user and responses[2] == "1234"
      end,
    }
    local l <close> = ssh.create_server(function() return srv end, "127.0.0.1", 0,
      {server_host_keys = {host_key}, process_factory = echo_factory})
    local seen
    local conn <close> = connect(l, {preferred_auth = {"keyboard-interactive"},
      kbdint_auth = function(name, instr, lang, prompts)
        seen = {name, instr, prompts[1][1], prompts[1][2], prompts[2][2]}
        return {"alice", "1234"}
      end})
    assert.equal(0, conn:run("x").exit_status)
    assert.same({"Login", "Answer two questions", "Name: ", true, false}, seen)
  end)

  it("password auth offered through keyboard-interactive too (AsyncSSH)", function()
    local srv = {validate_password = function(_, u, pw) return pw == "pw" end}
    local l <close> = ssh.create_server(function() return srv end, "127.0.0.1", 0,
      {server_host_keys = {host_key}, process_factory = echo_factory})
    local conn <close> = connect(l, {preferred_auth = {"keyboard-interactive"},
      kbdint_auth = function(_, _, _, prompts)
        assert.equal("Password: ", prompts[1][1])
        return {"pw"}
      end})
    assert.equal(0, conn:run("x").exit_status)
  end)

  it("public keys: authorized_client_keys, validate_public_key, set_authorized_keys", function()
    local l1 <close> = listen {authorized_client_keys = {user_key},
                               process_factory = echo_factory}
    local c1 = connect(l1, {client_keys = {user_key}})
    c1:close()
    local ok, err = pcall(connect, l1, {client_keys = {other_key}})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)

    local l2 <close> = ssh.create_server(function()
      return {validate_public_key = function(_, user, key)
        return user == "bob" and key:get_fingerprint() == other_key:get_fingerprint()
      end}
    end, "127.0.0.1", 0, {server_host_keys = {host_key}, process_factory = echo_factory})
    local c2 = connect(l2, {username = "bob", client_keys = {other_key}})
    c2:close()

    local dir = util.tmpdir()
    util.write(dir .. "/carol", user_key:export_public_key())
    local l3 <close> = ssh.create_server(function()
      local s = {}
      function s:connection_made(conn) self.conn = conn end
      function s:begin_auth(user)
        pcall(self.conn.set_authorized_keys, self.conn, dir .. "/" .. user)
        return true
      end
      return s
    end, "127.0.0.1", 0, {server_host_keys = {host_key}, process_factory = echo_factory})
    local c3 = connect(l3, {username = "carol", client_keys = {user_key}})
    c3:close()
    assert.is_false(pcall(connect, l3, {username = "dave", client_keys = {user_key}}))
    util.rmtree(dir)
  end)

  it("enforces authorized_keys command=, environment= and no-pty", function()
    local line = 'command="forced",environment="FOO=bar",no-pty '
      .. user_key:export_public_key()
    local l <close> = listen {authorized_client_keys = ssh.import_authorized_keys(line),
      process_factory = function(p)
        p.stdout:write(("%s|%s|%s|%s\n"):format(p.command, tostring(p.env.FOO),
          tostring(p.env.SSH_ORIGINAL_COMMAND), tostring(p.term_type)))
        p:exit(0)
      end}
    local conn <close> = connect(l, {client_keys = {user_key}})
    assert.equal("forced|bar|wanted|nil\n", conn:run("wanted").stdout)
    local ok, err = pcall(conn.run, conn, "x", {term_type = "xterm"})
    assert.is_false(ok)
    assert.matches("pseudo-terminal", tostring(err), 1, true)
  end)

  it("honours from= restrictions", function()
    local line = 'from="10.0.0.0/8" ' .. user_key:export_public_key()
    local l <close> = listen {authorized_client_keys = ssh.import_authorized_keys(line),
                              process_factory = echo_factory}
    local ok, err = pcall(connect, l, {client_keys = {user_key}})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
  end)

  it("counts max_auth_tries over every method", function()
    local srv = {validate_password = function() return false end}
    local l <close> = ssh.create_server(function() return srv end, "127.0.0.1", 0,
      {server_host_keys = {host_key}, process_factory = echo_factory, max_auth_tries = 2})
    local n = 0
    local ok, err = pcall(connect, l, {preferred_auth = {"keyboard-interactive", "password"},
      password = function() n = n + 1 return "bad" .. n end,
      kbdint_auth = function() n = n + 1 return {"bad"} end})
    assert.is_false(ok)
    assert.is_true(n <= 2)
  end)

  it("drops a client that does not log in within login_timeout", function()
    local lost = {}
    local l <close> = ssh.create_server(function()
      return {validate_password = function() return false end,
              connection_lost = function(_, exc) lost[#lost + 1] = exc end}
    end, "127.0.0.1", 0, {server_host_keys = {host_key},
                           process_factory = echo_factory, login_timeout = 0.3})
    local t = ssh.spawn(function()
      return pcall(connect, l, {preferred_auth = {"keyboard-interactive"},
        kbdint_auth = function() ssh.sleep(1.5) return {"x"} end})
    end)
    ssh.sleep(0.8)
    -- the server gave up while the client was still thinking
    assert.equal(1, #lost)
    assert.is_not_nil(lost[1])
    assert.is_false(t:wait())
  end)
end)

describe("server sessions", function()
  local function user_listen(opts)
    opts.authorized_client_keys = {user_key}
    return listen(opts)
  end

  it("passes env, pty settings and runtime requests to the process", function()
    local log, info = {}, {}
    local l <close> = user_listen {line_editor = false, process_factory = function(p)
      info.env = p.env
      info.term_type = p.term_type
      info.size = p.term_size
      p.stdout:write("ready\n")
      while true do
        local ok, res = pcall(p.stdin.read, p.stdin, 100)
        if ok then
          if res == "" then break end
          log[#log + 1] = "data " .. res
        else
          log[#log + 1] = res.kind .. " " .. tostring(res.width or res.msec or res.signal)
        end
      end
      p:exit_with_signal("TERM", false, "bye")
    end}
    local conn <close> = connect(l, {client_keys = {user_key}})
    local proc = conn:create_process("cmd", {env = {LANG = "C"}, term_type = "vt100",
                                             term_size = {100, 30}})
    assert.equal("ready\n", proc.stdout:readline())
    proc.stdin:write("abc")
    proc.stdin:drain()
    ssh.sleep(0.05)
    proc:change_terminal_size(120, 40)
    proc:send_break(250)
    proc:send_signal("INT")
    proc.stdin:write("def")
    proc.stdin:write_eof()
    local r = proc:wait()
    assert.equal("TERM", r.exit_signal[1])
    assert.equal(-15, r.returncode)
    assert.same({LANG = "C"}, info.env)
    assert.equal("vt100", info.term_type)
    assert.same({100, 30, 0, 0}, info.size)
    assert.same({"data abc", "TerminalSizeChanged 120", "BreakReceived 250",
                 "SignalReceived INT", "data def"}, log)
  end)

  it("sums stdin lines, with stderr for bad input (the seed's example)", function()
    local l <close> = user_listen {process_factory = function(p)
      p.stdout:write("Enter numbers one per line, or EOF when done:\n")
      local total = 0
      for line in p.stdin:lines() do
        if tonumber(line) then total = total + tonumber(line)
        elseif line ~= "" then p.stderr:write("Invalid number: " .. line .. "\n") end
      end
      p.stdout:write("Total = " .. total .. "\n")
      p:exit(0)
    end}
    local conn <close> = connect(l, {client_keys = {user_key}})
    local r = conn:run(nil, {input = "1\n2\nx\n39\n"})
    assert.equal("Enter numbers one per line, or EOF when done:\nTotal = 42\n", r.stdout)
    assert.equal("Invalid number: x\n", r.stderr)
  end)

  it("runs callback sessions (session_factory)", function()
    local events = {}
    local function factory()
      local s = {input = "", total = 0}
      function s:connection_made(chan) self.chan = chan end
      function s:shell_requested() return true end
      function s:exec_requested(cmd) return cmd == "sum" end
      function s:session_started() self.chan:write("Enter numbers:\n") end
      function s:data_received(data) 
        self.input = self.input .. data
        for line in self.input:gmatch("([^\n]*)\n") do
          self.total = self.total + (tonumber(line) or 0)
        end
        self.input = self.input:match("([^\n]*)$")
      end
      function s:eof_received()
        self.chan:write("Total = " .. self.total .. "\n")
        self.chan:write_stderr("done\n")
        self.chan:exit(0)
        return false
      end
      function s:connection_lost(exc) events[#events + 1] = "lost" end
      return s
    end
    local l <close> = user_listen {session_factory = factory}
    local conn <close> = connect(l, {client_keys = {user_key}})
    local r = conn:run("sum", {input = "10\n20\n"})
    assert.equal("Enter numbers:\nTotal = 30\n", r.stdout)
    assert.equal("done\n", r.stderr)
    assert.equal(0, r.exit_status)
    local ok, err = pcall(conn.run, conn, "other")
    assert.is_false(ok)
    ssh.sleep(0.05)
    assert.same({"lost", "lost"}, events)
  end)

  it("refuses sessions when session_requested says no", function()
    local l <close> = ssh.create_server(function()
      return {session_requested = function() return false end}
    end, "127.0.0.1", 0, {server_host_keys = {host_key},
                           authorized_client_keys = {user_key},
                           process_factory = echo_factory})
    local conn <close> = connect(l, {client_keys = {user_key}})
    local ok, err = pcall(conn.run, conn, "x")
    assert.is_false(ok)
    assert.equal("ChannelOpenError", err.kind)
  end)

  it("handles many sessions on one connection and 50 connections at once", function()
    local l <close> = user_listen {process_factory = echo_factory}
    local fns = {}
    for i = 1, 50 do
      fns[i] = function()
        local conn <close> = connect(l, {client_keys = {user_key}, username = "u" .. i})
        local outs = ssh.gather({
          function() return conn:run("a").stdout end,
          function() return conn:run("b").stdout end,
        })
        return outs[1] .. outs[2]
      end
    end
    local res = ssh.gather(fns)
    for i = 1, 50 do
      assert.equal(("user=u%d command=a subsystem=nil\nuser=u%d command=b subsystem=nil\n")
        :format(i, i), res[i])
    end
  end)

  it("a handler error exits 1 and the server keeps serving", function()
    local l <close> = user_listen {process_factory = function(p)
      if p.command == "x" then error("boom") end
      p:exit(5)
    end}
    local conn <close> = connect(l, {client_keys = {user_key}})
    local r = conn:run("x")
    assert.equal(1, r.exit_status)
    assert.matches("internal error", r.stderr, 1, true)
    assert.equal(5, conn:run("y").exit_status)
  end)

  it("streams a large output with flow control", function()
    local chunk = string.rep("x", 65536)
    local l <close> = user_listen {process_factory = function(p)
      for _ = 1, 64 do p.stdout:write(chunk) p.stdout:drain() end
      p:exit(0)
    end}
    local conn <close> = connect(l, {client_keys = {user_key}})
    local r = conn:run("big")
    assert.equal(64 * 65536, #r.stdout)
  end)
end)

describe("server line editor and local processes", function()
  local function user_listen(opts)
    opts.authorized_client_keys = {user_key}
    return listen(opts)
  end

  it("edits lines in pty sessions: echo, backspace, echo off, raw mode", function()
    local got = {}
    local l <close> = user_listen {process_factory = function(p)
      p.stdout:write("Name: ")
      got.name = p.stdin:readline()
      p.channel:set_echo(false)
      p.stdout:write("Secret: ")
      got.secret = p.stdin:readline()
      p.channel:set_line_mode(false)
      p.stdout:write("\nkey?")
      got.key = p.stdin:read(1)
      p.stdout:write("\nbye\n")
      p:exit(0)
    end}
    local conn <close> = connect(l, {client_keys = {user_key}})
    local proc = conn:create_process(nil, {term_type = "xterm", term_size = {80, 24}})
    proc.stdin:write("bobx\127\r")  -- a typo, backspace, Enter
    ssh.sleep(0.1)
    proc.stdin:write("xyzzy\r")
    ssh.sleep(0.1)
    proc.stdin:write("q")
    local r = proc:wait()
    assert.equal("bob\n", got.name)
    assert.equal("xyzzy\n", got.secret)
    assert.equal("q", got.key)
    -- echo of the name (with the erased x), none of the secret, CRLF output
    assert.matches("Name: bobx\8\27[K\r\nSecret: \r\n", r.stdout, 1, true)
    assert.is_nil(r.stdout:find("xyzzy", 1, true))
    assert.matches("\r\nbye\r\n$", r.stdout)
  end)

  it("redirects a session to a local subprocess", function()
    local l <close> = user_listen {process_factory = function(p)
      local child = ssh.create_subprocess({"tr", "a-z", "A-Z"})
      p:redirect{stdin = child.stdin, stdout = child.stdout, stderr = child.stderr}
      p.stdout:drain()
      p:exit(child:wait())
    end}
    local conn <close> = connect(l, {client_keys = {user_key}})
    local r = conn:run("upper", {input = "hello\nworld\n"})
    assert.equal("HELLO\nWORLD\n", r.stdout)
    assert.equal(0, r.exit_status)
  end)

  it("kills the redirected subprocess when the client vanishes", function()
    local child
    local l <close> = user_listen {process_factory = function(p)
      child = ssh.create_subprocess("sleep 100")
      p:redirect{stdin = child.stdin, stdout = child.stdout}
      p.stdout:drain()
      p:exit(0)
    end}
    local conn = connect(l, {client_keys = {user_key}})
    local proc = conn:create_process("sleep")
    ssh.sleep(0.3)
    assert.is_not_nil(child)
    assert.is_nil(child.returncode)
    conn:abort()
    local t0 = ssh.now()
    while child.returncode == nil and ssh.now() - t0 < 5 do ssh.sleep(0.05) end
    assert.equal(-9, child.returncode)
  end)
end)

describe("server limits", function()
  it("max_startups drops unauthenticated connections beyond the limit", function()
    local l <close> = listen {authorized_client_keys = {user_key},
                              process_factory = echo_factory, max_startups = 5}
    local socks = {}
    local py = io.popen(("/usr/bin/python3 -c %s"):format(util.q(([[
import socket, time
ss = []
for i in range(20):
    s = socket.create_connection(("127.0.0.1", %d))
    ss.append(s)
time.sleep(0.5)
closed = 0
for s in ss:
    s.settimeout(0.5)
    try:
        d = s.recv(100)
        if d == b"": closed += 1
    except Exception:
        pass
time.sleep(1.5)
]]):format(l:get_port()))))
    local stats
    local t0 = ssh.now()
    repeat
      ssh.sleep(0.05)
      stats = l:get_stats()
    until stats.unauthenticated + stats.dropped >= 20 or ssh.now() - t0 > 5
    assert.equal(5, stats.unauthenticated)
    assert.is_true(stats.dropped >= 15)
    py:close()
  end)
end)
