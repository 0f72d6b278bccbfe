-- The SFTP client's Lua side without a server (issue 7): error objects,
-- constants, open modes, paths, fnmatch and glob (over a fake
-- filesystem), and the local filesystem helpers of luassh.sftpcore.
-- The protocol itself is covered by spec/c/test_sftp_client.c and, against
-- OpenSSH, by spec/interop/sftp_client_spec.lua.
local ssh = require "luassh"
local sftp = require "luassh.sftp"
local score = require "luassh.sftpcore"
local ccore = require "luassh.clientcore"
local util = require "spec.support.util"

describe("sftp: errors and constants", function()
  it("makes one error kind per status code, all of the SFTPError family", function()
    local e = ssh.SFTPError(ssh.FX_NO_SUCH_FILE, "cannot stat '/x': No such file",
                            {path = "/x"})
    assert.equal("SFTPNoSuchFile", e.kind)
    assert.equal(2, e.code)
    assert.equal("/x", e.path)
    assert.equal("SFTPError", e.base)
    assert.equal("SFTPNoSuchFile: cannot stat '/x': No such file", tostring(e))
    assert.is_true(ssh.is_error(e, "SFTPNoSuchFile"))
    assert.is_true(ssh.is_error(e, "SFTPError"))
    assert.is_true(ssh.Error.is(e, "SFTPError"))
    assert.is_false(ssh.is_error(e, "Timeout"))
    assert.is_true(ssh.is_sftp_error(e))
    assert.is_false(ssh.is_sftp_error(ssh.Error.new("Timeout", "t")))
    assert.is_false(ssh.is_sftp_error("string"))
    assert.equal("SFTPError", ssh.SFTPError(99, "odd").kind)
    local ok, err = pcall(error, ssh.SFTPError(3, "no"))
    assert.is_false(ok)
    assert.equal("SFTPPermissionDenied", err.kind)
  end)

  it("exports the status, open-flag and file-type constants", function()
    assert.equal(0, ssh.FX_OK)
    assert.equal(1, ssh.FX_EOF)
    assert.equal(3, ssh.FX_PERMISSION_DENIED)
    assert.equal(4, ssh.FX_FAILURE)
    assert.equal(8, ssh.FX_OP_UNSUPPORTED)
    assert.equal(24, ssh.FX_FILE_IS_A_DIRECTORY)
    assert.equal(31, ssh.FX_NO_MATCHING_BYTE_RANGE_LOCK)
    assert.equal(0x01, ssh.FXF_READ)
    assert.equal(0x02, ssh.FXF_WRITE)
    assert.equal(0x04, ssh.FXF_APPEND)
    assert.equal(0x08, ssh.FXF_CREAT)
    assert.equal(0x10, ssh.FXF_TRUNC)
    assert.equal(0x20, ssh.FXF_EXCL)
    assert.equal(1, ssh.FILEXFER_TYPE_REGULAR)
    assert.equal(2, ssh.FILEXFER_TYPE_DIRECTORY)
    assert.equal(3, ssh.FILEXFER_TYPE_SYMLINK)
    for code = 1, 31 do
      assert.matches("^SFTP%u", sftp.KINDS[code])
    end
    assert.equal(261120, score.MAX_BLOCK)
  end)

  it("adds start_sftp_client to connections", function()
    assert.is_function(ccore.conn_methods.start_sftp_client)
  end)
end)

