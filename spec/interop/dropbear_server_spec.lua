-- Our client against a server no other spec uses: Dropbear (its own SSH
-- implementation; Debian's dropbear-bin), started by spec/support/dropbear.lua
-- in a private mount namespace.  Commands, exit status and signals, a pty,
-- large streams both ways through Dropbear's small channel window (24 KiB),
-- every cipher and MAC we share with it, a rekey mid-stream, compression,
-- SFTP (OpenSSH's sftp-server behind Dropbear) and SCP.
local ssh = require "luassh"
local util = require "spec.support.util"
local dropbear = require "spec.support.dropbear"
local cenv = require "spec.support.client_env"

local sh, sha, q = util.sh, util.sha256, util.q

local db_it = dropbear.available() and it or pending

describe("our client against Dropbear's server", function()
  local srv, L

  setup(function()
    if dropbear.available() then
      srv = dropbear.start()
      L = util.tmpdir()
    end
  end)
  teardown(function()
    if srv then srv.stop() end
    if L then util.rmtree(L) end
  end)

  local with_conn = cenv.connector(function()
    return {port = srv.port, username = "root", client_keys = {srv.key},
            known_hosts = srv.known_hosts}
  end)

  db_it("runs commands: output, exit status, a signal, stdin", function()
    with_conn(function(conn)
      assert.matches("^SSH%-2%.0%-dropbear", conn:get_extra_info("server_version"))
      cenv.check_exec(conn)
    end)
  end)

  db_it("requests a pty with the terminal type and size", function()
    with_conn(function(conn)
      local r = conn:run("echo $TERM; stty size",
                         {term_type = "xterm-color", term_size = {100, 40}})
      assert.equal("xterm-color\r\n40 100\r\n", r.stdout)
    end)
  end)

  db_it("streams 8 MiB each way through its 24 KiB window, with a rekey", function()
    local src = L .. "/stream"
    sh(("head -c %d /dev/urandom > %s"):format(8 * 1048576, q(src)))
    local f = assert(io.open(src, "rb"))
    local data = f:read("a")
    f:close()
    with_conn(function(conn)
      local r = conn:run("sha256sum", {input = data})
      assert.equal(sha(src), r.stdout:match("^(%x+)"))
      r = conn:run("cat " .. q(src))
      assert.equal(#data, #r.stdout)
      assert.is_true(r.stdout == data, "the stream differs")
    end, {rekey_bytes = 1048576})
  end)

  db_it("speaks every cipher, MAC and compression we share with it", function()
    local ciphers = {"chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"}
    local macs = {"hmac-sha2-256", "hmac-sha1"} -- its build has no -512
    for _, c in ipairs(ciphers) do
      for _, m in ipairs(macs) do
        with_conn(function(conn)
          assert.equal(c, conn:get_extra_info("send_cipher"))
          if c:find("ctr", 1, true) then
            assert.equal(m, conn:get_extra_info("recv_mac"))
          end
          assert.equal("hi\n", conn:run("echo hi").stdout)
        end, {encryption_algs = {c}, mac_algs = {m}})
      end
    end
    with_conn(function(conn)
      assert.equal("zlib@openssh.com", conn:get_extra_info("recv_compression"))
      local r = conn:run("head -c 300000 /dev/zero | tr '\\0' x")
      assert.equal(string.rep("x", 300000), r.stdout)
    end, {compression_algs = {"zlib@openssh.com"}})
  end)

  db_it("SFTP: the size matrix up and down, a tree, a symlink", function()
    local R = srv.home .. "/sftp"
    sh("mkdir -p " .. q(R))
    with_conn(function(conn)
      local sftp <close> = conn:start_sftp_client()
      for _, n in ipairs {0, 1, 32767, 32768, 32769, 262145, 1048576 + 7} do
        local src = ("%s/f%d"):format(L, n)
        sh(("head -c %d /dev/urandom > %s"):format(n, q(src)))
        -- Dropbear's sftp runs with HOME=/root, seen here as srv.home.
        sftp:put(src, "sftp/up" .. n)
        assert.equal(sha(src), sha(("%s/up%d"):format(R, n)))
        sftp:get("sftp/up" .. n, ("%s/down%d"):format(L, n))
        assert.equal(sha(src), sha(("%s/down%d"):format(L, n)))
      end
      sh(("mkdir -p %s/tree/a && echo one > %s/tree/a/one && echo two > %s/tree/two")
         :format(q(L), q(L), q(L)))
      sftp:put(L .. "/tree", "sftp/tree", {recurse = true})
      sftp:get("sftp/tree", L .. "/tree_back", {recurse = true})
      assert.equal("one\n", util.capture("cat " .. q(L .. "/tree_back/a/one")))
      assert.equal("two\n", util.capture("cat " .. q(L .. "/tree_back/two")))
      sftp:symlink("up1", "sftp/link")
      assert.equal("up1", sftp:readlink("sftp/link"))
      assert.equal("up1\n", util.capture("readlink " .. q(R .. "/link")))
      local ok, err = pcall(sftp.stat, sftp, "sftp/none")
      assert.is_false(ok)
      assert.equal("SFTPNoSuchFile", err.kind)
    end)
  end)

  db_it("SCP: a file both ways", function()
    local src = L .. "/scp_src"
    sh(("head -c 262145 /dev/urandom > %s"):format(q(src)))
    with_conn(function(conn)
      ssh.scp(src, {conn, "scp_up"})
      ssh.scp({conn, "scp_up"}, L .. "/scp_down")
    end)
    assert.equal(sha(src), sha(srv.home .. "/scp_up"))
    assert.equal(sha(src), sha(L .. "/scp_down"))
  end)
end)
