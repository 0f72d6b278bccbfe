-- Certificates on the luassh server (issue 6): user certificates checked
-- against a cert-authority line with principals, or validate_ca_key; and
-- a host certificate presented to clients that trust the host CA.  Driven
-- by OpenSSH's ssh (its own process) and by our client.
local ssh = require "luassh"
local util = require "spec.support.util"
local server = require "spec.support.luassh_server"

local q, sh, read = util.q, server.sh, server.read

describe("certificates on the luassh server", function()
  local dir, port, sshcmd

  setup(function()
    dir = util.tmpdir()
    local kg = "ssh-keygen -q -N '' -t ed25519 -f "
    for _, k in ipairs {"user_ca", "host_ca", "alice", "mallory", "nobody", "hostkey"} do
      sh(kg .. q(dir .. "/" .. k))
    end
    -- alice: principal alice; mallory: principal root; nobody: no principals
    sh(("ssh-keygen -q -s %s -I alice-id -n alice,ops %s"):format(q(dir .. "/user_ca"), q(dir .. "/alice.pub")))
    sh(("ssh-keygen -q -s %s -I mallory-id -n root %s"):format(q(dir .. "/user_ca"), q(dir .. "/mallory.pub")))
    sh(("ssh-keygen -q -s %s -I nobody-id %s"):format(q(dir .. "/user_ca"), q(dir .. "/nobody.pub")))
    sh(("ssh-keygen -q -s %s -I host-id -h -n 127.0.0.1 %s"):format(q(dir .. "/host_ca"), q(dir .. "/hostkey.pub")))
    util.write(dir .. "/ssh_user_ca", "cert-authority " .. read(dir .. "/user_ca.pub"))
    util.write(dir .. "/ops_ca", 'cert-authority,principals="ops" ' .. read(dir .. "/user_ca.pub"))
    util.write(dir .. "/known_hosts", "@cert-authority 127.0.0.1,[127.0.0.1]:* " .. read(dir .. "/host_ca.pub"))
    port = server.start(dir, ([[server_host_keys = {%q},
      authorized_client_keys = %q,
      process_factory = function(p)
        p.stdout:write("hello " .. p:get_extra_info("username") .. "\n")
        p:exit(0)
      end]]):format(dir .. "/hostkey", dir .. "/ssh_user_ca"))
    sshcmd = ("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s "
              .. "-o IdentitiesOnly=yes -p %d "):format(q(dir .. "/known_hosts"), port)
  end)

  teardown(function() server.stop(dir) end)

  it("OpenSSH ssh checks our host certificate and logs in with a user certificate", function()
    local r = util.run(sshcmd .. "-i " .. q(dir .. "/alice") .. " alice@127.0.0.1 x")
    assert.equal(0, r.status, r.stderr)
    assert.equal("hello alice\n", r.stdout)
  end)

  it("refuses a certificate whose principals do not name the user", function()
    local r = util.run(sshcmd .. "-i " .. q(dir .. "/mallory") .. " alice@127.0.0.1 x")
    assert.is_not.equal(0, r.status)
    assert.matches("Permission denied", r.stderr, 1, true)
    r = util.run(sshcmd .. "-i " .. q(dir .. "/nobody") .. " alice@127.0.0.1 x")
    assert.is_not.equal(0, r.status)
  end)

  it("refuses the plain key behind a certificate", function()
    sh(("mkdir -p %s && cp %s %s"):format(q(dir .. "/plain"), q(dir .. "/alice"), q(dir .. "/plain/alice")))
    local r = util.run(sshcmd .. "-i " .. q(dir .. "/plain/alice") .. " alice@127.0.0.1 x")
    assert.is_not.equal(0, r.status)
  end)

  it("our client trusts the host CA and logs in with the certificate", function()
    local conn <close> = ssh.connect("127.0.0.1", port, {
      username = "alice", agent_path = false,
      client_keys = {dir .. "/alice"},
      known_hosts = dir .. "/known_hosts"})
    assert.equal("hello alice\n", conn:run("x").stdout)
    assert.matches("cert", conn:get_extra_info("server_host_key_alg") or "", 1, true)
  end)

  it("principals= on the cert-authority line admits other principals, in process", function()
    local l <close> = ssh.listen("127.0.0.1", 0, {
      server_host_keys = {dir .. "/hostkey"}, log_host_key = false,
      authorized_client_keys = dir .. "/ops_ca",
      process_factory = function(p) p:exit(7) end})
    local conn <close> = ssh.connect("127.0.0.1", l:get_port(), {
      username = "deploy", agent_path = false, client_keys = {dir .. "/alice"},
      known_hosts = dir .. "/known_hosts"})
    assert.equal(7, conn:run("x").exit_status)
  end)

  it("validate_ca_key decides when no authorized_keys line trusts the CA", function()
    local ca = ssh.read_public_key(dir .. "/user_ca.pub")
    local l <close> = ssh.create_server(function()
      return {validate_ca_key = function(_, user, key)
        return key:get_fingerprint() == ca:get_fingerprint()
      end}
    end, "127.0.0.1", 0, {server_host_keys = {dir .. "/hostkey"}, log_host_key = false,
                           process_factory = function(p) p:exit(3) end})
    local conn <close> = ssh.connect("127.0.0.1", l:get_port(), {
      username = "alice", agent_path = false, client_keys = {dir .. "/alice"},
      known_hosts = dir .. "/known_hosts"})
    assert.equal(3, conn:run("x").exit_status)
  end)
end)
