-- The ssh-agent client (RFC 9987) against OpenSSH's ssh-agent, started by
-- the test, and publickey authentication to sshd with agent keys.
local ssh = require "luassh"
local util = require "spec.support.util"
local cenv = require "spec.support.client_env"

local timed = cenv.timed

local function start_agent()
  local dir = util.tmpdir()
  local sock = dir .. "/agent.sock"
  os.execute(("ssh-agent -a %s -D > /dev/null 2>&1 & echo $! > %s")
             :format(util.q(sock), util.q(dir .. "/pid")))
  for _ = 1, 100 do
    if util.run("test -S " .. util.q(sock)).status == 0 then break end
    os.execute("sleep 0.05")
  end
  return {
    dir = dir, sock = sock,
    ssh_add = function(args)
      return util.run("SSH_AUTH_SOCK=" .. util.q(sock) .. " ssh-add " .. args)
    end,
    stop = function()
      local f = io.open(dir .. "/pid")
      if f then
        os.execute("kill " .. f:read("l") .. " 2>/dev/null")
        f:close()
      end
      util.rmtree(dir)
    end,
  }
end

describe("ssh-agent client", function()
  local ag

  setup(function() ag = start_agent() end)
  teardown(function() if ag then ag.stop() end end)

  it("adds, lists, signs with, removes and locks keys", function()
    timed(60, function()
      local agent <close> = ssh.connect_agent(ag.sock)
      assert.same({}, agent:get_keys())
      local ed = ssh.generate_private_key("ssh-ed25519", "ed key")
      local ec = ssh.generate_private_key("ecdsa-sha2-nistp384", "ec key")
      local rsa = ssh.generate_private_key("ssh-rsa", "rsa key", {key_size = 2048})
      agent:add_keys({ed, ec, rsa})
      -- OpenSSH's ssh-add sees them
      local l = ag.ssh_add("-l")
      assert.equal(0, l.status, l.stderr)
      for _, k in ipairs {ed, ec, rsa} do
        assert.matches(k:get_fingerprint():gsub("%p", "%%%0"), l.stdout)
      end
      assert.matches("ed key", l.stdout)
      -- and so do we
      local listed = agent:get_keys()
      assert.equal(3, #listed)
      local by_fp = {}
      for _, kp in ipairs(listed) do by_fp[kp:get_fingerprint()] = kp end
      for _, k in ipairs {ed, ec, rsa} do
        local kp = by_fp[k:get_fingerprint()]
        assert.is_table(kp)
        assert.equal(k:get_comment(), kp:get_comment())
        assert.equal(k:public_data(), kp:public_data())
      end
      -- signatures made by the agent verify
      for _, case in ipairs {{ed}, {ec}, {rsa, "rsa-sha2-512"}, {rsa, "rsa-sha2-256"}} do
        local k, alg = case[1], case[2]
        local sig = by_fp[k:get_fingerprint()]:sign("to be signed", alg)
        assert.is_true(k:convert_to_public():verify("to be signed", sig, alg))
      end
      -- removal
      agent:remove_keys(ec)
      assert.equal(2, #agent:get_keys())
      -- locking
      agent:lock("secret")
      assert.equal(0, #agent:get_keys())
      local ok, err = pcall(agent.unlock, agent, "wrong")
      assert.is_false(ok)
      assert.equal("ValueError", err.kind)
      agent:unlock("secret")
      assert.equal(2, #agent:get_keys())
      agent:remove_all()
      assert.equal(0, #agent:get_keys())
    end)
  end)

  it("lists keys that ssh-add added", function()
    timed(60, function()
      local key = ssh.generate_private_key("ssh-ed25519", "from ssh-add")
      key:write_private_key(ag.dir .. "/k")
      local r = ag.ssh_add(util.q(ag.dir .. "/k"))
      assert.equal(0, r.status, r.stderr)
      local agent <close> = ssh.connect_agent(ag.sock)
      local listed = agent:get_keys()
      assert.equal(1, #listed)
      assert.equal(key:get_fingerprint(), listed[1]:get_fingerprint())
      assert.equal("from ssh-add", listed[1]:get_comment())
      agent:remove_all()
    end)
  end)

  it("serves several tasks at once, one request at a time", function()
    timed(60, function()
      local agent <close> = ssh.connect_agent(ag.sock)
      local key = ssh.generate_private_key("ssh-ed25519")
      agent:add_keys({key})
      local blob = key:public_data()
      local fns = {}
      for i = 1, 20 do
        fns[i] = function() return agent:sign(blob, "msg " .. i) end
      end
      local sigs = ssh.gather(fns)
      for i = 1, 20 do
        assert.is_true(key:verify("msg " .. i, sigs[i]))
      end
      agent:remove_all()
    end)
  end)

  it("raises a clear error when no agent listens", function()
    local ok, err = pcall(ssh.connect_agent, ag.dir .. "/nosuch.sock")
    assert.is_false(ok)
    assert.equal("OSError", err.kind)
    assert.matches("nosuch%.sock", err.reason)
  end)

  describe("authentication with agent keys", function()
    local env

    setup(function() env = cenv.start_sshd() end)
    teardown(function() if env then env.stop() end end)

    it("logs in with a key held by the agent (agent_path)", function()
      timed(60, function()
        local agent <close> = ssh.connect_agent(ag.sock)
        local rsa = ssh.generate_private_key("ssh-rsa", {key_size = 2048})
        agent:add_keys({env.key, rsa})
        local f = assert(io.open(env.dir .. "/authorized_keys", "a"))
        f:write(rsa:export_public_key())
        f:close()
        local opts = {port = env.port, username = "root",
                      known_hosts = env.kh_file, agent_path = ag.sock}
        local conn <close> = ssh.connect("127.0.0.1", opts)
        assert.equal("ok\n", conn:run("echo ok").stdout)
        agent:remove_keys(env.key)
        -- the RSA key, signed with rsa-sha2-512 by the agent
        local conn2 <close> = ssh.connect("127.0.0.1", opts)
        assert.equal("ok\n", conn2:run("echo ok").stdout)
        agent:remove_all()
      end)
    end)

    it("uses SSH_AUTH_SOCK by default", function()
      local agent = timed(30, ssh.connect_agent, ag.sock)
      timed(30, agent.add_keys, agent, {env.key})
      local script = env.dir .. "/agent_login.lua"
      util.write(script, ([[
        local ssh = require "luassh"
        local conn <close> = ssh.connect("127.0.0.1", {port = %d,
          username = "root", known_hosts = %q})
        io.write(conn:run("echo via-agent").stdout)
      ]]):format(env.port, env.kh_file))
      local r = util.luassh(util.q(script), nil,
                            "HOME=/nonexistent SSH_AUTH_SOCK=" .. util.q(ag.sock))
      timed(30, agent.remove_all, agent)
      agent:close()
      assert.equal(0, r.status, r.stderr)
      assert.equal("via-agent\n", r.stdout)
    end)
  end)
end)
