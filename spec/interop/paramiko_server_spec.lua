-- Our client against a server no other spec uses: paramiko's (its own
-- transport, auth and channel code, and its SFTP server over a directory:
-- spec/support/paramiko_server.py).  Key exchange and ciphers it offers,
-- public key and password auth, commands with their streams, exit status
-- and a signal, and SFTP: the size matrix both ways, directory and file
-- operations, a symlink in OpenSSH's order (which paramiko's server takes).
local ssh = require "luassh"
local util = require "spec.support.util"
local pyserver = require "spec.support.python_server"
local cenv = require "spec.support.client_env"

local sh, sha, q = util.sh, util.sha256, util.q

local pm_it = pyserver.has_module("paramiko") and it or pending

describe("our client against paramiko's server", function()
  local srv, key, L, R

  setup(function()
    if not pyserver.has_module("paramiko") then return end
    key = ssh.generate_private_key("ssh-ed25519")
    srv = pyserver.start("paramiko_server.py", function(dir)
      sh(("ssh-keygen -q -t ed25519 -N '' -f %s"):format(q(dir .. "/host_key")))
      util.write(dir .. "/authorized.pub", key:export_public_key())
    end)
    R = srv.dir .. "/root"
    L = util.tmpdir()
  end)
  teardown(function()
    if srv then srv.stop() end
    if L then util.rmtree(L) end
  end)

  local with_conn = cenv.connector(function()
    return {port = srv.port, username = "alice", client_keys = {key},
            known_hosts = srv.known_hosts}
  end)

  pm_it("logs in with a key or a password and runs commands", function()
    with_conn(function(conn)
      assert.matches("^SSH%-2%.0%-paramiko", conn:get_extra_info("server_version"))
      cenv.check_exec(conn)
      -- 4 MiB through paramiko's window both ways.
      local big = string.rep("0123456789abcdef", 262144)
      assert.equal(#big .. "\n", conn:run("wc -c", {input = big}).stdout:gsub("^%s+", ""))
    end)
    with_conn(function(conn)
      assert.equal("alice\n", conn:run("echo alice").stdout)
    end, {client_keys = false, password = "secret"})
    local ok, err = pcall(with_conn, function() end,
                          {client_keys = false, password = "wrong"})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
  end)

  pm_it("negotiates each key exchange and cipher it offers that we have", function()
    for _, kex in ipairs {"curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
                          "diffie-hellman-group16-sha512",
                          "diffie-hellman-group-exchange-sha256"} do
      with_conn(function(conn)
        assert.equal(kex, conn:get_extra_info("kex_alg"))
        assert.equal("k\n", conn:run("echo k").stdout)
      end, {kex_algs = {kex}})
    end
    for _, c in ipairs {"aes128-ctr", "aes256-ctr", "aes256-cbc"} do
      for _, m in ipairs {"hmac-sha2-256", "hmac-sha2-512", "hmac-sha2-256-etm@openssh.com",
                          "hmac-sha2-512-etm@openssh.com"} do
        with_conn(function(conn)
          assert.equal(c, conn:get_extra_info("send_cipher"))
          assert.equal(m, conn:get_extra_info("send_mac"))
          assert.equal("c\n", conn:run("echo c").stdout)
        end, {encryption_algs = {c}, mac_algs = {m}})
      end
    end
  end)

  pm_it("SFTP: the size matrix both ways, files, directories, a symlink", function()
    with_conn(function(conn)
      local sftp <close> = conn:start_sftp_client()
      sftp:mkdir("/m")
      for _, n in ipairs {0, 1, 32767, 32768, 32769, 262143, 262144, 262145,
                          1048576 + 7} do
        local src = ("%s/f%d"):format(L, n)
        sh(("head -c %d /dev/urandom > %s"):format(n, q(src)))
        sftp:put(src, "/m/up" .. n)
        assert.equal(sha(src), sha(("%s/m/up%d"):format(R, n)))
        sftp:get("/m/up" .. n, ("%s/down%d"):format(L, n))
        assert.equal(sha(src), sha(("%s/down%d"):format(L, n)))
        sftp:get("/m/up" .. n, ("%s/down1_%d"):format(L, n),
                 {block_size = 1000, max_requests = 3})
        assert.equal(sha(src), sha(("%s/down1_%d"):format(L, n)))
      end
      assert.equal(262145, sftp:getsize("/m/up262145"))
      sftp:rename("/m/up1", "/m/one")
      assert.is_true(sftp:exists("/m/one"))
      assert.is_false(sftp:exists("/m/up1"))
      sftp:chmod("/m/one", tonumber("640", 8))
      assert.equal(tonumber("640", 8), sftp:stat("/m/one").permissions & 0xfff)
      sftp:symlink("one", "/m/link")
      assert.equal("one\n", util.capture("readlink " .. q(R .. "/m/link")))
      assert.equal("one", sftp:readlink("/m/link"))
      do
        local f <close> = sftp:open("/m/text", "w")
        f:write("hello, world")
      end
      do
        local f <close> = sftp:open("/m/text", "r")
        f:seek(7)
        assert.equal("world", f:read())
      end
      local ok, err = pcall(sftp.stat, sftp, "/m/none")
      assert.is_false(ok)
      assert.equal("SFTPNoSuchFile", err.kind)
      sftp:rmtree("/m")
      assert.is_false(sftp:exists("/m"))
    end)
  end)
end)
