-- Direct TCP/IP connections through OpenSSH's sshd (RFC 4254 §7.2):
-- conn:open_connection (streams) and conn:create_connection (callbacks),
-- bytes both ways with a half-close, and each way a server refuses.
local ssh = require "luassh"
local util = require "spec.support.util"
local cenv = require "spec.support.client_env"
local pyserver = require "spec.support.python_server"

local timed = cenv.timed

describe("direct TCP/IP connections through sshd", function()
  local env, echo

  setup(function()
    env = cenv.start_sshd()
    echo = pyserver.start("tcp_echo.py")
  end)
  teardown(function()
    if env then env.stop() end
    if echo then echo.stop() end
  end)

  local function with_conn(fn, e)
    return timed(60, function()
      local conn <close> = (e or env).connect()
      return fn(conn)
    end)
  end

  it("open_connection: a banner, then 1 MiB echoed back after a half-close", function()
    with_conn(function(conn)
      local r, w = conn:open_connection("127.0.0.1", env.port)
      assert.matches("^SSH%-2%.0%-OpenSSH", r:readline())
      w:close()
      r, w = conn:open_connection("127.0.0.1", echo.port, {orig_host = "127.0.0.1",
                                                            orig_port = 4242})
      local data = {}
      for i = 1, 65536 do data[i] = string.pack(">I4", i * 2654435761 % 4294967296) .. "zzzzzzzzzzzz" end
      data = table.concat(data)
      local got = ssh.spawn(function() return r:read() end)
      w:write(data)
      w:drain()
      w:write_eof()
      local back = got:wait()
      assert.equal(#data, #back)
      assert.is_true(back == data, "the echo differs")
      assert.is_true(r:at_eof())
      w:close()
    end)
  end)

  it("create_connection: the session gets the data, the EOF and the end", function()
    with_conn(function(conn)
      local events, got = {}, {}
      local session = {
        connection_made = function(_, chan) events[#events + 1] = "made" end,
        data_received = function(_, data, datatype)
          got[#got + 1] = data
        end,
        eof_received = function() events[#events + 1] = "eof" end,
        connection_lost = function(_, exc)
          events[#events + 1] = exc and ("lost " .. tostring(exc)) or "lost"
        end,
      }
      local chan, s = conn:create_connection(session, "127.0.0.1", echo.port)
      assert.equal(session, s)
      chan:write("ping\n")
      chan:write("pong\n")
      chan:write_eof()
      chan:wait_closed()
      assert.equal("ping\npong\n", table.concat(got))
      assert.same({"made", "eof", "lost"}, events)
    end)
  end)

  it("raises ChannelOpenError naming the destination when the server cannot connect", function()
    with_conn(function(conn)
      -- A port nobody listens on: the echo server's, once stopped.
      local dead = pyserver.start("tcp_echo.py")
      local port = dead.port
      dead.stop()
      os.execute("sleep 0.2")
      local ok, err = pcall(conn.open_connection, conn, "127.0.0.1", port)
      assert.is_false(ok)
      assert.equal("ChannelOpenError", err.kind)
      assert.equal(2, err.code) -- OPEN_CONNECT_FAILED
      assert.matches("cannot connect to 127.0.0.1 port " .. port, tostring(err), 1, true)
      -- The connection is still good.
      assert.equal("x\n", conn:run("echo x").stdout)
      assert.has_error(function() conn:open_connection("127.0.0.1", 70000) end)
      assert.has_error(function() conn:open_connection(nil, 22) end)
    end)
  end)

  it("raises ChannelOpenError when the server forbids forwarding", function()
    local e2 = cenv.start_sshd {extra = {"AllowTcpForwarding no"}}
    local ok, err = pcall(with_conn, function(conn)
      local ok2, err2 = pcall(conn.open_connection, conn, "127.0.0.1", echo.port)
      assert.is_false(ok2)
      assert.equal("ChannelOpenError", err2.kind)
      assert.equal(1, err2.code) -- ADMINISTRATIVELY_PROHIBITED
      assert.equal("y\n", conn:run("echo y").stdout)
    end, e2)
    e2.stop()
    assert(ok, err)
  end)
end)