describe("sftp: open modes and paths", function()
  local P = sftp._pflags_of
  it("maps mode strings to open flags as AsyncSSH does", function()
    assert.equal(ssh.FXF_READ, P("r"))
    assert.equal(ssh.FXF_READ, P("rb"))
    assert.equal(ssh.FXF_READ, P(nil))
    assert.equal(ssh.FXF_WRITE | ssh.FXF_CREAT | ssh.FXF_TRUNC, P("w"))
    assert.equal(ssh.FXF_WRITE | ssh.FXF_CREAT | ssh.FXF_APPEND, P("a"))
    assert.equal(ssh.FXF_WRITE | ssh.FXF_CREAT | ssh.FXF_EXCL, P("x"))
    assert.equal(ssh.FXF_READ | ssh.FXF_WRITE, P("r+"))
    assert.equal(ssh.FXF_READ | ssh.FXF_WRITE | ssh.FXF_CREAT | ssh.FXF_TRUNC,
                 P("w+b"))
    local _, appending = P("a+")
    assert.is_true(appending)
    assert.equal(0x13, P(0x13))
    assert.has_error(function() P("rw") end)
    assert.has_error(function() P("z") end)
  end)

  it("joins and splits paths", function()
    assert.equal("a/b", sftp.join("a", "b"))
    assert.equal("/b", sftp.join("a", "/b"))
    assert.equal("/x/b", sftp.join("/x/", "b"))
    assert.equal("b", sftp.join("", "b"))
    assert.equal("b", sftp.join(".", "b"))
    assert.equal("c", sftp.basename("/a/b/c"))
    assert.equal("c", sftp.basename("/a/b/c/"))
    assert.equal("c", sftp.basename("c"))
    assert.equal("/", sftp.basename("/"))
  end)
end)

