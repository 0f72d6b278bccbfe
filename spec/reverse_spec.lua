-- Reverse-direction connections (AsyncSSH's connect_reverse and
-- listen_reverse, RFC 8071 "call home"), our client and server in one
-- process: the side that dials is the SSH server, the side that listens
-- is the SSH client.  The examples as programs, and AsyncSSH itself, are
-- in spec/interop/reverse_examples_spec.lua.
local ssh = require "luassh"

local dialer_key = ssh.generate_private_key("ssh-ed25519")   -- host key of the SSH server
local listener_key = ssh.generate_private_key("ssh-ed25519") -- client key of the SSH client
local other_key = ssh.generate_private_key("ssh-ed25519")

local function trusted(key, port)
  return ssh.import_known_hosts(ssh.format_known_hosts_entry("127.0.0.1",
                                                             port or 22, key))
end

-- A process_factory that runs the command locally (the seed's client).
local function run_locally(process)
  local lp = ssh.create_subprocess(process.command)
  process:redirect{stdin = lp.stdin, stdout = lp.stdout, stderr = lp.stderr}
  process:exit(lp:wait())
end

-- listen_reverse with the listener's key and trust in the dialer's host
-- key; events are collected in `seen`.
local function listen(seen, opts)
  opts = opts or {}
  local o = {
    username = "calling", client_keys = {listener_key},
    known_hosts = trusted(dialer_key), agent_path = false,
    acceptor = function(conn)
      seen.conns = (seen.conns or 0) + 1
      if seen.acceptor then return seen.acceptor(conn) end
    end,
    error_handler = function(conn, err)
      seen.errors = seen.errors or {}
      seen.errors[#seen.errors + 1] = err
      seen.error_conn = conn
    end,
  }
  for k, v in pairs(opts) do o[k] = v end
  return ssh.listen_reverse("127.0.0.1", 0, o)
end

local function dial(port, opts)
  opts = opts or {}
  local o = {server_host_keys = {dialer_key},
             authorized_client_keys = {listener_key},
             process_factory = run_locally}
  for k, v in pairs(opts) do o[k] = v end
  return ssh.connect_reverse("127.0.0.1", port, o)
end

-- Waits (bounded) until pred() holds.
local function until_true(pred)
  for _ = 1, 200 do
    if pred() then return true end
    ssh.sleep(0.02)
  end
  return false
end

describe("connect_reverse + listen_reverse", function()
  it("runs commands from the listening side on the dialling side", function()
    local seen, results = {}, {}
    seen.acceptor = function(conn)
      assert.equal("127.0.0.1", conn:get_extra_info("peername")[1])
      assert.equal(dialer_key:get_fingerprint(),
                   conn:get_server_host_key():get_fingerprint())
      local conn_ <close> = conn
      local cmds = {"echo one", "printf two >&2; exit 4", "cat"}
      local rs = ssh.gather{
        function() return conn:run(cmds[1]) end,
        function() return conn:run(cmds[2]) end,
        function() return conn:run(cmds[3], {input = "three\n"}) end}
      for i, r in ipairs(rs) do results[i] = r end
    end
    local acc <close> = listen(seen)
    local port = acc:get_port()
    assert.is_true(port > 0)
    local conn = dial(port)
    assert.equal("calling", conn:get_extra_info("username"))
    assert.equal(port, conn:get_extra_info("peername")[2])
    assert.matches("SSHServerConnection", tostring(conn))
    -- The listening side closes the connection when its acceptor is done.
    ssh.timeout(20, conn.wait_closed, conn)
    assert.equal(1, seen.conns)
    assert.is_nil(seen.errors)
    assert.equal("echo one", results[1].command)
    assert.equal(0, results[1].exit_status)
    assert.equal("one\n", results[1].stdout)
    assert.equal(4, results[2].exit_status)
    assert.equal(4, results[2].returncode)
    assert.equal("", results[2].stdout)
    assert.equal("two", results[2].stderr)
    assert.equal(0, results[3].exit_status)
    assert.equal("three\n", results[3].stdout)
  end)

  it("serves several dialling connections on one listener", function()
    local seen, outs = {}, {}
    seen.acceptor = function(conn)
      local r = conn:run("echo $((6 * 7))")
      outs[#outs + 1] = r.stdout
      conn:close()
    end
    local acc <close> = listen(seen)
    local conns = ssh.gather{
      function() return dial(acc:get_port()) end,
      function() return dial(acc:get_port()) end}
    for _, c in ipairs(conns) do ssh.timeout(20, c.wait_closed, c) end
    assert.same({"42\n", "42\n"}, outs)
  end)

  it("the dialler's <close> and close() end the connection on both sides", function()
    local seen, lost = {}, nil
    seen.acceptor = function(conn)
      conn:wait_closed()
      lost = true
    end
    local acc <close> = listen(seen)
    do
      local conn <close> = dial(acc:get_port())
      assert.is_false(conn:is_closed())
    end
    assert.is_true(until_true(function() return lost end))
  end)

  it("acceptor:close() stops listening and closes the connections", function()
    local seen, got = {}, nil
    seen.acceptor = function(conn) got = conn end
    local acc = listen(seen)
    local port = acc:get_port()
    local conn = dial(port)
    assert.is_true(until_true(function() return got ~= nil end))
    acc:close()
    ssh.timeout(10, acc.wait_closed, acc)
    assert.is_true(acc:is_closed())
    ssh.timeout(10, conn.wait_closed, conn)
    local ok, err = pcall(dial, port)
    assert.is_false(ok)
    assert.equal("ConnectionRefused", err.kind)
  end)

  it("an untrusted host key: HostKeyNotVerifiable on the listening side", function()
    local seen = {}
    local acc <close> = listen(seen, {known_hosts = trusted(other_key)})
    local ok, err = pcall(dial, acc:get_port())
    assert.is_false(ok)
    assert.is_true(ssh.is_error(err), tostring(err))
    assert.equal("HostKeyNotVerifiable", err.kind)
    assert.is_true(until_true(function() return seen.errors ~= nil end))
    assert.equal(1, #seen.errors)
    assert.equal("HostKeyNotVerifiable", seen.errors[1].kind)
    assert.matches("has CHANGED", seen.errors[1].reason, 1, true)
    assert.equal(dialer_key:get_fingerprint(), seen.errors[1].fingerprint)
    assert.is_nil(seen.conns)
    -- No entry at all for the address.
    local acc2 <close> = listen(seen, {known_hosts = ssh.import_known_hosts(
      ssh.format_known_hosts_entry("10.9.9.9", 22, dialer_key))})
    ok, err = pcall(dial, acc2:get_port())
    assert.is_false(ok)
    assert.equal("HostKeyNotVerifiable", err.kind)
    assert.is_true(until_true(function() return #seen.errors == 2 end))
    assert.matches("is unknown: no entry for [127.0.0.1]:", seen.errors[2].reason,
                   1, true)
  end)

  it("trusts a wildcard pattern, and known_hosts = false", function()
    local seen = {}
    seen.acceptor = function(conn) conn:close() end
    local acc <close> = listen(seen, {known_hosts = ssh.import_known_hosts(
      "* " .. dialer_key:export_public_key("openssh"))})
    local conn = dial(acc:get_port())
    ssh.timeout(10, conn.wait_closed, conn)
    assert.equal(1, seen.conns)
    -- known_hosts = false: no check (and a warning).
    local acc2 <close> = listen(seen, {known_hosts = false,
                                       known_hosts_warning = false})
    conn = dial(acc2:get_port())
    ssh.timeout(10, conn.wait_closed, conn)
    assert.equal(2, seen.conns)
  end)

  it("a key the dialler does not authorize: PermissionDenied", function()
    local seen = {}
    local acc <close> = listen(seen, {client_keys = {other_key}})
    local ok, err = pcall(dial, acc:get_port())
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind, tostring(err))
    assert.is_true(until_true(function() return seen.errors ~= nil end))
    assert.equal("PermissionDenied", seen.errors[1].kind)
    assert.matches("calling", seen.errors[1].reason, 1, true)
    assert.is_nil(seen.conns)
  end)

  it("SSHServer callbacks run on the dialling side", function()
    local calls = {}
    local seen = {}
    seen.acceptor = function(conn)
      local r = conn:run("anything")
      calls.stdout = r.stdout
      conn:close()
    end
    local acc <close> = listen(seen, {username = "bob"})
    local conn = dial(acc:get_port(), {
      authorized_client_keys = nil,
      server_factory = function()
        return {
          connection_made = function() calls.made = true end,
          begin_auth = function(_, user) calls.user = user return true end,
          validate_public_key = function(_, _, key)
            return key:get_fingerprint() == listener_key:get_fingerprint()
          end,
          connection_lost = function(_, exc) calls.lost = exc or "clean" end,
        }
      end,
      process_factory = function(p)
        p.stdout:write("hello " .. p:get_extra_info("username") .. "\n")
        p:exit(0)
      end,
    })
    ssh.timeout(10, conn.wait_closed, conn)
    assert.is_true(until_true(function() return calls.lost ~= nil end))
    assert.is_true(calls.made)
    assert.equal("bob", calls.user)
    assert.equal("hello bob\n", calls.stdout)
    assert.equal("clean", calls.lost)
  end)

  it("connect_reverse to a closed port raises ConnectionRefused", function()
    local acc = listen({})
    local port = acc:get_port()
    acc:close()
    ssh.timeout(5, acc.wait_closed, acc)
    local ok, err = pcall(dial, port)
    assert.is_false(ok)
    assert.equal("ConnectionRefused", err.kind)
  end)

  it("checks its arguments", function()
    local ok, err = pcall(ssh.connect_reverse, "127.0.0.1", 1, {bogus = 1})
    assert.is_false(ok)
    assert.matches("unknown connect_reverse option 'bogus'", err)
    ok, err = pcall(ssh.connect_reverse, "127.0.0.1", 70000, {})
    assert.is_false(ok)
    assert.matches("port", err)
    ok, err = pcall(ssh.listen_reverse, "127.0.0.1", -1, {})
    assert.is_false(ok)
    assert.matches("port", err)
    ok, err = pcall(ssh.listen_reverse, "not an address", 0,
                    {known_hosts = false})
    assert.is_false(ok)
    assert.equal("OSError", err.kind)
  end)
end)
