-- The SFTP client (issue 7) against a server no other spec uses: AsyncSSH's
-- own SFTP server (spec/support/asyncssh_server.py, chrooted to DIR/sftp).
-- It offers no `limits@openssh.com`, so our client sizes its requests by
-- its defaults; it answers errors with its own status texts.  The
-- transfer-size matrix up and down with SHA-256 compared, files bigger
-- than the channel window, a tree with preserve and recurse, and the file
-- and directory operations with their error kinds.
local ssh = require "luassh"
local util = require "spec.support.util"
local asrv = require "spec.support.asyncssh_server"
local cenv = require "spec.support.client_env"

local sh, sha = util.sh, util.sha256

local function kind_of(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  return err.kind, err
end

describe("SFTP client against AsyncSSH's SFTP server", function()
  local srv, L, R

  setup(function()
    srv = asrv.start()
    R = srv.dir .. "/sftp"  -- the server's "/", seen locally
    L = util.tmpdir()
  end)
  teardown(function()
    if srv then srv.stop() end
    if L then util.rmtree(L) end
  end)

  local with_conn = cenv.connector(function()
    return {port = srv.port, known_hosts = srv.known_hosts, username = "dave",
            password = "secret", client_keys = false}
  end)

  local function with_sftp(fn, sopts)
    return with_conn(function(conn)
      local sftp <close> = conn:start_sftp_client(sopts)
      return fn(sftp, conn)
    end)
  end

  it("starts a session without limits and sizes requests by its defaults",
     function()
    with_sftp(function(sftp)
      assert.equal(3, sftp.version)
      assert.is_nil(sftp.extensions["limits@openssh.com"])
      assert.equal("/", sftp:realpath("."))
    end)
  end)

  it("moves every size of the matrix up and down intact", function()
    local sizes = {0, 1, 32767, 32768, 32769, 262143, 262144, 262145,
                   1048576 + 7}
    sh("mkdir -p " .. util.q(R .. "/m"))
    with_sftp(function(sftp)
      for _, n in ipairs(sizes) do
        local src = ("%s/src_%d"):format(L, n)
        sh(("head -c %d /dev/urandom > %s"):format(n, util.q(src)))
        local want = sha(src)
        sftp:put(src, "/m/up_" .. n)
        assert.equal(want, sha(("%s/m/up_%d"):format(R, n)))
        sftp:get("/m/up_" .. n, ("%s/down_%d"):format(L, n))
        assert.equal(want, sha(("%s/down_%d"):format(L, n)))
        -- Blocks that cut the file anywhere, one or many in flight.
        sftp:get("/m/up_" .. n, ("%s/down1_%d"):format(L, n),
                 {block_size = 1000, max_requests = 1})
        assert.equal(want, sha(("%s/down1_%d"):format(L, n)))
        sftp:put(src, "/m/up1_" .. n, {block_size = 7000, max_requests = 5})
        assert.equal(want, sha(("%s/m/up1_%d"):format(R, n)))
      end
    end)
  end)

  it("moves 24 MiB, many channel windows, up and down intact", function()
    local src = L .. "/big"
    sh(("head -c %d /dev/urandom > %s"):format(24 * 1048576, util.q(src)))
    local want = sha(src)
    with_sftp(function(sftp)
      sftp:put(src, "/big")
      sftp:get("/big", L .. "/big_down")
      sftp:get("/big", L .. "/big_down2", {block_size = 200000,
                                            max_requests = 16})
    end, {window = 262144})
    assert.equal(want, sha(R .. "/big"))
    assert.equal(want, sha(L .. "/big_down"))
    assert.equal(want, sha(L .. "/big_down2"))
  end)

  it("a tree goes up and back with recurse and preserve", function()
    local t = L .. "/tree"
    sh(("mkdir -p %s/a/b %s/c && cd %s && for i in $(seq 1 40); do "
        .. "head -c $((i * 997)) /dev/urandom > a/f$i; done && "
        .. "echo deep > a/b/deep && chmod 640 a/f3 && "
        .. "touch -d '2020-01-02 03:04:05' a/b/deep"):format(
        util.q(t), util.q(t), util.q(t)))
    with_sftp(function(sftp)
      sftp:put(t, "/tree", {recurse = true, preserve = true})
      sftp:get("/tree", L .. "/back", {recurse = true, preserve = true})
    end)
    for i = 1, 40 do
      assert.equal(sha(("%s/a/f%d"):format(t, i)),
                   sha(("%s/back/a/f%d"):format(L, i)))
    end
    assert.equal("deep\n", util.read_file(L .. "/back/a/b/deep"))
    assert.equal("640\n", util.capture("stat -c %a " .. util.q(L .. "/back/a/f3")))
    assert.equal(util.capture("stat -c %Y " .. util.q(t .. "/a/b/deep")),
                 util.capture("stat -c %Y " .. util.q(L .. "/back/a/b/deep")))
    assert.equal(util.capture("stat -c %Y " .. util.q(t .. "/a/b/deep")),
                 util.capture("stat -c %Y " .. util.q(R .. "/tree/a/b/deep")))
  end)

  it("file and directory operations, and their error kinds", function()
    with_sftp(function(sftp)
      sftp:mkdir("/ops")
      assert.is_true(sftp:isdir("/ops"))
      do
        local f <close> = sftp:open("/ops/f", "w")
        f:write("hello, ")
        f:write("world")
      end
      assert.equal(12, sftp:getsize("/ops/f"))
      do
        local f <close> = sftp:open("/ops/f", "r")
        f:seek(7)
        assert.equal("world", f:read())
      end
      sftp:rename("/ops/f", "/ops/g")
      assert.is_false(sftp:exists("/ops/f"))
      -- Names as the server sends them, "." and ".." included (as
      -- AsyncSSH's own listdir returns them).
      local names = sftp:listdir("/ops")
      table.sort(names)
      assert.same({".", "..", "g"}, names)
      sftp:chmod("/ops/g", tonumber("600", 8))
      assert.equal(tonumber("600", 8), sftp:stat("/ops/g").permissions & 0xfff)
      -- AsyncSSH's server takes SYMLINK's paths in the draft's order
      -- from us (link path first), OpenSSH's sftp-server the other way.
      -- It stores an absolute target as the chroot's local path, and
      -- cannot map a relative one back for readlink.
      sftp:symlink("/ops/g", "/ops/l")
      assert.equal("/ops/g", sftp:readlink("/ops/l"))
      assert.is_true(sftp:islink("/ops/l"))
      assert.equal(R .. "/ops/g\n", util.capture("readlink " .. util.q(R .. "/ops/l")))
      sftp:symlink("g", "/ops/rel")
      assert.equal("g\n", util.capture("readlink " .. util.q(R .. "/ops/rel")))
      sftp:remove("/ops/rel")

      assert.equal("SFTPNoSuchFile", kind_of(sftp.stat, sftp, "/nope"))
      assert.equal("SFTPNoSuchFile",
                   (kind_of(sftp.get, sftp, "/nope", L .. "/nope")))
      assert.is_nil(io.open(L .. "/nope"))
      assert.equal("SFTPNoSuchFile", kind_of(sftp.remove, sftp, "/ops/none"))
      local kind = kind_of(sftp.mkdir, sftp, "/ops")
      assert.is_truthy(kind == "SFTPFailure" or kind == "SFTPFileAlreadyExists",
                       kind)
      -- The chroot holds: ".." from the root is the root.
      assert.equal("/", sftp:realpath("/.."))

      sftp:remove("/ops/l")
      sftp:remove("/ops/g")
      sftp:rmdir("/ops")
      assert.is_false(sftp:exists("/ops"))
    end)
    assert.is_nil(io.open(R .. "/ops/g"))
  end)
end)
