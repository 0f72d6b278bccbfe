-- The SFTP server's Lua overrides (issue 7: sftp_factory returning a table
-- of AsyncSSH SFTPServer methods), driven by our own SFTP client in the
-- same process: an in-memory filesystem, an override of stat alone,
-- map_path confining the client to a prefix, SFTPError statuses, and Lua
-- errors in overrides answered with SSH_FX_FAILURE while the session goes on.
local ssh = require "luassh"
local util = require "spec.support.util"

local host_key = ssh.generate_private_key("ssh-ed25519")
local user_key = ssh.generate_private_key("ssh-ed25519")

local S_IFDIR, S_IFREG = 0x4000, 0x8000

local function listen(factory)
  return ssh.listen("127.0.0.1", 0, {
    server_host_keys = {host_key}, authorized_client_keys = {user_key},
    sftp_factory = factory})
end

local function connect(l)
  return ssh.connect("127.0.0.1", l:get_port(), {
    username = "u", client_keys = {user_key}, agent_path = false,
    known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
      "127.0.0.1", l:get_port(), host_key))})
end

-- Runs fn(sftp, conn) against a server whose factory is given.
local function with_sftp(factory, fn)
  local l <close> = listen(factory)
  local conn <close> = connect(l)
  local sftp <close> = conn:start_sftp_client()
  fn(sftp, conn)
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

local function sh(cmd) return util.run(cmd) end

-- The error a call raises (it must raise).
local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- Waits (bounded) until cond() holds.
local function eventually(cond)
  for _ = 1, 200 do
    if cond() then return true end
    ssh.sleep(0.01)
  end
  return cond()
end

local function sftp_error(code, reason)
  return ssh.SFTPError(code, reason)
end

