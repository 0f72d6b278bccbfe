-- signature_algs (AsyncSSH's option) on both sides, our client against our
-- server: the server advertises the list in server-sig-algs (RFC 8308
-- §3.1) and takes publickey auth only with those algorithms; the client
-- picks the RSA hash among its list and the server's (RFC 8332 §3.3) and
-- never offers a key whose algorithm it does not list.
local ssh = require "luassh"

local host_key = ssh.generate_private_key("ssh-ed25519")
local ed_key = ssh.generate_private_key("ssh-ed25519")
local ec_key = ssh.generate_private_key("ecdsa-sha2-nistp256")
local rsa_key = ssh.generate_private_key("ssh-rsa", {key_size = 2048})

local function listen(sig_algs)
  return ssh.listen("127.0.0.1", 0, {
    server_host_keys = {host_key}, signature_algs = sig_algs,
    authorized_client_keys = {ed_key, ec_key, rsa_key},
    process_factory = function(p) p.stdout:write("ok\n"); p:exit(0) end,
  })
end

local function login(l, key, sig_algs)
  return pcall(function()
    local conn <close> = ssh.connect("127.0.0.1", l:get_port(), {
      username = "u", client_keys = {key}, agent_path = false,
      signature_algs = sig_algs, password = false, known_hosts =
        ssh.import_known_hosts(ssh.format_known_hosts_entry(
          "127.0.0.1", l:get_port(), host_key))})
    return conn:run("x").stdout
  end)
end

describe("signature_algs", function()
  it("server: advertises its list and takes only those algorithms", function()
    local l <close> = listen {"ssh-ed25519", "rsa-sha2-256"}
    assert.same({true, "ok\n"}, {login(l, ed_key)})
    -- the client picks rsa-sha2-256, the only RSA hash the server lists
    assert.same({true, "ok\n"}, {login(l, rsa_key)})
    local ok, err = login(l, ec_key)
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
  end)

  it("client: no common RSA hash means the RSA key is not offered", function()
    local l <close> = listen {"rsa-sha2-256"}
    local ok, err = login(l, rsa_key, {"rsa-sha2-512"})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
    assert.same({true, "ok\n"}, {login(l, rsa_key, {"rsa-sha2-512", "rsa-sha2-256"})})
  end)

  it("client: a key whose algorithm is not listed is never offered", function()
    local l <close> = listen(nil)
    local ok, err = login(l, ec_key, {"ssh-ed25519"})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
    assert.same({true, "ok\n"}, {login(l, ec_key, {"ecdsa-sha2-nistp256"})})
    assert.same({true, "ok\n"}, {login(l, ed_key, "ssh-ed25519,rsa-sha2-256")})
  end)

  it("rejects a malformed list", function()
    assert.has_error(function() listen "a,,b" end)
    assert.has_error(function() listen "" end)
    local l <close> = listen(nil)
    local ok = login(l, ed_key, "bad,,list")
    assert.is_false(ok)
  end)
end)
