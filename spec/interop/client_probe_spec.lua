-- ssh.get_server_host_key and ssh.get_server_auth_methods (AsyncSSH's
-- module functions of the same names): against OpenSSH's sshd and
-- against our own server, with no known_hosts entry and no credential.
local ssh = require "luassh"
local cenv = require "spec.support.client_env"

local timed = cenv.timed

describe("server probes", function()
  local env

  setup(function() env = cenv.start_sshd() end)
  teardown(function() if env then env.stop() end end)

  local function file_key(alg)
    for _, path in ipairs(env.srv.host_keys) do
      local k = ssh.read_public_key(path .. ".pub")
      if k:get_algorithm() == alg then return k end
    end
  end

  it("get_server_host_key returns sshd's host key of the algorithm asked", function()
    timed(30, function()
      local k = ssh.get_server_host_key("127.0.0.1", env.port,
                                        {server_host_key_algs = {"ssh-ed25519"}})
      assert.equal("ssh-ed25519", k:get_algorithm())
      assert.equal(file_key("ssh-ed25519"):get_fingerprint(), k:get_fingerprint())
      local e = ssh.get_server_host_key("127.0.0.1", env.port,
                                        {server_host_key_algs = "ecdsa-sha2-nistp256"})
      assert.equal(file_key("ecdsa-sha2-nistp256"):get_fingerprint(),
                   e:get_fingerprint())
    end)
  end)

  it("get_server_auth_methods lists what sshd offers, sending no credential", function()
    timed(30, function()
      assert.same({"publickey"},
                  ssh.get_server_auth_methods("127.0.0.1", env.port, "root"))
      -- Nothing was tried: no publickey or password attempt in sshd's log.
      assert.is_nil(env.log():find("Failed publickey", 1, true))
      assert.is_nil(env.log():find("Accepted", 1, true))
    end)
  end)

  it("both work against our server, and a refused port raises", function()
    timed(30, function()
      local hk = ssh.generate_private_key("ssh-ed25519")
      local l <close> = ssh.listen("127.0.0.1", 0, {
        server_host_keys = {hk}, authorized_client_keys = {env.key},
        process_factory = function(p) p:exit(0) end,
        server_factory = function()
          return {validate_password = function() return false end}
        end,
      })
      local k = ssh.get_server_host_key("127.0.0.1", l:get_port())
      assert.equal(hk:get_fingerprint(), k:get_fingerprint())
      local m = ssh.get_server_auth_methods("127.0.0.1", l:get_port(), "alice")
      table.sort(m)
      assert.same({"keyboard-interactive", "password", "publickey"}, m)
      local ok, err = pcall(ssh.get_server_host_key, "127.0.0.1", 1)
      assert.is_false(ok)
      assert.equal("ConnectionRefused", err.kind)
    end)
  end)
end)
