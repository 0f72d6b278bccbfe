-- The SFTP client (issue 7) against OpenSSH's sftp-server behind sshd:
-- every SFTPClient and SFTPClientFile operation with its error cases,
-- the transfer-size matrix up and down with SHA-256 compared (also
-- against our own `luassh --sftp-server` as sshd's subsystem), and a
-- 2,000-file tree with preserved modes and times.
local ssh = require "luassh"
local util = require "spec.support.util"
local sshd = require "spec.support.sshd"
local cenv = require "spec.support.client_env"

local timed = cenv.timed
local SFTP_SERVER = "/usr/lib/openssh/sftp-server"

local sh, capture, sha = util.sh, util.capture, util.sha256

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

-- Local stat through stat(1): mode (octal string), mtime, atime, size,
-- type, uid, links.
local function lstat(path)
  local out = capture("stat -c '%a %Y %X %s %F|%u %h' " .. util.q(path)
                      .. " 2>/dev/null")
  local mode, mt, at, size, ftype, uid, links =
    out:match("^(%d+) (%d+) (%d+) (%d+) ([^|]+)|(%d+) (%d+)")
  if not mode then return nil end
  return {mode = mode, mtime = tonumber(mt), atime = tonumber(at),
          size = tonumber(size), type = ftype, uid = tonumber(uid),
          links = tonumber(links)}
end

-- A listing of a tree: relative path, type, mode, mtime, size per entry.
local function tree_listing(dir)
  return capture(("cd %s && find . -mindepth 1 -printf '%%P %%y %%m %%T@ %%s\\n'"
                  .. " | sed 's/\\.[0-9]* / /' | sort"):format(util.q(dir)))
end

local function kind_of(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  return err.kind, err
end

describe("SFTP client against OpenSSH's sftp-server", function()
  local env, T

  setup(function()
    env = cenv.start_sshd {extra = {
      "Subsystem sftp " .. SFTP_SERVER,
      "Match User nobody",
      "  ForceCommand internal-sftp",
    }}
    -- sshd reads authorized_keys as the user: let nobody read it.
    sh("chmod 755 " .. util.q(env.dir))
    sh("chmod 644 " .. util.q(env.dir .. "/authorized_keys"))
    T = util.tmpdir()
    sh("chmod 755 " .. util.q(T))
  end)
  teardown(function()
    if env then env.stop() end
    if T then util.rmtree(T) end
  end)

  local function with_sftp(fn, copts, sopts)
    return timed(60, function()
      local conn <close> = env.connect(copts)
      local sftp <close> = conn:start_sftp_client(sopts)
      return fn(sftp, conn)
    end)
  end

  local function fresh(name)
    local d = T .. "/" .. name
    util.rmtree(d)
    sh("mkdir -p " .. util.q(d))
    return d
  end

  it("starts a session: version, extensions, limits", function()
    with_sftp(function(sftp)
      assert.equal(3, sftp.version)
      assert.equal("1", sftp.extensions["posix-rename@openssh.com"])
      assert.equal("2", sftp.extensions["statvfs@openssh.com"])
      assert.equal("1", sftp:has_extension("copy-data"))
      assert.is_nil(sftp:has_extension("nosuch@example.com"))
      assert.equal(261120, sftp.limits.max_read_len)
      assert.equal(261120, sftp.limits.max_write_len)
      assert.is_true(sftp.supports_remote_copy)
      assert.matches("^SFTPClient %(version 3%)", tostring(sftp))
    end)
  end)

  it("refuses versions below 3 and reports a refused subsystem", function()
    timed(30, function()
      local conn <close> = env.connect()
      local ok, err = pcall(conn.start_sftp_client, conn, {sftp_version = 2})
      assert.is_false(ok)
      assert.equal("ValueError", err.kind)
    end)
    -- sftp_version above 3 negotiates 3.
    with_sftp(function(sftp) assert.equal(3, sftp.version) end, nil,
              {sftp_version = 6})
  end)

  it("stat, lstat and the predicates and getters", function()
    local d = fresh("stat")
    util.write(d .. "/file", "0123456789")
    sh(("touch -d @1600000000 %s/file && touch -a -d @1500000000 %s/file")
       :format(d, d))
    sh(("ln -s file %s/link && ln -s nowhere %s/dangling && mkdir %s/dir")
       :format(d, d, d))
    with_sftp(function(sftp)
      local a = sftp:stat(d .. "/file")
      assert.equal(ssh.FILEXFER_TYPE_REGULAR, a.type)
      assert.equal(10, a.size)
      assert.equal(1600000000, a.mtime)
      assert.equal(1500000000, a.atime)
      assert.equal(0, a.uid)
      assert.equal(tonumber(lstat(d .. "/file").mode, 8),
                   a.permissions & 0xfff)
      assert.equal(ssh.FILEXFER_TYPE_REGULAR, sftp:stat(d .. "/link").type)
      assert.equal(ssh.FILEXFER_TYPE_SYMLINK, sftp:lstat(d .. "/link").type)
      assert.equal(ssh.FILEXFER_TYPE_SYMLINK,
                   sftp:stat(d .. "/link", {follow_symlinks = false}).type)
      assert.equal(ssh.FILEXFER_TYPE_DIRECTORY, sftp:stat(d .. "/dir").type)
      assert.is_true(sftp:exists(d .. "/file"))
      assert.is_false(sftp:exists(d .. "/dangling"))
      assert.is_true(sftp:lexists(d .. "/dangling"))
      assert.is_false(sftp:lexists(d .. "/nothing"))
      assert.is_true(sftp:isdir(d .. "/dir"))
      assert.is_false(sftp:isdir(d .. "/file"))
      assert.is_false(sftp:isdir(d .. "/nothing"))
      assert.is_true(sftp:isfile(d .. "/link"))
      assert.is_false(sftp:isfile(d .. "/dir"))
      assert.is_true(sftp:islink(d .. "/link"))
      assert.is_false(sftp:islink(d .. "/file"))
      assert.equal(10, sftp:getsize(d .. "/file"))
      assert.equal(1600000000, sftp:getmtime(d .. "/file"))
      assert.equal(1500000000, sftp:getatime(d .. "/file"))
      assert.is_nil(sftp:getcrtime(d .. "/file")) -- not in SFTP v3
      -- Errors: kind per status code, code, reason, path.
      local kind, err = kind_of(sftp.stat, sftp, d .. "/nothing")
      assert.equal("SFTPNoSuchFile", kind)
      assert.equal(ssh.FX_NO_SUCH_FILE, err.code)
      assert.equal(d .. "/nothing", err.path)
      assert.equal("SFTPError", err.base)
      assert.is_true(ssh.is_error(err, "SFTPNoSuchFile"))
      assert.is_true(ssh.is_sftp_error(err))
      assert.matches("cannot stat '.*/nothing': No such file",
                     tostring(err))
      assert.equal("SFTPNoSuchFile", kind_of(sftp.lstat, sftp, d .. "/no"))
      assert.equal("SFTPNoSuchFile",
                   kind_of(sftp.getsize, sftp, d .. "/dangling"))
    end)
  end)

  it("setstat, chmod, chown, utime, truncate (and their errors)", function()
    local d = fresh("setstat")
    util.write(d .. "/f", "abcdefghij")
    sh(("ln -s f %s/l"):format(d))
    with_sftp(function(sftp)
      sftp:chmod(d .. "/f", tonumber("640", 8))
      assert.equal("640", lstat(d .. "/f").mode)
      sftp:setstat(d .. "/f", {permissions = tonumber("604", 8),
                               atime = 1400000000, mtime = 1400000001})
      local st = lstat(d .. "/f")
      assert.equal("604", st.mode)
      assert.equal(1400000001, st.mtime)
      assert.equal(1400000000, st.atime)
      sftp:utime(d .. "/f", {1300000000, 1300000002})
      assert.equal(1300000002, lstat(d .. "/f").mtime)
      local before = os.time()
      sftp:utime(d .. "/f")
      assert.is_true(lstat(d .. "/f").mtime >= before)
      sftp:truncate(d .. "/f", 4)
      assert.equal("abcd", slurp(d .. "/f"))
      sftp:chown(d .. "/f", 65534, 65534)
      assert.equal(65534, lstat(d .. "/f").uid)
      sftp:chown(d .. "/f", 0) -- gid kept
      assert.equal(0, lstat(d .. "/f").uid)
      -- Without following: lsetstat@openssh.com on the link itself.
      sftp:utime(d .. "/l", {1200000000, 1200000000},
                 {follow_symlinks = false})
      assert.equal("1200000000", capture("stat -c %Y " .. d .. "/l"):match("%d+"))
      assert.is_true(lstat(d .. "/f").mtime ~= 1200000000)
      for _, f in ipairs {
        function() sftp:chmod(d .. "/none", 420) end,
        function() sftp:utime(d .. "/none", {1, 1}) end,
        function() sftp:truncate(d .. "/none", 0) end,
        function() sftp:chown(d .. "/none", 0, 0) end,
      } do
        assert.equal("SFTPNoSuchFile", kind_of(f))
      end
      assert.has_error(function() sftp:setstat(d .. "/f", {uid = 1}) end)
    end)
  end)

  it("statvfs", function()
    with_sftp(function(sftp)
      local v = sftp:statvfs(T)
      assert.is_true(v.bsize > 0)
      assert.is_true(v.blocks > 0)
      assert.is_true(v.namemax >= 255)
      assert.equal("SFTPNoSuchFile", kind_of(sftp.statvfs, sftp, T .. "/no"))
    end)
  end)

  it("listdir, readdir, scandir", function()
    local d = fresh("dir")
    for i = 1, 250 do util.write(("%s/f%03d"):format(d, i), tostring(i)) end
    with_sftp(function(sftp)
      local names = sftp:listdir(d)
      table.sort(names)
      assert.equal(252, #names) -- with "." and ".."
      assert.equal(".", names[1])
      assert.equal("..", names[2])
      assert.equal("f001", names[3])
      local entries = sftp:readdir(d)
      assert.equal(252, #entries)
      for _, e in ipairs(entries) do
        if e.filename == "f010" then
          assert.equal(2, e.attrs.size)
          assert.matches("f010$", e.longname)
        end
      end
      local n = 0
      for e in sftp:scandir(d) do
        n = n + 1
        if n == 5 then break end -- closes the handle
        assert.is_string(e.filename)
      end
      assert.equal(5, n)
      -- Relative to the current directory.
      sftp:chdir(d)
      assert.equal(252, #sftp:listdir())
      assert.equal("SFTPNoSuchFile", kind_of(sftp.listdir, sftp, d .. "/x"))
      local kind = kind_of(sftp.listdir, sftp, d .. "/f001")
      assert.matches("^SFTP", kind)
    end)
  end)

  it("mkdir, makedirs, rmdir, rmtree", function()
    local d = fresh("dirs")
    with_sftp(function(sftp)
      sftp:mkdir(d .. "/a", {permissions = tonumber("700", 8)})
      assert.equal("700", lstat(d .. "/a").mode)
      assert.equal("SFTPFailure", kind_of(sftp.mkdir, sftp, d .. "/a"))
      assert.equal("SFTPNoSuchFile", kind_of(sftp.mkdir, sftp, d .. "/x/y"))
      sftp:makedirs(d .. "/b/c/d")
      assert.is_true(sftp:isdir(d .. "/b/c/d"))
      local kind, err = kind_of(sftp.makedirs, sftp, d .. "/b/c")
      assert.equal("SFTPFailure", kind)
      assert.matches("already exists", err.reason)
      sftp:makedirs(d .. "/b/c", nil, true)
      util.write(d .. "/file", "x")
      kind, err = kind_of(sftp.makedirs, sftp, d .. "/file/sub")
      assert.matches("not a directory", err.reason)
      assert.equal("SFTPFailure", kind_of(sftp.rmdir, sftp, d .. "/b"))
      sftp:rmdir(d .. "/b/c/d")
      assert.is_false(sftp:exists(d .. "/b/c/d"))
      assert.equal("SFTPNoSuchFile", kind_of(sftp.rmdir, sftp, d .. "/zz"))
      -- rmtree
      sh(("mkdir -p %s/t/x/y && touch %s/t/1 %s/t/x/2 %s/t/x/y/3 && ln -s / %s/t/x/root")
         :format(d, d, d, d, d))
      sftp:rmtree(d .. "/t")
      assert.is_false(sftp:lexists(d .. "/t"))
      assert.is_not_nil(lstat("/etc/passwd")) -- the link was not followed
      assert.equal("SFTPNoSuchFile", kind_of(sftp.rmtree, sftp, d .. "/t"))
      sftp:rmtree(d .. "/t", true) -- ignore_errors
      local seen = {}
      sftp:rmtree(d .. "/t", false, function(fn, path, e)
        seen[#seen + 1] = {fn, path, e.kind}
      end)
      assert.same({{"scandir", d .. "/t", "SFTPNoSuchFile"}}, seen)
      sh(("ln -s %s/a %s/alink"):format(d, d))
      kind, err = kind_of(sftp.rmtree, sftp, d .. "/alink")
      assert.matches("must not be a symlink", err.reason)
    end)
  end)

  it("remove, unlink, rename, posix_rename", function()
    local d = fresh("names")
    util.write(d .. "/a", "A")
    util.write(d .. "/b", "B")
    with_sftp(function(sftp)
      assert.equal("SFTPFailure", kind_of(sftp.rename, sftp, d .. "/a", d .. "/b"))
      sftp:rename(d .. "/a", d .. "/c")
      assert.equal("A", slurp(d .. "/c"))
      sftp:posix_rename(d .. "/c", d .. "/b")
      assert.equal("A", slurp(d .. "/b"))
      assert.is_nil(slurp(d .. "/c"))
      assert.equal("SFTPNoSuchFile",
                   kind_of(sftp.rename, sftp, d .. "/none", d .. "/x"))
      assert.equal("SFTPNoSuchFile",
                   kind_of(sftp.posix_rename, sftp, d .. "/none", d .. "/x"))
      sftp:remove(d .. "/b")
      assert.is_nil(slurp(d .. "/b"))
      util.write(d .. "/u", "U")
      sftp:unlink(d .. "/u")
      assert.is_nil(slurp(d .. "/u"))
      assert.equal("SFTPNoSuchFile", kind_of(sftp.remove, sftp, d .. "/u"))
      sh("mkdir " .. d .. "/sub")
      assert.equal("SFTPFailure", kind_of(sftp.remove, sftp, d .. "/sub"))
    end)
  end)

  it("symlink, readlink, link, realpath", function()
    local d = fresh("links")
    util.write(d .. "/target", "T")
    with_sftp(function(sftp)
      sftp:symlink("target", d .. "/sym")
      assert.equal("target", capture("readlink " .. d .. "/sym"):match("%S+"))
      assert.equal("target", sftp:readlink(d .. "/sym"))
      assert.equal("SFTPFailure", kind_of(sftp.symlink, sftp, "x", d .. "/sym"))
      -- OpenSSH maps readlink's EINVAL to SSH_FX_BAD_MESSAGE.
      assert.equal("SFTPBadMessage", kind_of(sftp.readlink, sftp, d .. "/target"))
      assert.equal("SFTPNoSuchFile", kind_of(sftp.readlink, sftp, d .. "/none"))
      sftp:link(d .. "/target", d .. "/hard")
      assert.equal(2, lstat(d .. "/target").links)
      assert.equal("SFTPNoSuchFile",
                   kind_of(sftp.link, sftp, d .. "/none", d .. "/h2"))
      assert.equal(d .. "/target", sftp:realpath(d .. "/sym/../target"))
      assert.equal("/root", sftp:realpath("~"))
      assert.equal("/root", sftp:expand_path("~"))
      assert.equal("/root", sftp:home_directory())
      assert.equal("SFTPFailure", kind_of(sftp.home_directory, sftp, "no-such-user"))
      assert.equal("/root", sftp:home_directory("root"))
      local users, groups = sftp:users_groups_by_id({0, 65534}, {0})
      assert.same({"root", "nobody"}, users)
      assert.same({"root"}, groups)
    end)
  end)

  it("chdir and getcwd", function()
    local d = fresh("cwd")
    util.write(d .. "/here", "H")
    with_sftp(function(sftp)
      assert.equal("/root", sftp:getcwd())
      sftp:chdir(d)
      assert.equal(d, sftp:getcwd())
      assert.equal(1, sftp:getsize("here"))
      sftp:chdir("..")
      assert.equal(T, sftp:getcwd())
      assert.equal(1, sftp:getsize("cwd/here"))
      assert.equal("SFTPNoSuchFile", kind_of(sftp.chdir, sftp, "nowhere"))
      local kind, err = kind_of(sftp.chdir, sftp, "cwd/here")
      assert.equal("SFTPFailure", kind)
      assert.matches("not a directory", err.reason)
      assert.equal(T, sftp:getcwd())
    end)
  end)

  it("files: modes, read, write, seek, tell, attributes, close", function()
    local d = fresh("files")
    with_sftp(function(sftp)
      do
        local f <close> = sftp:open(d .. "/f", "w")
        assert.equal(5, f:write("hello"))
        assert.equal(5, f:tell())
        f:write(" world")
        f:write("J", 0)
        assert.equal(11, f:tell())
      end
      assert.equal("Jello world", slurp(d .. "/f"))
      local f = sftp:open(d .. "/f")
      assert.equal("Jello", f:read(5))
      assert.equal(" world", f:read())
      assert.equal("", f:read())
      assert.equal("", f:read(10))
      assert.equal(0, f:seek(0))
      assert.equal("Je", f:read(2))
      assert.equal(6, f:seek(4, "cur"))
      assert.equal("world", f:read(5))
      assert.equal(9, f:seek(-2, 2))
      assert.equal("ld", f:read())
      assert.equal("lo", f:read(2, 3)) -- at an offset, tell unchanged
      assert.equal(11, f:tell())
      assert.equal(11, f:stat().size)
      -- Read-only handle: write(2) fails with EBADF, which OpenSSH
      -- reports as SSH_FX_NO_SUCH_FILE.
      assert.equal("SFTPNoSuchFile", kind_of(f.write, f, "x"))
      f:close()
      f:close() -- idempotent
      assert.has_error(function() f:read() end,
                       "attempt to use a closed SFTP file")
      -- Append
      local a = sftp:open(d .. "/f", "a")
      a:write("!")
      a:write("?")
      a:close()
      assert.equal("Jello world!?", slurp(d .. "/f"))
      -- Exclusive create
      assert.equal("SFTPFailure", kind_of(sftp.open, sftp, d .. "/f", "x"))
      local x = sftp:open(d .. "/new", "xb", {permissions = tonumber("600", 8)})
      x:close()
      assert.equal("600", lstat(d .. "/new").mode)
      -- r+: read and write, no truncation
      local rw = sftp:open(d .. "/f", "r+")
      rw:write("HE")
      rw:seek(0)
      assert.equal("HEllo", rw:read(5))
      rw:truncate(5)
      rw:chmod(tonumber("640", 8))
      rw:utime({1234567890, 1234567891})
      rw:chown(0, 0)
      rw:setstat({atime = 1000, mtime = 2000})
      rw:fsync()
      assert.is_true(rw:statvfs().bsize > 0)
      assert.equal(5, rw:stat().size)
      assert.equal("SFTPOpUnsupported", kind_of(rw.lock, rw, 0, 1))
      rw:close()
      local st = lstat(d .. "/f")
      assert.equal("640", st.mode)
      assert.equal(2000, st.mtime)
      assert.equal("HEllo", slurp(d .. "/f"))
      -- w+ truncates; flags as numbers work too
      local w = sftp:open(d .. "/f", ssh.FXF_READ | ssh.FXF_WRITE | ssh.FXF_TRUNC)
      assert.equal("", w:read())
      w:close()
      assert.equal("SFTPNoSuchFile", kind_of(sftp.open, sftp, d .. "/none"))
      assert.equal("SFTPFailure", kind_of(sftp.open, sftp, d, "w"))
      assert.has_error(function() sftp:open(d .. "/f", "q") end)
    end)
  end)

  it("reads and writes larger than a block go in parallel", function()
    local d = fresh("big")
    sh(("head -c 3000017 /dev/urandom > %s/src"):format(d))
    local src = slurp(d .. "/src")
    with_sftp(function(sftp)
      local f <close> = sftp:open(d .. "/src", "r", nil,
                                  {block_size = 16384, max_requests = 8})
      assert.equal(src, f:read())
      assert.equal(src:sub(1000001, 2000000), f:read(1000000, 1000000))
      f:seek(0)
      local parts = {}
      for chunk in f:chunks(100000) do parts[#parts + 1] = chunk end
      assert.equal(31, #parts)
      assert.equal(src, table.concat(parts))
      local got = {}
      for off, data in f:read_parallel(50000, 10) do
        got[#got + 1] = {off, #data}
      end
      assert.same({10, 16384}, got[1])
      local w <close> = sftp:open(d .. "/dst", "w")
      w:write(src)
      w:write(src:sub(1, 300000), 5000000)
      w:close()
      assert.equal(src, slurp(d .. "/dst"):sub(1, #src))
      assert.equal(5300000, lstat(d .. "/dst").size)
    end)
  end)

  it("raises SFTPPermissionDenied for another user", function()
    local d = fresh("perm")
    sh(("mkdir %s/private && echo s > %s/private/secret && chmod 700 %s/private"
        .. " && echo r > %s/ro && chmod 644 %s/ro"):format(d, d, d, d, d))
    with_sftp(function(sftp)
      assert.equal("/", sftp:getcwd())
      local kind, err = kind_of(sftp.stat, sftp, d .. "/private/secret")
      assert.equal("SFTPPermissionDenied", kind)
      assert.equal(ssh.FX_PERMISSION_DENIED, err.code)
      assert.equal("SFTPPermissionDenied",
                   kind_of(sftp.open, sftp, d .. "/ro", "w"))
      assert.equal("SFTPPermissionDenied",
                   kind_of(sftp.mkdir, sftp, d .. "/newdir"))
      assert.equal("SFTPPermissionDenied",
                   kind_of(sftp.listdir, sftp, d .. "/private"))
      assert.equal("SFTPPermissionDenied",
                   kind_of(sftp.chmod, sftp, d .. "/ro", 511))
      assert.equal("SFTPPermissionDenied",
                   kind_of(sftp.put, sftp, d .. "/ro", d .. "/copy"))
      assert.equal("r\n", sftp:open(d .. "/ro"):read())
    end, {username = "nobody"})
  end)

  -- The transfer-size matrix (reliability-plan.md X-1), up and down.
  local SIZES = {0, 1, 32767, 32768, 32769, 262143, 262144, 262145,
                 1048576 + 7}

  local function matrix(sftp, d)
    for _, n in ipairs(SIZES) do
      local src = ("%s/src_%d"):format(d, n)
      sh(("head -c %d /dev/urandom > %s"):format(n, src))
      local want = sha(src)
      local calls, last = 0, nil
      sftp:get(src, d .. "/down_" .. n, {progress_handler =
        function(s, t, done, total)
          calls = calls + 1
          last = {s, t, done, total}
        end})
      assert.equal(want, sha(d .. "/down_" .. n))
      assert.is_true(calls >= 1)
      assert.same({src, d .. "/down_" .. n, n, n}, last)
      sftp:put(src, d .. "/up_" .. n)
      assert.equal(want, sha(d .. "/up_" .. n))
      -- Small blocks and a single request in flight too.
      sftp:get(src, d .. "/down1_" .. n, {block_size = 1000, max_requests = 1})
      assert.equal(want, sha(d .. "/down1_" .. n))
      sftp:put(src, d .. "/up1_" .. n, {block_size = 1000, max_requests = 3})
      assert.equal(want, sha(d .. "/up1_" .. n))
    end
  end

  it("moves every size of the matrix up and down intact", function()
    local d = fresh("matrix")
    with_sftp(function(sftp) matrix(sftp, d) end)
  end)

  it("moves 64 MiB up and down intact", function()
    local d = fresh("big64")
    sh(("head -c %d /dev/urandom > %s/src"):format(64 * 1048576, d))
    local want = sha(d .. "/src")
    with_sftp(function(sftp)
      sftp:get(d .. "/src", d .. "/down")
      sftp:put(d .. "/src", d .. "/up")
    end)
    assert.equal(want, sha(d .. "/down"))
    assert.equal(want, sha(d .. "/up"))
    util.rmtree(d)
  end)

  it("gets intact when replies come in SSH messages of 999 bytes", function()
    -- Each DATA reply streams to the file over many messages and window
    -- adjusts.  (Heads cut across messages: spec/sftp_sink_spec.lua.)
    local d = fresh("small_pkts")
    sh(("head -c %d /dev/urandom > %s/src"):format(3 * 1048576 + 5, d))
    local want = sha(d .. "/src")
    with_sftp(function(sftp)
      sftp:get(d .. "/src", d .. "/down")
      sftp:get(d .. "/src", d .. "/down2", {block_size = 4000, max_requests = 3})
    end, nil, {max_pktsize = 999, window = 8192})
    assert.equal(want, sha(d .. "/down"))
    assert.equal(want, sha(d .. "/down2"))
  end)

  it("sparse files keep holes and sizes", function()
    local d = fresh("sparse")
    sh(("head -c 100000 /dev/urandom > %s/s && truncate -s 5000000 %s/s && "
        .. "head -c 1000 /dev/urandom >> %s/s && truncate -s 9000000 %s/s")
       :format(d, d, d, d))
    local want = sha(d .. "/s")
    with_sftp(function(sftp)
      sftp:get(d .. "/s", d .. "/down")
      sftp:put(d .. "/s", d .. "/up")
      sftp:get(d .. "/s", d .. "/dense", {sparse = false})
    end)
    for _, f in ipairs {"down", "up", "dense"} do
      assert.equal(want, sha(d .. "/" .. f))
      assert.equal(9000000, lstat(d .. "/" .. f).size)
    end
    local function blocks(p)
      return tonumber(capture("stat -c %b " .. p):match("%d+"))
    end
    assert.is_true(blocks(d .. "/down") < blocks(d .. "/dense"))
  end)

  it("get, put and copy: preserve, recurse, follow_symlinks", function()
    local d = fresh("tree")
    sh(("mkdir -p %s/src/sub/deeper && echo one > %s/src/a && "
        .. "echo two > %s/src/sub/b && echo three > %s/src/sub/deeper/c && "
        .. "chmod 604 %s/src/a && chmod 750 %s/src/sub && "
        .. "ln -s a %s/src/link && touch -d @1234567890 %s/src/a %s/src/sub/b")
       :format(d, d, d, d, d, d, d, d, d))
    with_sftp(function(sftp)
      -- A directory without recurse.
      local kind, err = kind_of(sftp.get, sftp, d .. "/src", d .. "/x")
      assert.equal("SFTPFileIsADirectory", kind)
      assert.equal(d .. "/src", err.srcpath)
      -- get -r -p
      sftp:get(d .. "/src", d .. "/got", {recurse = true, preserve = true})
      assert.equal("one\n", slurp(d .. "/got/a"))
      assert.equal("three\n", slurp(d .. "/got/sub/deeper/c"))
      assert.equal("604", lstat(d .. "/got/a").mode)
      assert.equal("750", lstat(d .. "/got/sub").mode)
      assert.equal(1234567890, lstat(d .. "/got/a").mtime)
      assert.equal("symbolic link", lstat(d .. "/got/link").type)
      -- Into an existing directory: dst/basename(src).
      sh("mkdir " .. d .. "/into")
      sftp:get(d .. "/src", d .. "/into", {recurse = true})
      assert.equal("two\n", slurp(d .. "/into/src/sub/b"))
      -- follow_symlinks copies the target.
      sftp:get(d .. "/src/link", d .. "/followed", {follow_symlinks = true})
      assert.equal("regular file", lstat(d .. "/followed").type)
      sftp:get(d .. "/src/link", d .. "/notfollowed")
      assert.equal("symbolic link", lstat(d .. "/notfollowed").type)
      -- put -r -p
      sftp:put(d .. "/src", d .. "/put", {recurse = true, preserve = true})
      assert.equal(tree_listing(d .. "/src"), tree_listing(d .. "/put"))
      -- copy -r -p (copy-data inside the server)
      sftp:copy(d .. "/src", d .. "/copied", {recurse = true, preserve = true,
                                              remote_only = true})
      assert.equal(tree_listing(d .. "/src"), tree_listing(d .. "/copied"))
      -- Several sources need a directory.
      kind, err = kind_of(sftp.get, sftp, {d .. "/src/a", d .. "/src/sub/b"},
                          d .. "/got/a")
      assert.equal("SFTPFailure", kind)
      assert.matches("must be a directory", err.reason)
      sftp:get({d .. "/src/a", d .. "/src/sub/b"}, d .. "/into")
      assert.equal("two\n", slurp(d .. "/into/b"))
      -- Default destination: the basename in the current directory.
      sftp:chdir(d .. "/into")
      sftp:put(d .. "/src/sub/deeper/c")
      assert.equal("three\n", slurp(d .. "/into/c"))
      -- Missing sources and local failures.
      assert.equal("SFTPNoSuchFile",
                   kind_of(sftp.get, sftp, d .. "/none", d .. "/x"))
      kind, err = kind_of(sftp.put, sftp, d .. "/none", d .. "/x")
      assert.equal("OSError", kind)
      assert.equal(2, err.errno)
      kind, err = kind_of(sftp.get, sftp, d .. "/src/a", d .. "/no/dir/x")
      assert.equal("OSError", kind)
      assert.equal(d .. "/src/a", err.srcpath)
    end)
  end)

  it("recursive transfers report each failure to error_handler or raise "
     .. "them all", function()
    local d = fresh("partial")
    sh(("mkdir -p %s/src && echo ok > %s/src/good && ln -s nowhere %s/src/bad1"
        .. " && ln -s nowhere2 %s/src/bad2"):format(d, d, d, d))
    with_sftp(function(sftp)
      local seen = {}
      sftp:get(d .. "/src", d .. "/h", {recurse = true, follow_symlinks = true,
        error_handler = function(e) seen[#seen + 1] = e end})
      assert.equal(2, #seen)
      table.sort(seen, function(a, b) return a.srcpath < b.srcpath end)
      assert.equal(d .. "/src/bad1", seen[1].srcpath)
      assert.equal(d .. "/h/bad1", seen[1].dstpath)
      assert.equal("SFTPNoSuchFile", seen[1].kind)
      assert.equal("ok\n", slurp(d .. "/h/good"))
      local kind, err = kind_of(sftp.get, sftp, d .. "/src", d .. "/r",
                                {recurse = true, follow_symlinks = true})
      assert.equal("SFTPNoSuchFile", kind)
      assert.equal(2, #err.errors)
      assert.matches("2 of the transfers failed", err.reason)
      assert.matches("bad1", err.reason)
      assert.matches("bad2", err.reason)
      assert.equal("ok\n", slurp(d .. "/r/good"))
    end)
  end)

  it("glob, mget, mput, mcopy", function()
    local d = fresh("glob")
    sh(("mkdir -p %s/src/d1/x %s/src/d2 %s/src/e && cd %s/src && "
        .. "echo 1 > a.txt && echo 2 > b.txt && echo 3 > c.log && "
        .. "echo 4 > .hidden.txt && echo 5 > d1/x/deep.txt && echo 6 > d2/f.txt")
       :format(d, d, d, d))
    with_sftp(function(sftp)
      local s = d .. "/src"
      assert.same({s .. "/a.txt", s .. "/b.txt"}, sftp:glob(s .. "/*.txt"))
      assert.same({s .. "/a.txt", s .. "/b.txt"}, sftp:glob(s .. "/[ab].txt"))
      assert.same({s .. "/c.log"}, sftp:glob(s .. "/[!abde]*"))
      assert.same({s .. "/d1", s .. "/d2"}, sftp:glob(s .. "/d?"))
      assert.same({s .. "/.hidden.txt"}, sftp:glob(s .. "/.h*"))
      assert.same({s .. "/d2/f.txt"}, sftp:glob(s .. "/*/f.txt"))
      assert.same({s .. "/a.txt", s .. "/b.txt", s .. "/d1/x/deep.txt",
                   s .. "/d2/f.txt"}, sftp:glob(s .. "/**/*.txt"))
      assert.same({s .. "/a.txt", s .. "/c.log"},
                  sftp:glob({s .. "/a.txt", s .. "/*.log"}))
      sftp:chdir(s)
      assert.same({"a.txt", "b.txt"}, sftp:glob("*.txt"))
      local kind, err = kind_of(sftp.glob, sftp, s .. "/*.none")
      assert.equal("SFTPNoSuchFile", kind)
      assert.matches("no matches", err.reason)
      local seen = {}
      assert.same({}, sftp:glob(s .. "/*.none", function(e)
        seen[#seen + 1] = e.kind end))
      assert.same({"SFTPNoSuchFile"}, seen)
      sftp:glob_sftpname(s .. "/a.*")
      assert.equal(2, sftp:glob_sftpname(s .. "/a.*")[1].attrs.size)
      -- mget / mput / mcopy
      sh("mkdir " .. d .. "/mg " .. d .. "/mp " .. d .. "/mc")
      sftp:mget(s .. "/*.txt", d .. "/mg")
      assert.equal("1\n", slurp(d .. "/mg/a.txt"))
      assert.equal("2\n", slurp(d .. "/mg/b.txt"))
      assert.is_nil(slurp(d .. "/mg/c.log"))
      sftp:mput(s .. "/d*", d .. "/mp", {recurse = true})
      assert.equal("5\n", slurp(d .. "/mp/d1/x/deep.txt"))
      sftp:mcopy({s .. "/*.log", s .. "/a.*"}, d .. "/mc")
      assert.equal("3\n", slurp(d .. "/mc/c.log"))
      assert.equal("1\n", slurp(d .. "/mc/a.txt"))
      assert.equal("SFTPNoSuchFile",
                   kind_of(sftp.mget, sftp, s .. "/*.zip", d .. "/mg"))
    end)
  end)

  it("copy and remote_copy inside the server", function()
    local d = fresh("rcopy")
    sh(("head -c 1000000 /dev/urandom > %s/src"):format(d))
    local src = slurp(d .. "/src")
    with_sftp(function(sftp)
      local calls = 0
      sftp:copy(d .. "/src", d .. "/dst", {progress_handler = function()
        calls = calls + 1 end})
      assert.equal(src, slurp(d .. "/dst"))
      assert.is_true(calls >= 1)
      util.write(d .. "/out", "")
      sftp:remote_copy(d .. "/src", d .. "/out", 100, 5000, 10)
      assert.equal(string.rep("\0", 10) .. src:sub(101, 5100),
                   slurp(d .. "/out"))
      local s <close> = sftp:open(d .. "/src")
      local o <close> = sftp:open(d .. "/out2", "w+")
      sftp:remote_copy(s, o)
      assert.equal(src, slurp(d .. "/out2"))
      assert.equal("SFTPNoSuchFile",
                   kind_of(sftp.remote_copy, sftp, d .. "/none", d .. "/out"))
    end)
  end)

  it("a 2,000-file tree goes up and down with modes and times", function()
    local d = fresh("tree2000")
    sh(("python3 - %s/src <<'EOF'\n"
      .. "import os, sys, random\n"
      .. "root = sys.argv[1]; random.seed(7)\n"
      .. "modes = [0o600, 0o640, 0o644, 0o755, 0o700, 0o444]\n"
      .. "for d in range(20):\n"
      .. "    dp = os.path.join(root, 'd%%02d' %% d); os.makedirs(dp)\n"
      .. "    for i in range(100):\n"
      .. "        fp = os.path.join(dp, 'f%%03d.dat' %% i)\n"
      .. "        with open(fp, 'wb') as f: f.write(os.urandom(random.randint(0, 3000)))\n"
      .. "        os.chmod(fp, random.choice(modes))\n"
      .. "        t = 1500000000 + random.randint(0, 10**8)\n"
      .. "        os.utime(fp, (t - 1000, t))\n"
      .. "    os.chmod(dp, 0o750); os.utime(dp, (1400000000, 1400000000 + d))\n"
      .. "os.utime(root, (1300000000, 1300000000))\n"
      .. "EOF"):format(d))
    local want = tree_listing(d .. "/src")
    local _, files = want:gsub(" f ", "")
    assert.equal(2000, files)
    local t0 = ssh.now()
    with_sftp(function(sftp)
      sftp:put(d .. "/src", d .. "/up", {recurse = true, preserve = true})
      sftp:get(d .. "/up", d .. "/down", {recurse = true, preserve = true})
    end)
    assert.equal(want, tree_listing(d .. "/up"))
    assert.equal(want, tree_listing(d .. "/down"))
    assert.equal(capture("cd " .. d .. "/src && cat d*/* | sha256sum"),
                 capture("cd " .. d .. "/down && cat d*/* | sha256sum"))
    assert.is_true(ssh.now() - t0 < 50)
    util.rmtree(d)
  end)

  it("serves several tasks at once over one session", function()
    local d = fresh("concurrent")
    for i = 1, 4 do
      sh(("head -c %d /dev/urandom > %s/f%d"):format(300000 * i, d, i))
    end
    with_sftp(function(sftp)
      local fns = {}
      for i = 1, 4 do
        fns[#fns + 1] = function()
          sftp:get(("%s/f%d"):format(d, i), ("%s/g%d"):format(d, i))
        end
      end
      for i = 1, 40 do
        fns[#fns + 1] = function() return sftp:stat(d .. "/f1").size end
      end
      local res = ssh.gather(fns)
      assert.equal(300000, res[5])
      for i = 1, 4 do
        assert.equal(sha(("%s/f%d"):format(d, i)), sha(("%s/g%d"):format(d, i)))
      end
    end)
  end)

  it("a timeout or a failing progress handler stops a transfer and the "
     .. "session stays usable", function()
    local d = fresh("cancel")
    sh(("head -c %d /dev/urandom > %s/src"):format(20 * 1048576, d))
    with_sftp(function(sftp)
      local ok, err = pcall(ssh.timeout, 0.05, function()
        sftp:get(d .. "/src", d .. "/dst", {block_size = 4096, max_requests = 2})
      end)
      assert.is_false(ok)
      assert.equal("Timeout", err.kind)
      assert.equal(20 * 1048576, sftp:getsize(d .. "/src"))
      ok, err = pcall(sftp.get, sftp, d .. "/src", d .. "/dst2",
        {progress_handler = function() error("stop here") end})
      assert.is_false(ok)
      assert.matches("stop here", tostring(err))
      assert.is_true(sftp:exists(d .. "/src"))
      -- The session still moves data.
      sftp:get(d .. "/src", d .. "/dst3")
      assert.equal(sha(d .. "/src"), sha(d .. "/dst3"))
    end)
  end)

  it("exit ends the session; later calls and pending transfers fail", function()
    local d = fresh("exit")
    sh(("head -c %d /dev/urandom > %s/src"):format(4 * 1048576, d))
    timed(60, function()
      local conn <close> = env.connect()
      local sftp = conn:start_sftp_client()
      -- exit() from a progress handler, in the middle of a transfer.
      local kind = kind_of(sftp.get, sftp, d .. "/src", d .. "/dst",
        {block_size = 8192, max_requests = 2,
         progress_handler = function(_, _, done)
           if done > 100000 then sftp:exit() end
         end})
      assert.equal("SFTPConnectionLost", kind)
      local err
      kind, err = kind_of(sftp.stat, sftp, d)
      assert.equal("SFTPNoConnection", kind)
      assert.matches("exited", err.reason)
      sftp:exit() -- idempotent
      sftp:wait_closed()
      -- The connection is still good for another session.
      do
        local s2 <close> = conn:start_sftp_client()
        assert.is_true(s2:isdir(d))
      end
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end)
  end)

  it("an abandoned client closes its channel when collected", function()
    timed(30, function()
      local conn <close> = env.connect()
      local sftp = conn:start_sftp_client()
      local ch = sftp.channel
      assert.is_false(ch:is_closing())
      sftp = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.is_true(ch:is_closing())
      ch:wait_closed()
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end)
  end)

  it("a dead connection fails the session with SFTPConnectionLost", function()
    local d = fresh("dead")
    sh(("head -c %d /dev/urandom > %s/src"):format(8 * 1048576, d))
    timed(60, function()
      local conn = env.connect()
      local sftp <close> = conn:start_sftp_client()
      local kind = kind_of(sftp.get, sftp, d .. "/src", d .. "/dst",
        {block_size = 8192, max_requests = 1,
         progress_handler = function(_, _, done)
           if done > 50000 then conn:abort() end
         end})
      assert.equal("SFTPConnectionLost", kind)
      assert.equal("SFTPConnectionLost", kind_of(sftp.stat, sftp, d))
    end)
  end)
end)

-- Our client against our server: `luassh --sftp-server` as sshd's sftp
-- subsystem (the transfer matrix, our client <-> our server).
describe("SFTP client against luassh --sftp-server", function()
  local env, T

  setup(function()
    local bin = util.bin:sub(1, 1) == "/" and util.bin
      or (capture("pwd"):match("%S+") .. "/" .. util.bin)
    env = cenv.start_sshd {extra = {
      "Subsystem sftp " .. bin .. " --sftp-server"}}
    T = util.tmpdir()
  end)
  teardown(function()
    if env then env.stop() end
    if T then util.rmtree(T) end
  end)

  it("moves every size of the matrix up and down intact", function()
    timed(60, function()
      local conn <close> = env.connect()
      local sftp <close> = conn:start_sftp_client()
      assert.equal(3, sftp.version)
      for _, n in ipairs {0, 1, 32767, 32768, 32769, 262143, 262144, 262145,
                          1048583} do
        local src = ("%s/src_%d"):format(T, n)
        sh(("head -c %d /dev/urandom > %s"):format(n, src))
        sftp:get(src, T .. "/down_" .. n)
        sftp:put(src, T .. "/up_" .. n)
        assert.equal(sha(src), sha(T .. "/down_" .. n))
        assert.equal(sha(src), sha(T .. "/up_" .. n))
      end
      sftp:put(T, T .. "-copy", {recurse = true, preserve = true})
      assert.equal(tree_listing(T), tree_listing(T .. "-copy"))
      util.rmtree(T .. "-copy")
    end)
  end)
end)

describe("SFTP client against an sshd without the sftp subsystem", function()
  local env
  setup(function() env = cenv.start_sshd() end)
  teardown(function() if env then env.stop() end end)

  it("raises ChannelOpenError and leaves the connection usable", function()
    timed(30, function()
      local conn <close> = env.connect()
      local ok, err = pcall(conn.start_sftp_client, conn)
      assert.is_false(ok)
      assert.equal("ChannelOpenError", err.kind)
      assert.matches("subsystem 'sftp'", err.reason)
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end)
  end)
end)
