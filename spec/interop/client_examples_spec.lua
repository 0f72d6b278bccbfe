-- Every client example of AsyncSSH's documentation, written in Lua in
-- scripts/examples/, run as a script against OpenSSH's sshd (issue 5).
--
-- The examples connect to "localhost" with every default, as the seed's
-- do: the spec gives them a HOME whose ~/.ssh holds the key (id_ed25519),
-- the known_hosts entries and a config naming the server's port.
local ssh = require "luassh"
local util = require "spec.support.util"
local cenv = require "spec.support.client_env"

local EXAMPLES = util.root .. "/scripts/examples/"

describe("client examples (scripts/examples)", function()
  local env, home

  setup(function()
    env = cenv.start_sshd {first = {"AcceptEnv LANG LC_*"}}
    home = util.tmpdir()
    os.execute("mkdir -p " .. util.q(home .. "/.ssh"))
    env.key:write_private_key(home .. "/.ssh/id_ed25519")
    local pubs = {}
    for i, p in ipairs(env.srv.host_keys) do pubs[i] = p .. ".pub" end
    util.write(home .. "/.ssh/known_hosts",
               cenv.known_hosts(env.port, pubs, {"localhost"}))
    util.write(home .. "/.ssh/config", ("Host localhost\n  Port %d\n  User root\n")
               :format(env.port))
  end)
  teardown(function()
    if env then env.stop() end
    if home then util.rmtree(home) end
  end)

  local function run(name, input)
    local r = util.luassh(util.q(EXAMPLES .. name), input,
                          "HOME=" .. util.q(home))
    return r
  end

  local LS_ERR = "ls: cannot access 'abc': No such file or directory\n"

  it("hello_client.lua", function()
    local r = run("hello_client.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("Hello!\n", r.stdout)
  end)

  it("simple_client.lua", function()
    local r = run("simple_client.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal(LS_ERR, r.stdout)
    assert.equal("Process exited with status 2\n", r.stderr)
  end)

  it("callback_client.lua", function()
    local r = run("callback_client.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("Connection made to 127.0.0.1.\nAuthentication successful.\n"
                 .. LS_ERR, r.stdout)
  end)

  it("callback_client2.lua", function()
    local r = run("callback_client2.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal(LS_ERR, r.stdout)
  end)

  it("callback_client3.lua", function()
    local r = run("callback_client3.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("", r.stdout)
    assert.equal(LS_ERR, r.stderr)
  end)

  it("math_client.lua", function()
    local r = run("math_client.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("2+2 = 4\n1*2*3*4 = 24\n2^32 = 4294967296\n", r.stdout)
  end)

  it("redirect_input.lua", function()
    os.remove("/tmp/stdout")
    local r = run("redirect_input.lua")
    assert.equal(0, r.status, r.stderr)
    local f = assert(io.open("/tmp/stdout"))
    assert.equal("3\n2\n1\n", f:read("a"))
    f:close()
    os.remove("/tmp/stdout")
  end)

  it("redirect_local_pipe.lua", function()
    local r = run("redirect_local_pipe.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("3\n2\n1\n", r.stdout)
  end)

  it("redirect_remote_pipe.lua", function()
    local r = run("redirect_remote_pipe.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("3\n2\n1\n", r.stdout)
  end)

  it("check_exit_status.lua", function()
    local r = run("check_exit_status.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("", r.stdout)
    assert.equal(LS_ERR .. "Program exited with status 2\n", r.stderr)
  end)

  it("gather_results.lua", function()
    local r = run("gather_results.lua")
    assert.equal(0, r.status, r.stderr)
    local expected = {}
    for i = 1, 5 do
      expected[#expected + 1] = ("Task %d exited with status 2:\n"):format(i)
        .. LS_ERR .. ("-"):rep(75) .. "\n"
    end
    assert.equal(table.concat(expected), r.stdout)
  end)

  it("set_environment.lua", function()
    local r = run("set_environment.lua")
    assert.equal(0, r.status, r.stderr)
    assert.matches("\nLANG=en_GB\n", "\n" .. r.stdout)
    assert.matches("\nLC_COLLATE=C\n", "\n" .. r.stdout)
  end)

  it("set_terminal.lua", function()
    local r = run("set_terminal.lua")
    assert.equal(0, r.status, r.stderr)
    assert.equal("xterm-color\r\n24 80\r\n", r.stdout)
  end)

  -- The direct TCP examples ask for port 80 of www.google.com; here the
  -- server connects to an HTTP server on loopback instead.
  local function with_http(fn)
    local d = util.tmpdir()
    os.execute(("cd %s && /usr/bin/python3 -u -m http.server 0 --bind 127.0.0.1"
                .. " > %s 2>&1 & echo $! > %s"):format(util.q(d), util.q(d .. "/log"),
                util.q(d .. "/pid")))
    local port
    for _ = 1, 200 do
      local f = io.open(d .. "/log")
      port = f and f:read("a"):match("port (%d+)")
      if f then f:close() end
      if port then break end
      os.execute("sleep 0.05")
    end
    local ok, err = pcall(fn, port)
    os.execute("kill $(cat " .. util.q(d .. "/pid") .. ")")
    util.rmtree(d)
    assert(port, "the HTTP server did not start")
    assert(ok, err)
  end

  for _, name in ipairs {"direct_client.lua", "direct_client_streams.lua"} do
    it(name, function()
      with_http(function(port)
        local r = util.luassh(util.q(EXAMPLES .. name) .. " 127.0.0.1 " .. port, nil,
                              "HOME=" .. util.q(home))
        assert.equal(0, r.status, r.stderr)
        assert.matches("^HTTP/1%.0 200 OK\r\n", r.stdout)
        assert.matches("\r\nServer: SimpleHTTP", r.stdout)
      end)
    end)
  end

  it("reports a failed connection the way the seed does", function()
    local bad = util.tmpdir()
    os.execute("mkdir -p " .. util.q(bad .. "/.ssh"))
    util.write(bad .. "/.ssh/config", ("Host localhost\n  Port %d\n  User root\n")
               :format(env.port))
    -- no known_hosts: the host key cannot be verified
    local r = util.luassh(util.q(EXAMPLES .. "hello_client.lua"), nil,
                          "HOME=" .. util.q(bad))
    util.rmtree(bad)
    assert.equal(1, r.status)
    assert.matches("^SSH connection failed: HostKeyNotVerifiable: host key for "
                   .. "localhost port " .. env.port, r.stderr)
  end)
end)