describe("sftp: fnmatch and glob", function()
  local function matches(pat, name)
    return name:find(sftp._fn_to_lua(pat)) ~= nil
  end

  it("translates fnmatch patterns", function()
    assert.is_true(matches("*.txt", "a.txt"))
    assert.is_false(matches("*.txt", "a.txt.bak"))
    assert.is_false(matches("*.txt", "atxt"))
    assert.is_true(matches("?.c", "x.c"))
    assert.is_false(matches("?.c", "xy.c"))
    assert.is_true(matches("[abc]1", "b1"))
    assert.is_false(matches("[abc]1", "d1"))
    assert.is_true(matches("[a-c]1", "b1"))
    assert.is_true(matches("[!a-c]1", "d1"))
    assert.is_false(matches("[!a-c]1", "a1"))
    assert.is_true(matches("[^x]", "y"))
    assert.is_true(matches("[]]", "]"))
    assert.is_true(matches("100%", "100%"))
    assert.is_true(matches("a+b(c)", "a+b(c)"))
    assert.is_true(matches("[x", "[x"))
    assert.is_true(matches("*", ""))
  end)

  -- A filesystem adapter over a table tree: dirs are tables, files strings.
  local function fake_fs(tree)
    local fs = {}
    local function node(path)
      if path == "." or path == "" then return tree end
      local n = tree
      for part in path:gmatch("[^/]+") do
        if type(n) ~= "table" then return nil end
        n = n[part]
      end
      return n
    end
    local function attrs(n)
      return {type = type(n) == "table" and 2 or 1,
              size = type(n) == "string" and #n or nil}
    end
    function fs.scandir(_, path)
      local n = node(path)
      if type(n) ~= "table" then error(ssh.SFTPError(2, "no dir " .. path)) end
      local out = {}
      for name, child in pairs(n) do
        out[#out + 1] = {filename = name, attrs = attrs(child)}
      end
      return out
    end
    function fs.stat(_, path)
      local n = node(path)
      if n == nil then error(ssh.SFTPError(2, "no " .. path)) end
      return attrs(n)
    end
    return fs
  end

  local fs = fake_fs {
    ["a.txt"] = "1", ["b.txt"] = "22", ["c.log"] = "3", [".h.txt"] = "4",
    d1 = {x = {["deep.txt"] = "5"}, ["f.txt"] = "6"},
    d2 = {["g.txt"] = "7"},
  }
  local function names(list)
    local out = {}
    for i, n in ipairs(list) do out[i] = n.filename end
    return out
  end
  local G = sftp._glob_names

  it("expands wildcards component by component, sorted", function()
    assert.same({"a.txt", "b.txt"}, names(G(fs, "*.txt")))
    assert.same({"d1/f.txt", "d2/g.txt"}, names(G(fs, "d?/*.txt")))
    assert.same({"d1", "d2"}, names(G(fs, "d*")))
    assert.same({".h.txt"}, names(G(fs, ".*")))
    assert.same({"a.txt", "b.txt", "d1/f.txt", "d1/x/deep.txt", "d2/g.txt"},
                names(G(fs, "**/*.txt")))
    assert.same({"d1/x/deep.txt"}, names(G(fs, "d1/*/deep.txt")))
    assert.same({"c.log", "a.txt"}, names(G(fs, {"*.log", "a.txt"})))
    assert.equal(2, G(fs, "b.txt")[1].attrs.size)
  end)

  it("raises SFTPNoSuchFile for a pattern without matches", function()
    local ok, err = pcall(G, fs, "*.zip")
    assert.is_false(ok)
    assert.equal("SFTPNoSuchFile", err.kind)
    assert.matches("no matches found for '%*%.zip'", err.reason)
    ok, err = pcall(G, fs, "nothing/here")
    assert.equal("SFTPNoSuchFile", err.kind)
    local seen = {}
    assert.same({"a.txt"}, names(G(fs, {"*.zip", "a.*"}, function(e)
      seen[#seen + 1] = e.path end)))
    assert.same({"*.zip"}, seen)
  end)
end)

describe("sftp: local filesystem helpers", function()
  local T
  before_each(function() T = util.tmpdir() end)
  after_each(function() util.rmtree(T) end)

  it("stat, listdir, mkdir, setstat, symlinks, remove", function()
    util.write(T .. "/f", "hello")
    local a = score.local_stat(T .. "/f")
    assert.equal(ssh.FILEXFER_TYPE_REGULAR, a.type)
    assert.equal(5, a.size)
    assert.is_number(a.mtime)
    assert.is_true(score.local_mkdir(T .. "/d", tonumber("750", 8)))
    assert.equal(tonumber("750", 8), score.local_stat(T .. "/d").permissions & 0xfff)
    assert.is_true(score.local_symlink("f", T .. "/l"))
    assert.equal("f", score.local_readlink(T .. "/l"))
    assert.equal(ssh.FILEXFER_TYPE_SYMLINK, score.local_stat(T .. "/l", false).type)
    assert.equal(ssh.FILEXFER_TYPE_REGULAR, score.local_stat(T .. "/l", true).type)
    local names = score.local_listdir(T)
    table.sort(names)
    assert.same({"d", "f", "l"}, names)
    assert.is_true(score.local_setstat(T .. "/f", {permissions = tonumber("600", 8),
                                                   atime = 1000, mtime = 2000}))
    a = score.local_stat(T .. "/f")
    assert.equal(tonumber("600", 8), a.permissions & 0xfff)
    assert.equal(2000, a.mtime)
    assert.equal(1000, a.atime)
    assert.is_true(score.local_setstat(T .. "/f", {size = 2}))
    assert.equal(2, score.local_stat(T .. "/f").size)
    -- Times of the link itself; its mode is left alone.
    local before = score.local_stat(T .. "/f")
    assert.is_true(score.local_setstat(T .. "/l", {atime = 5, mtime = 6,
                                                   permissions = 0}, false))
    assert.equal(6, score.local_stat(T .. "/l", false).mtime)
    assert.same(before, score.local_stat(T .. "/f"))
    assert.is_true(score.local_remove(T .. "/l"))
    assert.is_string(score.local_getcwd())
  end)

  it("reports failures as nil, errno, message", function()
    local v, errno, msg = score.local_stat(T .. "/none")
    assert.is_nil(v)
    assert.equal(2, errno)
    assert.matches("No such file", msg)
    v, errno = score.local_listdir(T .. "/none")
    assert.equal(2, errno)
    util.write(T .. "/f", "x")
    v, errno = score.local_mkdir(T .. "/f")
    assert.equal(17, errno) -- EEXIST
    v, errno = score.local_readlink(T .. "/f")
    assert.equal(22, errno) -- EINVAL
    v, errno = score.local_setstat(T .. "/none", {mtime = 1, atime = 1})
    assert.equal(2, errno)
    assert.has_error(function() score.local_setstat(T .. "/f", {uid = 1}) end)
    assert.has_error(function() score.local_setstat(T .. "/f", {mtime = -1, atime = 1}) end)
  end)
end)