-- An in-memory filesystem as an SFTPServer table.  Paths reach the
-- methods absolute and normalised.  `empty` is the chroot every
-- method it lacks falls through to.
local function memfs(empty)
  local nodes = {["/"] = {dir = true, mtime = 1000}}
  local fs = {chroot = empty, home = "/", closes = 0, opens = 0,
              exited = 0, nodes = nodes}

  local function parent(p) return p:match("^(.*)/[^/]+$") end
  local function need_parent(p)
    local d = parent(p)
    if d == "" then d = "/" end
    local n = nodes[d]
    if not n or not n.dir then
      error(sftp_error(ssh.FX_NO_SUCH_FILE, "no directory " .. d))
    end
  end
  local function attrs(n)
    if n.dir then
      return {type = ssh.FILEXFER_TYPE_DIRECTORY, permissions = 493,
              size = 0, uid = 7, gid = 8, atime = n.mtime, mtime = n.mtime}
    end
    return {permissions = S_IFREG | 420, size = #n.data, uid = 7, gid = 8,
            atime = n.mtime, mtime = n.mtime}
  end
  local function node(p)
    local n = nodes[p]
    if not n then error(sftp_error(ssh.FX_NO_SUCH_FILE, "no such file " .. p)) end
    return n
  end

  function fs:open(path, pflags, _)
    local n = nodes[path]
    if pflags & ssh.FXF_CREAT ~= 0 then
      if n and pflags & ssh.FXF_EXCL ~= 0 then
        error(sftp_error(ssh.FX_FILE_ALREADY_EXISTS, path .. " exists"))
      end
      if not n then
        need_parent(path)
        n = {data = "", mtime = 2000}
        nodes[path] = n
      end
    end
    n = node(path)
    if n.dir then error(sftp_error(ssh.FX_FAILURE, path .. " is a directory")) end
    if pflags & ssh.FXF_TRUNC ~= 0 then n.data = "" end
    self.opens = self.opens + 1
    return {node = n, path = path}
  end
  function fs:read(f, offset, size)
    return f.node.data:sub(offset + 1, offset + size)
  end
  function fs:write(f, offset, data)
    local d = f.node.data
    if #d < offset then d = d .. ("\0"):rep(offset - #d) end
    f.node.data = d:sub(1, offset) .. data .. d:sub(offset + #data + 1)
  end
  function fs:close(_) self.closes = self.closes + 1 end
  function fs:stat(path) return attrs(node(path)) end
  function fs:fstat(f) return attrs(f.node) end
  function fs:setstat(path, a)
    local n = node(path)
    if a.mtime then n.mtime = a.mtime end
  end
  function fs:scandir(path)
    if not node(path).dir then
      error(sftp_error(ssh.FX_NO_SUCH_FILE, path .. " is not a directory"))
    end
    local names = {}
    local prefix = path == "/" and "/" or path .. "/"
    for p in pairs(nodes) do
      if p ~= "/" and parent(p) == path:gsub("/$", "") then
        names[#names + 1] = p:sub(#prefix + 1)
      end
    end
    table.sort(names)
    local i = 0
    -- An iterator of SFTPName tables, as AsyncSSH's scandir; the first
    -- entry is a bare name (its attributes come from stat).
    return function()
      i = i + 1
      local name = names[i]
      if name == nil then return nil end
      if i == 1 then return name end
      return {filename = name, attrs = attrs(nodes[prefix .. name])}
    end
  end
  function fs:mkdir(path, _)
    if nodes[path] then error(sftp_error(ssh.FX_FAILURE, path .. " exists")) end
    need_parent(path)
    nodes[path] = {dir = true, mtime = 3000}
  end
  function fs:rmdir(path)
    local n = node(path)
    if not n.dir then error(sftp_error(ssh.FX_FAILURE, "not a directory")) end
    for p in pairs(nodes) do
      if parent(p) == path then error(sftp_error(ssh.FX_FAILURE, "not empty")) end
    end
    nodes[path] = nil
  end
  function fs:remove(path)
    local n = node(path)
    if n.dir then error(sftp_error(ssh.FX_FAILURE, "is a directory")) end
    nodes[path] = nil
  end
  function fs:rename(old, new)
    node(old)
    if nodes[new] then error(sftp_error(ssh.FX_FAILURE, new .. " exists")) end
    need_parent(new)
    local moved = {}
    for p, n in pairs(nodes) do
      if p == old or p:sub(1, #old + 1) == old .. "/" then moved[p] = n end
    end
    for p, n in pairs(moved) do
      nodes[p] = nil
      nodes[new .. p:sub(#old + 1)] = n
    end
  end
  function fs:format_user(uid) return uid == 7 and "memuser" or nil end
  fs.symlink = false -- refused: OP_UNSUPPORTED
  function fs:exit() self.exited = self.exited + 1 end
  return fs
end

describe("sftp_factory with Lua overrides", function()
  local dir

  before_each(function() dir = util.tmpdir() end)
  after_each(function() util.rmtree(dir) end)

  it("serves an in-memory filesystem through open/read/write/close/stat/scandir/mkdir/remove/rename", function()
    local empty = dir .. "/empty"
    sh("mkdir " .. util.q(empty))
    local fs = memfs(empty)
    local chans = 0
    local factory = function(chan)
      assert.is_not_nil(chan)
      chans = chans + 1
      return fs
    end
    local big = {}
    for i = 1, 20000 do big[i] = ("line %06d of the big file\n"):format(i) end
    big = table.concat(big) .. "tail123"
    util.write(dir .. "/big.src", big)

    with_sftp(factory, function(sftp)
      assert.equal("/", sftp:realpath("."))
      sftp:mkdir("/docs")
      assert.is_true(fs.nodes["/docs"].dir)
      local f <close> = sftp:open("docs/hello.txt", "w")
      f:write("hello, ")
      f:write("memory")
      f:close()
      assert.equal("hello, memory", fs.nodes["/docs/hello.txt"].data)
      local g <close> = sftp:open("/docs/hello.txt")
      assert.equal("hello, memory", g:read())
      assert.equal("memory", g:read(100, 7))
      assert.equal(13, g:stat().size)
      g:close()

      local a = sftp:stat("/docs/hello.txt")
      assert.equal(13, a.size)
      assert.equal(ssh.FILEXFER_TYPE_REGULAR, a.type)
      assert.equal(2000, a.mtime)
      assert.equal(7, a.uid)
      -- type = DIRECTORY in the attrs gives the directory bits.
      local da = sftp:stat("/docs")
      assert.equal(ssh.FILEXFER_TYPE_DIRECTORY, da.type)
      assert.equal(S_IFDIR | 493, da.permissions)
      assert.is_true(sftp:isdir("docs"))
      -- lstat falls back to the table's stat.
      assert.equal(13, sftp:lstat("/docs/hello.txt").size)

      -- More than one block each way, pipelined, through Lua read/write.
      sftp:put(dir .. "/big.src", "/docs/big")
      assert.equal(big, fs.nodes["/docs/big"].data)
      sftp:get("/docs/big", dir .. "/big.back")
      assert.equal(big, read_file(dir .. "/big.back"))

      local names = sftp:listdir("/docs")
      table.sort(names)
      assert.same({"big", "hello.txt"}, names)
      local entries = sftp:readdir("/docs")
      table.sort(entries, function(x, y) return x.filename < y.filename end)
      assert.equal(#big, entries[1].attrs.size) -- bare name: stat'ed
      assert.equal(13, entries[2].attrs.size)   -- SFTPName with attrs
      assert.matches("memuser", entries[2].longname, 1, true)
      assert.matches("^%-rw%-r%-%-r%-%-", entries[2].longname)

      sftp:rename("/docs/hello.txt", "/docs/greeting.txt")
      assert.is_nil(fs.nodes["/docs/hello.txt"])
      assert.equal("hello, memory", fs.nodes["/docs/greeting.txt"].data)
      sftp:setstat("/docs/greeting.txt", {atime = 5, mtime = 4242})
      assert.equal(4242, sftp:stat("/docs/greeting.txt").mtime)
      sftp:remove("/docs/greeting.txt")
      assert.is_false(sftp:exists("/docs/greeting.txt"))
      local e = err_of(sftp.stat, sftp, "/docs/greeting.txt")
      assert.equal("SFTPNoSuchFile", e.kind)
      assert.matches("no such file /docs/greeting.txt", tostring(e), 1, true)
      e = err_of(sftp.rmdir, sftp, "/docs")
      assert.equal("SFTPFailure", e.kind)
      assert.matches("not empty", tostring(e), 1, true)
      e = err_of(sftp.open, sftp, "/docs/big", "x")
      assert.equal("SFTPFailure", e.kind) -- FILE_ALREADY_EXISTS in v3
      assert.matches("/docs/big exists", tostring(e), 1, true)
      e = err_of(sftp.symlink, sftp, "big", "/docs/link")
      assert.equal("SFTPOpUnsupported", e.kind)

      -- A file left open is closed through the table when the session ends.
      local opens = fs.opens
      sftp:open("/docs/big")
      assert.equal(opens + 1, fs.opens)
      sftp:exit()
    end)
    assert.is_true(eventually(function() return fs.exited == 1 end))
    assert.equal(fs.opens, fs.closes)
    assert.equal(1, chans)
    -- Nothing reached the disk: every operation used was overridden.
    assert.equal("", sh("ls -A " .. util.q(empty)).stdout)
  end)

  it("overrides stat alone: a hidden file, the rest falls through to the chroot", function()
    local root = dir .. "/root"
    sh("mkdir " .. util.q(root))
    util.write(root .. "/visible", "seen\n")
    util.write(root .. "/secret", "hush\n")
    local calls = 0
    local factory = function()
      return {chroot = root, stat = function(_, path)
        calls = calls + 1
        if path == "/secret" then
          error(ssh.SFTPError(ssh.FX_NO_SUCH_FILE, "no such file (hidden)"))
        end
        -- nil: the default stat
      end}
    end
    with_sftp(factory, function(sftp)
      assert.equal(5, sftp:stat("visible").size)
      local e = err_of(sftp.stat, sftp, "secret")
      assert.equal("SFTPNoSuchFile", e.kind)
      assert.matches("hidden", tostring(e), 1, true)
      assert.equal("SFTPNoSuchFile", err_of(sftp.lstat, sftp, "/x/../secret").kind)
      assert.is_false(sftp:exists("secret"))
      -- Only stat is overridden: open, write and listing go to the disk.
      local f <close> = sftp:open("secret")
      assert.equal("hush\n", f:read())
      f:close()
      local w <close> = sftp:open("new", "w")
      w:write("written")
      w:close()
      assert.equal("written", read_file(root .. "/new"))
      local names = sftp:listdir(".")
      table.sort(names)
      assert.same({".", "..", "new", "secret", "visible"}, names)
    end)
    assert.is_true(calls >= 4)
  end)

  it("map_path confines the client to a prefix; reverse_map_path maps results back", function()
    local root = dir .. "/root"
    sh(("mkdir -p %s/alice/sub %s/bob"):format(util.q(root), util.q(root)))
    util.write(root .. "/bob/private", "bob's\n")
    util.write(root .. "/top", "top\n")
    util.write(root .. "/alice/a.txt", "alice's\n")
    local mapped = {}
    local factory = function()
      return {
        chroot = root,
        map_path = function(_, p)
          mapped[#mapped + 1] = p
          assert(p:sub(1, 1) == "/" and not p:find("/%.%.?/") and not p:find("/%.%.?$"))
          return "/alice" .. p
        end,
        reverse_map_path = function(_, p)
          if p == "/alice" then return "/" end
          return p:match("^/alice(/.*)$") -- nil: not the client's
        end,
      }
    end
    with_sftp(factory, function(sftp)
      assert.equal("/", sftp:realpath("."))
      assert.equal("/", sftp:realpath("/../.."))
      assert.equal("/sub", sftp:realpath("sub/x/.."))
      assert.equal("alice's\n", (function()
        local f <close> = sftp:open("/a.txt")
        return f:read()
      end)())
      local names = sftp:listdir("/")
      table.sort(names)
      assert.same({".", "..", "a.txt", "sub"}, names)
      assert.equal("SFTPNoSuchFile", err_of(sftp.stat, sftp, "../bob/private").kind)
      assert.equal("SFTPNoSuchFile", err_of(sftp.stat, sftp, "/top").kind)
      sftp:put(dir .. "/root/top", "/sub/copied")
      assert.equal("top\n", read_file(root .. "/alice/sub/copied"))
      sftp:mkdir("/made")
      assert.equal("directory", sh("stat -c %F " .. util.q(root .. "/alice/made")).stdout:match("%a+"))
      sftp:rename("/made", "/sub/moved")
      assert.is_true(sftp:isdir("/sub/moved"))
      sftp:rmdir("/sub/moved")
      -- Links made through the client stay inside the prefix.
      sftp:symlink("/a.txt", "/sub/abs")
      sftp:symlink("../a.txt", "/sub/rel")
      for _, l in ipairs {"/sub/abs", "/sub/rel"} do
        local f <close> = sftp:open(l)
        assert.equal("alice's\n", f:read())
        local t = sftp:readlink(l)
        assert.is_nil(t:find("alice", 1, true), t)
      end
      sftp:remove("/sub/copied")
      assert.is_nil(read_file(root .. "/alice/sub/copied"))
    end)
    assert.is_true(#mapped > 10)
    assert.equal("bob's\n", read_file(root .. "/bob/private"))
  end)

  it("turns SFTPErrors and error tables raised in overrides into their statuses", function()
    local root = dir .. "/root"
    sh("mkdir " .. util.q(root))
    local factory = function()
      return {
        chroot = root,
        remove = function(_, p)
          error(ssh.SFTPError(ssh.FX_PERMISSION_DENIED, "nope: " .. p))
        end,
        mkdir = function() error({code = ssh.FX_NO_SUCH_FILE, reason = "plain table"}) end,
        rmdir = function() error({kind = "SFTPOpUnsupported", reason = "by kind"}) end,
        rename = function()
          error(ssh.SFTPError(ssh.FX_NO_SUCH_PATH, "v6 code, v3 status"))
        end,
        link = function() error(ssh.SFTPError(ssh.FX_WRITE_PROTECT, "read-only")) end,
        setstat = function() error(ssh.Error.new("Timeout", "not an SFTP error")) end,
        statvfs = function()
          return {bsize = 4096, frsize = 4096, blocks = 100, bfree = 50,
                  bavail = 40, files = 10, ffree = 5, favail = 5, fsid = 1,
                  flag = 1, namemax = 255}
        end,
      }
    end
    with_sftp(factory, function(sftp)
      local e = err_of(sftp.remove, sftp, "x")
      assert.equal("SFTPPermissionDenied", e.kind)
      assert.matches("nope: /x", tostring(e), 1, true)
      e = err_of(sftp.mkdir, sftp, "d")
      assert.equal("SFTPNoSuchFile", e.kind)
      assert.matches("plain table", tostring(e), 1, true)
      e = err_of(sftp.rmdir, sftp, "d")
      assert.equal("SFTPOpUnsupported", e.kind)
      assert.matches("by kind", tostring(e), 1, true)
      e = err_of(sftp.rename, sftp, "a", "b")
      assert.equal("SFTPNoSuchFile", e.kind)
      assert.matches("v6 code, v3 status", tostring(e), 1, true)
      e = err_of(sftp.link, sftp, "a", "b")
      assert.equal("SFTPPermissionDenied", e.kind)
      e = err_of(sftp.chmod, sftp, ".", 448)
      assert.equal("SFTPFailure", e.kind)
      assert.matches("Timeout: not an SFTP error", tostring(e), 1, true)
      local v = sftp:statvfs("/")
      assert.equal(4096, v.bsize)
      assert.equal(40, v.bavail)
      assert.equal(255, v.namemax)
    end)
  end)

  it("answers SFTPFailure for a Lua error, a wait or a bad result in an override, and keeps serving", function()
    local root = dir .. "/root"
    sh("mkdir " .. util.q(root))
    util.write(root .. "/ok", "fine\n")
    local factory = function()
      return {
        chroot = root,
        stat = function(_, p)
          if p == "/boom" then error("boom in stat") end
          if p == "/wait" then ssh.sleep(0.01) end
          if p == "/bad" then return "not attrs" end
          if p == "/badfield" then return {size = -1} end
          if p == "/nul" then error(setmetatable({}, {__tostring = function() error("x") end})) end
        end,
        readlink = function() return 42 end,
        scandir = function(_, p)
          if p == "/badentry" then return {"fine", 42} end
          if p == "/raising" then
            return function() error(ssh.SFTPError(ssh.FX_PERMISSION_DENIED, "mid-listing")) end
          end
        end,
      }
    end
    with_sftp(factory, function(sftp, conn)
      for _ = 1, 2 do
        local e = err_of(sftp.stat, sftp, "boom")
        assert.equal("SFTPFailure", e.kind)
        assert.matches("boom in stat", tostring(e), 1, true)
        e = err_of(sftp.stat, sftp, "wait")
        assert.equal("SFTPFailure", e.kind)
        assert.matches("cannot yield", tostring(e), 1, true)
        e = err_of(sftp.stat, sftp, "bad")
        assert.equal("SFTPFailure", e.kind)
        assert.matches("must return an attributes table", tostring(e), 1, true)
        e = err_of(sftp.stat, sftp, "badfield")
        assert.equal("SFTPFailure", e.kind)
        assert.matches("attrs.size", tostring(e), 1, true)
        assert.equal("SFTPFailure", err_of(sftp.stat, sftp, "nul").kind)
        e = err_of(sftp.readlink, sftp, "ok")
        assert.equal("SFTPFailure", e.kind)
        assert.matches("must return a string", tostring(e), 1, true)
        -- READDIR: the entry that fails is answered after the good one.
        e = err_of(sftp.listdir, sftp, "badentry")
        assert.equal("SFTPFailure", e.kind)
        assert.matches("scandir entries are names or tables, not number", tostring(e), 1, true)
        e = err_of(sftp.listdir, sftp, "raising")
        assert.equal("SFTPPermissionDenied", e.kind)
        assert.matches("mid-listing", tostring(e), 1, true)
        -- The session and the connection go on.
        assert.equal(5, sftp:stat("ok").size)
      end
      -- Pipelined: failures and successes in one burst keep their order.
      local tasks = {}
      for i = 1, 20 do
        tasks[i] = ssh.spawn(function()
          if i % 2 == 0 then return sftp:stat("ok").size end
          local ok, e = pcall(sftp.stat, sftp, i % 4 == 1 and "boom" or "nothere")
          return (not ok) and tostring(e)
        end)
      end
      for i, t in ipairs(tasks) do
        local v = t:wait()
        if i % 2 == 0 then
          assert.equal(5, v)
        elseif i % 4 == 1 then
          assert.matches("^SFTPFailure: .*boom in stat", v)
        else
          assert.equal("SFTPNoSuchFile: cannot stat 'nothere': No such file", v)
        end
      end
      -- A second session on the connection is served too.
      local other <close> = conn:start_sftp_client()
      assert.equal("SFTPFailure", err_of(other.stat, other, "boom").kind)
      assert.equal(5, other:stat("ok").size)
    end)
  end)

  it("refuses a factory table with a method that is not callable", function()
    local l <close> = listen(function() return {stat = 42} end)
    local conn <close> = connect(l)
    local ok, err = pcall(conn.start_sftp_client, conn)
    assert.is_false(ok)
    assert.is_not_nil(err)
    -- The connection is still usable for another SFTP session.
    local l2 <close> = listen(function() return {chroot = dir} end)
    local conn2 <close> = connect(l2)
    local sftp <close> = conn2:start_sftp_client()
    assert.equal("/", sftp:realpath("."))
  end)
end)
