-- Transport interop with OpenSSH (issue 3): our client core against sshd
-- for every algorithm both support, and OpenSSH's ssh against our server
-- core, checking the names ssh negotiated in its debug output.
local ssh = require "luassh"
local t = require "luassh.testing"
local util = require "spec.support.util"
local sshd = require "spec.support.sshd"

local function split(list)
  local out = {}
  for name in list:gmatch("[^,]+") do out[#out + 1] = name end
  return out
end

describe("our client against OpenSSH sshd", function()
  local srv

  setup(function() srv = sshd.start() end)
  teardown(function() if srv then srv.stop() end end)

  local function probe(opts)
    opts.host, opts.port = "127.0.0.1", srv.port
    local ok, res = pcall(ssh.timeout, 30, t.transport_probe, opts)
    if ok then return res end
    if ssh.Error.is(res, "Timeout") then
      -- Say what sshd saw, so that a hang can be diagnosed from CI logs.
      local f = io.open(srv.log, "r")
      local log = f and f:read("a") or ""
      if f then f:close() end
      error(tostring(res) .. "\nsshd log (last lines):\n" .. log:sub(-3000), 0)
    end
    error(res, 0)
  end

  it("completes the default handshake with strict kex and ext-info", function()
    local info = probe {}
    assert.equal("curve25519-sha256", info.kex)
    assert.equal("ssh-ed25519", info.hostkey)
    assert.equal("chacha20-poly1305@openssh.com", info.cipher_c2s)
    assert.is_true(info.strict)
    assert.matches("^SSH%-2%.0%-OpenSSH_", info.peer_version)
    assert.matches("rsa%-sha2%-512", info.server_sig_algs)
    assert.matches("^SHA256:", info.fingerprint)
  end)

  for _, kex in ipairs(split(sshd.ALL_KEX)) do
    it("negotiates kex " .. kex, function()
      local info = probe {kex_algs = kex}
      assert.equal(kex, info.kex)
    end)
  end

  for _, alg in ipairs(split(sshd.ALL_HOSTKEY_ALGS)) do
    it("verifies host key algorithm " .. alg, function()
      local info = probe {host_key_algs = alg}
      assert.equal(alg, info.hostkey)
    end)
  end

  for _, cipher in ipairs(split(sshd.ALL_CIPHERS)) do
    it("encrypts with " .. cipher, function()
      local info = probe {encryption_algs = cipher}
      assert.equal(cipher, info.cipher_c2s)
      assert.equal(cipher, info.cipher_s2c)
    end)
  end

  for _, mac in ipairs(split(sshd.ALL_MACS)) do
    it("authenticates packets with " .. mac, function()
      local info = probe {encryption_algs = "aes128-ctr", mac_algs = mac}
      assert.equal(mac, info.mac_c2s)
      assert.equal(mac, info.mac_s2c)
    end)
  end

  it("negotiates zlib@openssh.com (delayed compression)", function()
    local info = probe {compression_algs = "zlib@openssh.com"}
    assert.equal("zlib@openssh.com", info.comp_c2s)
  end)

  it("reports sshd's refusal to re-key before authentication, without hanging", function()
    -- sshd answers a pre-auth KEXINIT with UNIMPLEMENTED; re-keying with
    -- sshd is exercised after authentication by the client specs.
    local ok, err = pcall(probe, {rekeys = 1})
    assert.is_false(ok)
    assert.matches("refused a key re%-exchange", tostring(err))
  end)

  it("fails clearly when nothing is in common", function()
    local ok, err = pcall(probe, {encryption_algs = "aes128-ctr", mac_algs = "hmac-sha1",
                                  kex_algs = "diffie-hellman-group1-sha1",
                                  host_key_algs = "ssh-ed448"})
    assert.is_false(ok)
    assert.matches("no common host key", tostring(err))
  end)
end)

describe("OpenSSH ssh against our server", function()
  local dir, portfile, port

  setup(function()
    dir = util.tmpdir()
    portfile = dir .. "/port"
    -- Offer everything, legacy included, so that ssh can force each.
    os.execute(string.format("LSH_KEX=%s LSH_CIPHERS=%s LSH_MACS=%s " ..
      "LSH_HOSTKEY_ALGS=%s %s %s %s 300 > %s 2>&1 &",
      sshd.ALL_KEX, sshd.ALL_CIPHERS, sshd.ALL_MACS, sshd.ALL_HOSTKEY_ALGS,
      util.q(util.bin),
      util.q(util.root .. "/spec/support/transport_server.lua"), util.q(portfile),
      util.q(dir .. "/server.log")))
    for _ = 1, 200 do
      local f = io.open(portfile, "r")
      if f then port = tonumber(f:read("l")); f:close() break end
      os.execute("sleep 0.05")
    end
    assert(port, "the luassh test server did not start")
  end)

  teardown(function()
    os.execute("pkill -f " .. util.q(portfile) .. " 2>/dev/null")
    util.rmtree(dir)
  end)

  -- Runs ssh -v with one forced option; returns its debug output.
  local function ssh_v(option)
    local r = util.run(string.format(
      "ssh -v -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no " ..
      "-o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 %s -p %d " ..
      "nobody@127.0.0.1 true", option or "", port))
    return r.stderr
  end

  it("completes the default handshake and reaches authentication", function()
    local out = ssh_v()
    assert.matches("kex: algorithm: curve25519%-sha256", out)
    assert.matches("kex: host key algorithm: ssh%-ed25519", out)
    assert.matches("SSH2_MSG_SERVICE_ACCEPT received", out)
    assert.matches("no authentication yet", out)
  end)

  for _, kex in ipairs(split(sshd.ALL_KEX)) do
    it("negotiates kex " .. kex, function()
      local out = ssh_v("-o KexAlgorithms=" .. kex)
      assert.matches("kex: algorithm: " .. kex:gsub("%-", "%%-"), out)
      assert.matches("SSH2_MSG_SERVICE_ACCEPT received", out)
    end)
  end

  for _, alg in ipairs(split(sshd.ALL_HOSTKEY_ALGS)) do
    it("signs with host key algorithm " .. alg, function()
      local out = ssh_v("-o HostKeyAlgorithms=" .. alg)
      assert.matches("kex: host key algorithm: " .. alg:gsub("%-", "%%-"), out)
      assert.matches("SSH2_MSG_SERVICE_ACCEPT received", out)
    end)
  end

  for _, cipher in ipairs(split(sshd.ALL_CIPHERS)) do
    it("encrypts with " .. cipher, function()
      local out = ssh_v("-o Ciphers=" .. cipher)
      assert.matches("server%->client cipher: " .. cipher:gsub("%-", "%%-"), out)
      assert.matches("SSH2_MSG_SERVICE_ACCEPT received", out)
    end)
  end

  for _, mac in ipairs(split(sshd.ALL_MACS)) do
    it("authenticates packets with " .. mac, function()
      local out = ssh_v("-o Ciphers=aes128-ctr -o MACs=" .. mac)
      assert.matches("MAC: " .. mac:gsub("%-", "%%-"), out)
      assert.matches("SSH2_MSG_SERVICE_ACCEPT received", out)
    end)
  end

  it("lets paramiko (which has no strict kex) complete the handshake", function()
    local r = util.run("/usr/bin/python3 -c " .. util.q(string.format([[
import paramiko
t = paramiko.Transport(("127.0.0.1", %d))
t.start_client(timeout=20)
print(t.remote_cipher, t.get_remote_server_key().get_name())
t.close()
]], port)))
    assert.equal(0, r.status, r.stderr)
    assert.matches("ssh%-ed25519", r.stdout)
  end)

  it("lets asyncssh fetch our host key", function()
    local r = util.run("/usr/bin/python3 -W ignore -c " .. util.q(string.format([[
import asyncio, asyncssh
async def main():
    key = await asyncssh.get_server_host_key("127.0.0.1", %d)
    print(key.get_algorithm())
asyncio.run(main())
]], port)))
    assert.equal(0, r.status, r.stderr)
    assert.matches("ssh%-ed25519", r.stdout)
  end)

  it("negotiates zlib@openssh.com", function()
    local out = ssh_v("-o Compression=yes")
    assert.matches("compression: zlib@openssh.com", out)
    assert.matches("SSH2_MSG_SERVICE_ACCEPT received", out)
  end)
end)
