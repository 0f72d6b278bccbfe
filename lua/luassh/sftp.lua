-- The SFTP client: conn:start_sftp_client() and the SFTPClient and
-- SFTPClientFile objects (AsyncSSH's sftp.py client half,
-- doc/api/sftp.md).
--
-- The protocol runs in C (luassh.sftpcore, src/lua_bindings/l_sftp.c over
-- src/ssh/sftp/client.c): a reader task feeds replies to their requests,
-- and bulk transfers (get, put, copy, file reads and writes larger than
-- one block) keep many READ or WRITE requests in flight without entering
-- Lua per packet.  This file holds the API: paths, modes, attributes,
-- globbing, recursion, preserve, error objects.
local core = require "luassh.core"
local score = require "luassh.sftpcore"
local Error = require "luassh.error"
local gather = require "luassh.gather"

local M = {}

-- Constants (draft-ietf-secsh-filexfer-02 §5, §6.3, §7) -------------------

M.FXF_READ, M.FXF_WRITE, M.FXF_APPEND = 0x01, 0x02, 0x04
M.FXF_CREAT, M.FXF_TRUNC, M.FXF_EXCL = 0x08, 0x10, 0x20

M.FILEXFER_TYPE_REGULAR = 1
M.FILEXFER_TYPE_DIRECTORY = 2
M.FILEXFER_TYPE_SYMLINK = 3
M.FILEXFER_TYPE_SPECIAL = 4
M.FILEXFER_TYPE_UNKNOWN = 5
M.FILEXFER_TYPE_SOCKET = 6
M.FILEXFER_TYPE_CHAR_DEVICE = 7
M.FILEXFER_TYPE_BLOCK_DEVICE = 8
M.FILEXFER_TYPE_FIFO = 9

local T_DIR, T_LINK = M.FILEXFER_TYPE_DIRECTORY, M.FILEXFER_TYPE_SYMLINK

-- Status codes and the error kind of each (AsyncSSH's SFTPError subclasses).
local KINDS = {
  [1] = "SFTPEOFError", [2] = "SFTPNoSuchFile", [3] = "SFTPPermissionDenied",
  [4] = "SFTPFailure", [5] = "SFTPBadMessage", [6] = "SFTPNoConnection",
  [7] = "SFTPConnectionLost", [8] = "SFTPOpUnsupported",
  [9] = "SFTPInvalidHandle", [10] = "SFTPNoSuchPath",
  [11] = "SFTPFileAlreadyExists", [12] = "SFTPWriteProtect",
  [13] = "SFTPNoMedia", [14] = "SFTPNoSpaceOnFilesystem",
  [15] = "SFTPQuotaExceeded", [16] = "SFTPUnknownPrincipal",
  [17] = "SFTPLockConflict", [18] = "SFTPDirNotEmpty",
  [19] = "SFTPNotADirectory", [20] = "SFTPInvalidFilename",
  [21] = "SFTPLinkLoop", [22] = "SFTPCannotDelete",
  [23] = "SFTPInvalidParameter", [24] = "SFTPFileIsADirectory",
  [25] = "SFTPByteRangeLockConflict", [26] = "SFTPByteRangeLockRefused",
  [27] = "SFTPDeletePending", [28] = "SFTPFileCorrupt",
  [29] = "SFTPOwnerInvalid", [30] = "SFTPGroupInvalid",
  [31] = "SFTPNoMatchingByteRangeLock",
}
M.KINDS = KINDS
for code, name in ipairs {
  "EOF", "NO_SUCH_FILE", "PERMISSION_DENIED", "FAILURE", "BAD_MESSAGE",
  "NO_CONNECTION", "CONNECTION_LOST", "OP_UNSUPPORTED", "INVALID_HANDLE",
  "NO_SUCH_PATH", "FILE_ALREADY_EXISTS", "WRITE_PROTECT", "NO_MEDIA",
  "NO_SPACE_ON_FILESYSTEM", "QUOTA_EXCEEDED", "UNKNOWN_PRINCIPAL",
  "LOCK_CONFLICT", "DIR_NOT_EMPTY", "NOT_A_DIRECTORY", "INVALID_FILENAME",
  "LINK_LOOP", "CANNOT_DELETE", "INVALID_PARAMETER", "FILE_IS_A_DIRECTORY",
  "BYTE_RANGE_LOCK_CONFLICT", "BYTE_RANGE_LOCK_REFUSED", "DELETE_PENDING",
  "FILE_CORRUPT", "OWNER_INVALID", "GROUP_INVALID",
  "NO_MATCHING_BYTE_RANGE_LOCK",
} do
  M["FX_" .. name] = code
end
M.FX_OK = 0

local DEFAULT_MSG = {
  [1] = "end of file", [2] = "no such file", [3] = "permission denied",
  [4] = "failure", [5] = "bad message", [6] = "no connection",
  [7] = "connection lost", [8] = "operation unsupported",
}

local function sftp_error(code, reason, fields)
  fields = fields or {}
  fields.code = code
  fields.base = "SFTPError"
  return Error.new(KINDS[code] or "SFTPError", reason, fields)
end

--- M.SFTPError(code, reason [, fields]) -> an SFTP error object
M.SFTPError = sftp_error

--- M.is_sftp_error(value) -> true for every SFTP error kind
function M.is_sftp_error(v)
  return Error.is(v) and v.base == "SFTPError"
end

local function raise(code, reason, fields)
  error(sftp_error(code, reason, fields), 0)
end

local function quote(p) return "'" .. tostring(p) .. "'" end

-- Raises the SFTP error for a failed request.
local function fail(what, path, code, msg)
  if msg == nil or msg == "" then msg = DEFAULT_MSG[code] or "error " .. code end
  local reason = path ~= nil and ("cannot %s %s: %s"):format(what, quote(path), msg)
    or ("cannot %s: %s"):format(what, msg)
  raise(code, reason, {path = path, server_message = msg})
end

local function local_fail(what, path, errno, msg)
  error(Error.new("OSError", ("cannot %s local %s: %s"):format(what,
    quote(path), msg), {code = errno, errno = errno, path = path}), 0)
end

-- Paths ----------------------------------------------------------------

local function join(a, b)
  if a == nil or a == "" or a == "." then return b end
  if b:sub(1, 1) == "/" then return b end
  if a:sub(-1) == "/" then return a .. b end
  return a .. "/" .. b
end

local function basename(p)
  p = p:gsub("/+$", "")
  if p == "" then return "/" end
  return p:match("([^/]*)$")
end

M.join, M.basename = join, basename

local function to_path(p, what)
  if type(p) == "string" then return p end
  if type(p) == "table" and type(p.filename) == "string" then
    return p.filename
  end
  error(("bad %s (string expected, got %s)"):format(what or "path",
                                                    type(p)), 3)
end

local function opts_of(o)
  if o == nil then return {} end
  if type(o) ~= "table" then error("options must be a table", 3) end
  return o
end

-- Mode strings to open flags (AsyncSSH's _mode_to_pflags).
local MODE_FLAGS = {
  r = M.FXF_READ,
  w = M.FXF_WRITE | M.FXF_CREAT | M.FXF_TRUNC,
  a = M.FXF_WRITE | M.FXF_CREAT | M.FXF_APPEND,
  x = M.FXF_WRITE | M.FXF_CREAT | M.FXF_EXCL,
}

local function pflags_of(mode)
  if mode == nil then return M.FXF_READ, false end
  if math.type(mode) == "integer" then
    return mode, mode & M.FXF_APPEND ~= 0
  end
  local m = tostring(mode):gsub("[bt]", "")
  local base, plus = m:match("^([rwax])(%+?)$")
  if not base then
    error("bad open mode " .. quote(mode) .. " (r, w, a, x, with + and b)", 3)
  end
  local flags = MODE_FLAGS[base]
  if plus == "+" then flags = flags | M.FXF_READ | M.FXF_WRITE end
  return flags, base == "a"
end

M._pflags_of = pflags_of

-- The SFTPClient ---------------------------------------------------------

local SFTPClient = {__name = "luassh.SFTPClient"}
SFTPClient.__index = SFTPClient
M.SFTPClient = SFTPClient

local SFTPClientFile = {__name = "luassh.SFTPClientFile"}
SFTPClientFile.__index = SFTPClientFile
M.SFTPClientFile = SFTPClientFile

local DEFAULT_BLOCK = 32768
local DEFAULT_MAX_REQUESTS = 64
local COPY_DATA_BLOCK = 256 * 1024 - 1024
-- Files a recursive or multi-file transfer moves at once (opts.max_files).
local DEFAULT_MAX_FILES = 8

--- M.draft_symlink(peer_version, our_version) -> boolean
-- Whether SYMLINK's paths go in draft-02's order (link path first, §6.10)
-- between these two ends, not OpenSSH's (target first, PROTOCOL §4.1).
-- AsyncSSH, on either end, uses the draft's unless the other end's
-- version names OpenSSH or paramiko; OpenSSH's sftp-server (so Dropbear's
-- too), paramiko, PuTTY and luassh use OpenSSH's.
function M.draft_symlink(peer, ours)
  peer, ours = peer or "", ours or ""
  return peer:find("AsyncSSH", 1, true) ~= nil
    and not ours:find("OpenSSH", 1, true) and not ours:find("paramiko", 1, true)
end

--- M.start(conn [, opts]) -> SFTPClient  (conn:start_sftp_client)
-- opts: env, send_env, sftp_version (3), path_encoding (ignored: strings
-- are bytes), window, max_pktsize, block_size, max_requests.
function M.start(conn, opts)
  opts = opts_of(opts)
  local v = opts.sftp_version or 3
  if math.type(v) ~= "integer" or v < 3 then
    error(Error.new("ValueError", ("unsupported SFTP version %s (luassh speaks "
      .. "version 3)"):format(tostring(v))), 2)
  end
  local proc = conn:create_process(nil, {
    subsystem = "sftp", env = opts.env, send_env = opts.send_env,
    window = opts.window, max_pktsize = opts.max_pktsize,
    request_pty = false,
  })
  local ch = proc.channel
  ch:_set_collect(0, true)
  ch:_set_collect(1, true)
  local c = score.new(ch)
  local self = setmetatable({
    connection = conn, channel = ch, _core = c, _proc = proc,
    _cwd = nil, _closed = false,
  }, SFTPClient)
  self._reader = core.spawn(function()
    local ok, err = pcall(c._pump, c)
    if not ok then
      c:_abort("the SFTP reader stopped: " .. tostring(err))
    end
  end)
  local ok, version, exts, limits = pcall(function()
    local v, e = c:_init(3)
    if not v then
      raise(e, "cannot start the SFTP session on " .. tostring(conn.host)
        .. ": the server ended it before answering")
    end
    local l = {max_packet_len = 34000, max_read_len = DEFAULT_BLOCK,
               max_write_len = DEFAULT_BLOCK, max_open_handles = 0}
    if e["limits@openssh.com"] then
      local got = c:_req("limits@openssh.com")
      if type(got) == "table" then l = got end
    end
    return v, e, l
  end)
  if not ok then
    -- A failure or a timeout while starting: nothing is left open.
    self._closed = true
    c:_abort("the SFTP session did not start")
    ch:close()
    error(version, 0)
  end
  self.version = version
  self.extensions = exts
  self._draft_symlink = M.draft_symlink(
    conn:get_extra_info("server_version"), conn:get_extra_info("client_version"))
  self.limits = limits
  local function cap(n)
    if n == nil or n <= 0 then return score.MAX_BLOCK end
    return math.min(n, score.MAX_BLOCK)
  end
  -- Never above the server's limits (PROTOCOL §4.8: it may disconnect).
  self._max_read, self._max_write = cap(limits.max_read_len),
                                    cap(limits.max_write_len)
  self._read_block = self:_block(opts.block_size, "read")
  self._write_block = self:_block(opts.block_size, "write")
  self._max_requests = opts.max_requests or DEFAULT_MAX_REQUESTS
  self.supports_remote_copy = exts["copy-data"] ~= nil
  return self
end

-- A block size for reads or writes: the one asked for (nil/<= 0: the
-- largest), within the server's limits.
function SFTPClient:_block(n, dir)
  local max = dir == "read" and self._max_read or self._max_write
  if n == nil or n <= 0 then return max end
  return math.min(math.floor(n), max)
end

function SFTPClient:__tostring()
  return ("SFTPClient (version %d) on %s"):format(self.version or 0,
                                                  tostring(self.channel))
end

--- sftp:has_extension(name) -> data string | nil
function SFTPClient:has_extension(name)
  return self.extensions[name]
end

--- sftp:compose_path(path [, parent]) -> path relative to the cwd
function SFTPClient:compose_path(path, parent)
  path = to_path(path)
  parent = parent or self._cwd
  if parent and path:sub(1, 1) ~= "/" then return join(parent, path) end
  return path
end

function SFTPClient:basename(path) return basename(to_path(path)) end

function SFTPClient:_check_open()
  if self._closed then
    raise(6, "the SFTP client has exited")
  end
end

-- One request: its values, or the error raised with what and path.
function SFTPClient:_call(what, path, op, ...)
  self:_check_open()
  local a, b, c = self._core:_req(op, ...)
  if a == nil and b ~= nil then fail(what, path, b, c) end
  return a, b
end

function SFTPClient:_need_ext(name, what)
  if not self.extensions[name] then
    raise(8, ("cannot %s: the server does not support %s"):format(what,
                                                                  name))
  end
end

-- Attributes -----------------------------------------------------------

local function follow_of(o)
  o = opts_of(o)
  return o.follow_symlinks ~= false
end

--- sftp:stat(path [, {follow_symlinks = true}]) -> attrs
function SFTPClient:stat(path, o)
  local p = self:compose_path(path)
  if follow_of(o) then return self:_call("stat", p, "stat", p) end
  return self:_call("lstat", p, "lstat", p)
end

--- sftp:lstat(path) -> attrs of the link itself
function SFTPClient:lstat(path)
  local p = self:compose_path(path)
  return self:_call("lstat", p, "lstat", p)
end

--- sftp:setstat(path, attrs [, {follow_symlinks = true}])
function SFTPClient:setstat(path, attrs, o)
  local p = self:compose_path(path)
  if follow_of(o) then
    self:_call("set attributes of", p, "setstat", p, attrs)
  else
    self:_need_ext("lsetstat@openssh.com", "set attributes of a symlink")
    self:_call("set attributes of", p, "lsetstat@openssh.com", p, attrs)
  end
end

--- sftp:statvfs(path) -> {bsize=, frsize=, blocks=, bfree=, ...}
function SFTPClient:statvfs(path)
  local p = self:compose_path(path)
  self:_need_ext("statvfs@openssh.com", "statvfs " .. quote(p))
  return self:_call("statvfs", p, "statvfs@openssh.com", p)
end

--- sftp:truncate(path, size)
function SFTPClient:truncate(path, size)
  self:setstat(path, {size = size})
end

--- sftp:chmod(path, mode [, {follow_symlinks}])
function SFTPClient:chmod(path, mode, o)
  self:setstat(path, {permissions = mode}, o)
end

--- sftp:chown(path, uid, gid [, {follow_symlinks}]): a nil id is kept.
function SFTPClient:chown(path, uid, gid, o)
  if uid == nil or gid == nil then
    local a = self:stat(path, o)
    uid, gid = uid or a.uid, gid or a.gid
  end
  self:setstat(path, {uid = uid, gid = gid}, o)
end

local function times_of(times)
  if times == nil then
    local now = os.time()
    return now, now
  end
  if type(times) ~= "table" then error("times must be {atime, mtime}", 3) end
  local at = times[1] or times.atime
  local mt = times[2] or times.mtime
  return math.floor(at), math.floor(mt)
end

--- sftp:utime(path [, {atime, mtime}] [, {follow_symlinks}]); nil: now
function SFTPClient:utime(path, times, o)
  local at, mt = times_of(times)
  self:setstat(path, {atime = at, mtime = mt}, o)
end

-- Predicates and getters -----------------------------------------------

-- The attrs of path, or nil when it does not exist.
function SFTPClient:_try_stat(path, follow)
  local p = self:compose_path(path)
  self:_check_open()
  local a, code, msg = self._core:_req(follow and "stat" or "lstat", p)
  if a == nil then
    if code == M.FX_NO_SUCH_FILE then return nil end
    fail(follow and "stat" or "lstat", p, code, msg)
  end
  return a
end

function SFTPClient:exists(path) return self:_try_stat(path, true) ~= nil end
function SFTPClient:lexists(path) return self:_try_stat(path, false) ~= nil end

function SFTPClient:isdir(path)
  local a = self:_try_stat(path, true)
  return a ~= nil and a.type == T_DIR
end

function SFTPClient:isfile(path)
  local a = self:_try_stat(path, true)
  return a ~= nil and a.type == M.FILEXFER_TYPE_REGULAR
end

function SFTPClient:islink(path)
  local a = self:_try_stat(path, false)
  return a ~= nil and a.type == T_LINK
end

function SFTPClient:getsize(path) return self:stat(path).size end
function SFTPClient:getatime(path) return self:stat(path).atime end
function SFTPClient:getmtime(path) return self:stat(path).mtime end
--- sftp:getcrtime(path) -> nil: SFTP v3 has no creation time
function SFTPClient:getcrtime(path) return self:stat(path).crtime end

-- Directories ----------------------------------------------------------

--- sftp:scandir([path]) -> iterator over SFTPName {filename, longname,
--- attrs}; the directory handle closes when the loop ends or breaks.
function SFTPClient:scandir(path)
  local p = self:compose_path(path or ".")
  local h = self:_call("open directory", p, "opendir", p)
  local c = self._core
  local batch, i, done = {}, 0, false
  local closed = false
  local function close_dir()
    if not closed then
      closed = true
      if not self._closed then c:_req("close", h) end
    end
  end
  local function iter()
    while true do
      if i < #batch then
        i = i + 1
        return batch[i]
      end
      if done then close_dir() return nil end
      local names, code, msg = c:_req("readdir", h)
      if names == nil then
        if code == M.FX_EOF then
          done = true
        else
          close_dir()
          fail("read directory", p, code, msg)
        end
      else
        batch, i = names, 0
      end
    end
  end
  return iter, nil, nil, setmetatable({}, {__close = close_dir})
end

--- sftp:readdir([path]) -> list of SFTPName (with "." and "..")
function SFTPClient:readdir(path)
  local out = {}
  for name in self:scandir(path) do out[#out + 1] = name end
  return out
end

--- sftp:listdir([path]) -> list of names (with "." and "..")
function SFTPClient:listdir(path)
  local out = {}
  for name in self:scandir(path) do out[#out + 1] = name.filename end
  return out
end

--- sftp:mkdir(path [, attrs])
function SFTPClient:mkdir(path, attrs)
  local p = self:compose_path(path)
  self:_call("create directory", p, "mkdir", p, attrs)
end

--- sftp:makedirs(path [, attrs] [, exist_ok])
function SFTPClient:makedirs(path, attrs, exist_ok)
  path = to_path(path)
  local cur = path:sub(1, 1) == "/" and "/" or (self._cwd or "")
  local exists = true
  local parts = {}
  for part in path:gmatch("[^/]+") do parts[#parts + 1] = part end
  for i, part in ipairs(parts) do
    cur = join(cur, part)
    local ok, err = pcall(self.mkdir, self, cur, attrs)
    if ok then
      exists = false
    elseif err.kind == "SFTPFailure" or err.kind == "SFTPFileAlreadyExists" then
      local a = self:stat(cur)
      if a.type ~= T_DIR then
        raise(4, quote(cur) .. " is not a directory", {path = cur})
      end
    elseif err.kind == "SFTPPermissionDenied" and i < #parts then
      -- A parent we may not write may still exist: go on.
    else
      error(err, 0)
    end
  end
  if exists and not exist_ok then
    raise(4, quote(path) .. " already exists", {path = path})
  end
end

--- sftp:rmdir(path)
function SFTPClient:rmdir(path)
  local p = self:compose_path(path)
  self:_call("remove directory", p, "rmdir", p)
end

--- sftp:remove(path) / sftp:unlink(path)
function SFTPClient:remove(path)
  local p = self:compose_path(path)
  self:_call("remove", p, "remove", p)
end
SFTPClient.unlink = SFTPClient.remove

--- sftp:rmtree(path [, ignore_errors] [, onerror(func_name, path, err)])
function SFTPClient:rmtree(path, ignore_errors, onerror)
  if ignore_errors then
    onerror = function() end
  elseif onerror == nil then
    onerror = function(_, _, err) error(err, 0) end
  end
  local p = self:compose_path(path)
  local ok, islink = pcall(self.islink, self, p)
  if not ok then onerror("islink", p, islink) return end
  if islink then
    onerror("islink", p, sftp_error(2, quote(p) .. " must not be a symlink",
                                    {path = p}))
    return
  end
  local function rm(dir)
    local ok2, entries = pcall(self.readdir, self, dir)
    if not ok2 then onerror("scandir", dir, entries) return end
    for _, e in ipairs(entries) do
      if e.filename ~= "." and e.filename ~= ".." then
        local child = join(dir, e.filename)
        local t = e.attrs.type
        if t == nil or t == M.FILEXFER_TYPE_UNKNOWN then
          local ok3, a = pcall(self.lstat, self, child)
          t = ok3 and a.type or nil
        end
        if t == T_DIR then
          rm(child)
        else
          local ok4, err = pcall(self.remove, self, child)
          if not ok4 then onerror("unlink", child, err) end
        end
      end
    end
    local ok5, err = pcall(self.rmdir, self, dir)
    if not ok5 then onerror("rmdir", dir, err) end
  end
  rm(p)
end

--- sftp:rename(oldpath, newpath): fails if newpath exists (SFTP v3)
function SFTPClient:rename(old, new)
  local o, n = self:compose_path(old), self:compose_path(new)
  self:_call("rename", o, "rename", o, n)
end

--- sftp:posix_rename(oldpath, newpath): replaces newpath
function SFTPClient:posix_rename(old, new)
  local o, n = self:compose_path(old), self:compose_path(new)
  self:_need_ext("posix-rename@openssh.com", "rename " .. quote(o))
  self:_call("rename", o, "posix-rename@openssh.com", o, n)
end

--- sftp:readlink(path) -> target
function SFTPClient:readlink(path)
  local p = self:compose_path(path)
  local names = self:_call("read link", p, "readlink", p)
  if #names ~= 1 then raise(5, "cannot read link " .. quote(p)
                            .. ": the server returned " .. #names .. " names") end
  return names[1].filename
end

--- sftp:symlink(oldpath, newpath): newpath becomes a link to oldpath.
-- Sent in OpenSSH's argument order (target first), or in the draft's to
-- an AsyncSSH server (M.draft_symlink).
function SFTPClient:symlink(old, new)
  local n = self:compose_path(new)
  if self._draft_symlink then
    self:_call("create symlink", n, "symlink", n, to_path(old))
  else
    self:_call("create symlink", n, "symlink", to_path(old), n)
  end
end

--- sftp:link(oldpath, newpath): a hard link (hardlink@openssh.com)
function SFTPClient:link(old, new)
  local o, n = self:compose_path(old), self:compose_path(new)
  self:_need_ext("hardlink@openssh.com", "link " .. quote(n))
  self:_call("link", n, "hardlink@openssh.com", o, n)
end

--- sftp:realpath(path) -> canonical absolute path.  "~" and "~user"
--- paths use expand-path@openssh.com when the server has it.
function SFTPClient:realpath(path)
  local p = self:compose_path(path)
  local op = "realpath"
  if p:sub(1, 1) == "~" and self.extensions["expand-path@openssh.com"] then
    op = "expand-path@openssh.com"
  end
  local names = self:_call("resolve", p, op, p)
  if #names ~= 1 then raise(5, "cannot resolve " .. quote(p)
                            .. ": the server returned " .. #names .. " names") end
  return names[1].filename
end

--- sftp:expand_path(path) -> path with "~" expanded (expand-path@openssh.com)
function SFTPClient:expand_path(path)
  local p = to_path(path)
  self:_need_ext("expand-path@openssh.com", "expand " .. quote(p))
  return self:_call("expand", p, "expand-path@openssh.com", p)[1].filename
end

--- sftp:home_directory([user]) -> path (the home-directory extension);
--- user defaults to the connection's (OpenSSH refuses an empty name).
function SFTPClient:home_directory(user)
  user = user or self.connection.username or ""
  self:_need_ext("home-directory", "find a home directory")
  return self:_call("find the home directory of", user, "home-directory",
                    user)[1].filename
end

--- sftp:users_groups_by_id(uids, gids) -> {user names}, {group names}
function SFTPClient:users_groups_by_id(uids, gids)
  self:_need_ext("users-groups-by-id@openssh.com", "look up user names")
  return self:_call("look up ids", nil, "users-groups-by-id@openssh.com",
                    uids or {}, gids or {})
end

--- sftp:chdir(path): later relative paths start there
function SFTPClient:chdir(path)
  local p = self:realpath(path)
  -- Servers resolve paths that do not exist (OpenSSH does): check.
  local a = self:stat(p)
  if a.type ~= T_DIR then
    raise(4, ("cannot change directory to %s: not a directory"):format(
      quote(p)), {path = p})
  end
  self._cwd = p
end

--- sftp:getcwd() -> the current remote directory
function SFTPClient:getcwd()
  if self._cwd == nil then self._cwd = self:realpath(".") end
  return self._cwd
end

-- Files ----------------------------------------------------------------

--- sftp:open(path [, mode] [, attrs] [, {block_size, max_requests}])
--- -> SFTPClientFile.  mode: "r" (default), "w", "a", "x", with "+" and
--- "b", or FXF_* flags.
function SFTPClient:open(path, mode, attrs, o)
  o = opts_of(o)
  local p = self:compose_path(path)
  local flags, appending = pflags_of(mode)
  local h = self:_call("open", p, "open", p, flags, attrs)
  return setmetatable({
    _sftp = self, _core = self._core, handle = h, path = p,
    _offset = 0, _appending = appending, _closed = false,
    _read_block = o.block_size and self:_block(o.block_size, "read")
                  or self._read_block,
    _write_block = o.block_size and self:_block(o.block_size, "write")
                   or self._write_block,
    _max_requests = o.max_requests or self._max_requests,
  }, SFTPClientFile)
end

function SFTPClientFile:__tostring()
  return ("SFTPClientFile %s%s"):format(quote(self.path),
                                        self._closed and " (closed)" or "")
end

function SFTPClientFile:_check()
  if self._closed then error("attempt to use a closed SFTP file", 3) end
end

function SFTPClientFile:_call(what, op, ...)
  self:_check()
  self._sftp:_check_open()
  local a, b, c = self._core:_req(op, ...)
  if a == nil and b ~= nil then fail(what, self.path, b, c) end
  return a, b
end

-- Waits for a transfer, calling progress(done) when given: as the bytes
-- move, and once at the end with the final count (so at least once).
local function run_xfer(x, progress)
  local reported
  while true do
    local ok, st, a, b, c = pcall(x.wait, x, progress ~= nil)
    if not ok then
      x:stop()
      error(st, 0)
    end
    if st ~= "progress" and (st ~= "done" or progress == nil or
                             reported == a) then
      return st, a, b, c
    end
    reported = a
    local ok2, err = pcall(progress, a)
    if not ok2 then
      x:stop()
      error(err, 0)
    end
    if st == "done" then return st, a, b, c end
  end
end

local function xfer_fail(what, path, st, code, msg)
  if st == "local" then local_fail(what, path, code, msg) end
  fail(what, path, code, msg)
end

--- file:read([size [, offset]]) -> bytes ("" at end of file).  size nil
--- or negative reads to EOF; reads larger than a block go in parallel.
function SFTPClientFile:read(size, offset)
  self:_check()
  local off = offset or self._offset
  size = size or -1
  local data
  if size >= 0 and size <= self._read_block then
    if size == 0 then return "" end
    local d, code, msg = self._core:_req("read", self.handle, off, size)
    if d == nil then
      if code ~= M.FX_EOF then fail("read", self.path, code, msg) end
      d = ""
    end
    data = d
  else
    self._sftp:_check_open()
    local x, code, msg = self._core:_xfer("get", {
      src = self.handle, to_memory = true, src_offset = off,
      length = size >= 0 and size or nil, block = self._read_block,
      max_requests = self._max_requests})
    if not x then fail("read", self.path, code, msg) end
    local st, a, b, c = run_xfer(x)
    if st ~= "done" then xfer_fail("read", self.path, st, a, b) end
    data = c
  end
  if offset == nil then self._offset = off + #data end
  return data
end

--- file:write(data [, offset]) -> #data
function SFTPClientFile:write(data, offset)
  self:_check()
  data = tostring(data)
  local off = offset
  if off == nil then
    off = self._appending and self:stat().size or self._offset
  end
  if #data <= self._write_block then
    self:_call("write", "write", self.handle, off, data)
  else
    self._sftp:_check_open()
    local x, code, msg = self._core:_xfer("put", {
      dst = self.handle, data = data, dst_offset = off,
      block = self._write_block, max_requests = self._max_requests})
    if not x then fail("write", self.path, code, msg) end
    local st, a, b = run_xfer(x)
    if st ~= "done" then xfer_fail("write", self.path, st, a, b) end
  end
  if offset == nil then self._offset = off + #data end
  return #data
end

local WHENCE = {[0] = 0, [1] = 1, [2] = 2, set = 0, cur = 1, ["end"] = 2}

--- file:seek([offset [, whence]]) -> new offset.  whence: 0/"set"
--- (default), 1/"cur", 2/"end".
function SFTPClientFile:seek(offset, whence)
  self:_check()
  local w = WHENCE[whence == nil and 0 or whence]
  if w == nil then error("bad whence " .. tostring(whence), 2) end
  offset = offset or 0
  if w == 0 then
    self._offset = offset
  elseif w == 1 then
    self._offset = self._offset + offset
  else
    self._offset = self:stat().size + offset
  end
  if self._offset < 0 then self._offset = 0 end
  return self._offset
end

function SFTPClientFile:tell()
  self:_check()
  return self._offset
end

function SFTPClientFile:stat() return self:_call("fstat", "fstat", self.handle) end

function SFTPClientFile:setstat(attrs)
  self:_call("set attributes of", "fsetstat", self.handle, attrs)
end

--- file:truncate([size]): default the current offset
function SFTPClientFile:truncate(size)
  self:setstat({size = size or self._offset})
end

function SFTPClientFile:chmod(mode) self:setstat({permissions = mode}) end

function SFTPClientFile:chown(uid, gid)
  if uid == nil or gid == nil then
    local a = self:stat()
    uid, gid = uid or a.uid, gid or a.gid
  end
  self:setstat({uid = uid, gid = gid})
end

function SFTPClientFile:utime(times)
  local at, mt = times_of(times)
  self:setstat({atime = at, mtime = mt})
end

--- file:statvfs() (fstatvfs@openssh.com)
function SFTPClientFile:statvfs()
  self._sftp:_need_ext("fstatvfs@openssh.com", "statvfs " .. quote(self.path))
  return self:_call("statvfs", "fstatvfs@openssh.com", self.handle)
end

--- file:fsync() (fsync@openssh.com)
function SFTPClientFile:fsync()
  self._sftp:_need_ext("fsync@openssh.com", "fsync " .. quote(self.path))
  self:_call("fsync", "fsync@openssh.com", self.handle)
end

function SFTPClientFile:lock()
  raise(8, "cannot lock " .. quote(self.path) .. ": byte-range locks need "
    .. "SFTP version 6")
end
SFTPClientFile.unlock = SFTPClientFile.lock

--- file:chunks([size]) -> iterator over the rest of the file, size bytes
--- (default one block) at a time, read ahead in parallel.
function SFTPClientFile:chunks(size)
  self:_check()
  size = size or self._read_block
  local ahead = math.max(size, self._read_block * 16)
  local buf, pos = "", 1
  local eof = false
  return function()
    if #buf - pos + 1 < size and not eof then
      local more = self:read(ahead)
      if #more == 0 then eof = true end
      buf, pos = buf:sub(pos) .. more, 1
    end
    if pos > #buf then return nil end
    local chunk = buf:sub(pos, pos + size - 1)
    pos = pos + #chunk
    return chunk
  end
end

--- file:read_parallel(size, offset) -> iterator over (offset, data)
function SFTPClientFile:read_parallel(size, offset)
  local off = offset or self._offset
  local data = self:read(size, off)
  local block, i = self._read_block, 0
  return function()
    if i >= #data then return nil end
    local o = i
    i = i + block
    return off + o, data:sub(o + 1, o + block)
  end
end

--- file:close()
function SFTPClientFile:close()
  if self._closed then return end
  self._closed = true
  if self._sftp._closed then return end
  local ok, code, msg = self._core:_req("close", self.handle)
  if ok == nil then fail("close", self.path, code, msg) end
end

function SFTPClientFile:__close()
  if self._closed then return end
  if coroutine.isyieldable() then
    self:close()
  else
    self._closed = true
    if not self._sftp._closed then self._core:_send("close", self.handle) end
  end
end

-- Globbing -------------------------------------------------------------

local function has_magic(s) return s:find("[%*%?%[]") ~= nil end

-- fnmatch(3) pattern -> anchored Lua pattern (one path component).
local function fn_to_lua(pat)
  local out, i, n = {"^"}, 1, #pat
  while i <= n do
    local ch = pat:sub(i, i)
    if ch == "*" then
      out[#out + 1] = ".*"
    elseif ch == "?" then
      out[#out + 1] = "."
    elseif ch == "[" then
      local j = i + 1
      if pat:sub(j, j) == "!" or pat:sub(j, j) == "^" then j = j + 1 end
      if pat:sub(j, j) == "]" then j = j + 1 end
      while j <= n and pat:sub(j, j) ~= "]" do j = j + 1 end
      if j > n then
        out[#out + 1] = "%["
      else
        local body = pat:sub(i + 1, j - 1)
        local neg = body:match("^[!^]") ~= nil
        if neg then body = body:sub(2) end
        body = body:gsub("[%%%]%^%[]", "%%%0")
        out[#out + 1] = "[" .. (neg and "^" or "") .. body .. "]"
        i = j
      end
    else
      out[#out + 1] = ch:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  return table.concat(out)
end
M._fn_to_lua = fn_to_lua

-- Matches of one pattern on a filesystem adapter -> list of
-- {filename = path, attrs = attrs}.
local function glob_one(fs, pattern)
  local absolute = pattern:sub(1, 1) == "/"
  local parts = {}
  for part in pattern:gmatch("[^/]+") do parts[#parts + 1] = part end
  local cur = {{filename = absolute and "/" or "", attrs = nil}}
  local last_magic = false
  local function entries(dir)
    local ok, list = pcall(fs.scandir, fs, dir == "" and "." or dir)
    if not ok then return {} end
    table.sort(list, function(a, b) return a.filename < b.filename end)
    return list
  end
  for _, part in ipairs(parts) do
    local new = {}
    if part == "**" then
      local function walk(node)
        new[#new + 1] = node
        for _, e in ipairs(entries(node.filename)) do
          if e.attrs.type == T_DIR and e.filename:sub(1, 1) ~= "." then
            walk({filename = join(node.filename, e.filename), attrs = e.attrs})
          end
        end
      end
      for _, node in ipairs(cur) do walk(node) end
      last_magic = true
    elseif has_magic(part) then
      local lp = fn_to_lua(part)
      local hidden_ok = part:sub(1, 1) == "."
      for _, node in ipairs(cur) do
        for _, e in ipairs(entries(node.filename)) do
          local name = e.filename
          if name ~= "." and name ~= ".." and name:find(lp)
             and (hidden_ok or name:sub(1, 1) ~= ".") then
            new[#new + 1] = {filename = join(node.filename, name),
                             attrs = e.attrs}
          end
        end
      end
      last_magic = true
    else
      for _, node in ipairs(cur) do
        new[#new + 1] = {filename = join(node.filename, part)}
      end
      last_magic = false
    end
    cur = new
  end
  local out = {}
  for _, node in ipairs(cur) do
    if node.filename == "" then node.filename = "." end
    if not last_magic or node.attrs == nil then
      local ok, a = pcall(fs.stat, fs, node.filename, false)
      if ok then
        node.attrs = a
        out[#out + 1] = node
      end
    else
      out[#out + 1] = node
    end
  end
  return out
end

local function glob_names(fs, patterns, error_handler)
  if type(patterns) == "string" then patterns = {patterns} end
  local out = {}
  for _, pattern in ipairs(patterns) do
    pattern = to_path(pattern, "pattern")
    local matches = has_magic(pattern) and glob_one(fs, pattern) or nil
    if matches == nil then
      local ok, a = pcall(fs.stat, fs, pattern, false)
      matches = ok and {{filename = pattern, attrs = a}} or {}
    end
    if #matches == 0 then
      local err = sftp_error(2, "no matches found for " .. quote(pattern),
                             {path = pattern})
      if error_handler then error_handler(err) else error(err, 0) end
    end
    for _, m in ipairs(matches) do out[#out + 1] = m end
  end
  return out
end

M._glob_names = glob_names

-- Filesystem adapters for transfers --------------------------------------

local RemoteFS = {}
RemoteFS.__index = RemoteFS

local function remote_fs(sftp) return setmetatable({sftp = sftp}, RemoteFS) end

function RemoteFS:stat(path, follow)
  return self.sftp:stat(path, {follow_symlinks = follow == true})
end
function RemoteFS:isdir(path) return self.sftp:isdir(path) end
function RemoteFS:mkdir(path) self.sftp:mkdir(path) end
function RemoteFS:readlink(path) return self.sftp:readlink(path) end
function RemoteFS:symlink(target, path) self.sftp:symlink(target, path) end
function RemoteFS:setstat(path, attrs, follow)
  self.sftp:setstat(path, attrs, {follow_symlinks = follow})
end
function RemoteFS:scandir(path)
  local out = {}
  for e in self.sftp:scandir(path) do
    if e.filename ~= "." and e.filename ~= ".." then out[#out + 1] = e end
  end
  return out
end
function RemoteFS:path(p) return self.sftp:compose_path(p) end

local LocalFS = {}
LocalFS.__index = LocalFS
local local_fs = setmetatable({}, LocalFS)

local function lcheck(what, path, v, errno, msg)
  if v == nil then local_fail(what, path, errno, msg) end
  return v
end

function LocalFS:stat(path, follow)
  return lcheck("stat", path, score.local_stat(path, follow == true))
end
function LocalFS:isdir(path)
  local a = score.local_stat(path, true)
  return a ~= nil and a.type == T_DIR
end
function LocalFS:mkdir(path)
  lcheck("create directory", path, score.local_mkdir(path, 0777))
end
function LocalFS:readlink(path)
  return lcheck("read link", path, score.local_readlink(path))
end
function LocalFS:symlink(target, path)
  lcheck("create symlink", path, score.local_symlink(target, path))
end
function LocalFS:setstat(path, attrs, follow)
  lcheck("set attributes of", path, score.local_setstat(path, attrs, follow))
end
function LocalFS:scandir(path)
  local names = lcheck("list directory", path, score.local_listdir(path))
  local out = {}
  for _, name in ipairs(names) do
    local a = score.local_stat(join(path, name), false)
    if a then out[#out + 1] = {filename = name, attrs = a} end
  end
  return out
end
function LocalFS:path(p) return p end

-- Transfers ------------------------------------------------------------

local function xfer_opts(self, o, dir)
  local block = o.block_size
  if block == nil or block <= 0 then
    block = dir == "read" and self._read_block or self._write_block
  else
    block = self:_block(block, dir)
  end
  local maxreq = o.max_requests
  if maxreq == nil or maxreq <= 0 then maxreq = self._max_requests end
  return math.min(block, score.MAX_BLOCK), maxreq
end

local function preserved(attrs, is_link)
  local a = {}
  if attrs.atime and attrs.mtime then a.atime, a.mtime = attrs.atime, attrs.mtime end
  -- A symlink's own mode cannot be set on Linux (lsetstat would fail).
  if attrs.permissions and not is_link then
    a.permissions = attrs.permissions & 0xfff
  end
  return a
end

local function progress_fn(o, src, dst, total)
  local ph = o.progress_handler
  if not ph then return nil end
  return function(done) ph(src, dst, done, total or done) end
end

local function close_quietly(core_, h)
  pcall(core_._req, core_, "close", h)
end

-- Remote file -> local file.
local function get_file(self, src, dst, attrs, o)
  local c = self._core
  local h = self:_call("open", src, "open", src, M.FXF_READ)
  local block, maxreq = xfer_opts(self, o, "read")
  local total = attrs.size
  local x, code, msg = c:_xfer("get", {
    src = h, local_path = dst, size_hint = total, block = block,
    max_requests = maxreq, sparse = o.sparse ~= false,
    progress = o.progress_handler ~= nil})
  if not x then
    close_quietly(c, h)
    if code == M.FX_CONNECTION_LOST then fail("read", src, code, msg) end
    local_fail("create", dst, code, msg)
  end
  local ok, st, a, b = pcall(run_xfer, x, progress_fn(o, src, dst, total))
  close_quietly(c, h)
  if not ok then error(st, 0) end
  if st == "local" then local_fail("write", dst, a, b) end
  if st ~= "done" then fail("read", src, a, b) end
  if o.preserve then
    local_fs:setstat(dst, preserved(attrs), true)
  end
end

-- Local file -> remote file.
local function put_file(self, src, dst, attrs, o)
  local c = self._core
  local create = {}
  if attrs.permissions then create.permissions = attrs.permissions & 0x1ff end
  local h = self:_call("open", dst, "open", dst,
                       M.FXF_WRITE | M.FXF_CREAT | M.FXF_TRUNC, create)
  local block, maxreq = xfer_opts(self, o, "write")
  local total = attrs.size
  local x, code, msg = c:_xfer("put", {
    dst = h, local_path = src, length = total, block = block,
    max_requests = maxreq, sparse = o.sparse ~= false,
    progress = o.progress_handler ~= nil})
  if not x then
    close_quietly(c, h)
    if code == M.FX_CONNECTION_LOST then fail("write", dst, code, msg) end
    local_fail("open", src, code, msg)
  end
  local ok, st, a, b = pcall(run_xfer, x, progress_fn(o, src, dst, total))
  if not ok then
    close_quietly(c, h)
    error(st, 0)
  end
  if st ~= "done" then
    close_quietly(c, h)
    if st == "local" then local_fail("read", src, a, b) end
    fail("write", dst, a, b)
  end
  -- Attributes and close go together: one round trip.
  local t1 = o.preserve and c:_send("fsetstat", h, preserved(attrs)) or nil
  local t2 = c:_send("close", h)
  local r1, c1, m1
  if t1 then r1, c1, m1 = t1:wait() end
  local r2, c2, m2 = t2:wait()
  if t1 and r1 == nil then fail("set attributes of", dst, c1, m1) end
  if r2 == nil then fail("close", dst, c2, m2) end
end

-- Remote file -> remote file (copy-data in the server when it can).
local function copy_file(self, src, dst, attrs, o)
  local c = self._core
  local use_copy_data = self.supports_remote_copy
  if o.remote_only and not use_copy_data then
    raise(8, "cannot copy " .. quote(src) .. " inside the server: it does "
      .. "not support copy-data", {path = src})
  end
  local hs = self:_call("open", src, "open", src, M.FXF_READ)
  local create = {}
  if attrs.permissions then create.permissions = attrs.permissions & 0x1ff end
  local okd, hd = pcall(self._call, self, "open", dst, "open", dst,
                        M.FXF_WRITE | M.FXF_CREAT | M.FXF_TRUNC, create)
  if not okd then
    close_quietly(c, hs)
    error(hd, 0)
  end
  local total = attrs.size
  if total == nil then
    local fa = c:_req("fstat", hs)
    total = fa and fa.size
  end
  local block, maxreq = xfer_opts(self, o, "read")
  local x, code, msg
  if use_copy_data then
    x, code, msg = c:_xfer("copy_data", {
      src = hs, dst = hd, length = total,
      block = math.max(block, COPY_DATA_BLOCK), max_requests = maxreq,
      progress = o.progress_handler ~= nil})
  else
    x, code, msg = c:_xfer("copy", {
      src = hs, dst = hd, size_hint = total,
      block = math.min(block, self._write_block), max_requests = maxreq,
      sparse = o.sparse ~= false, progress = o.progress_handler ~= nil})
  end
  if not x then
    close_quietly(c, hs)
    close_quietly(c, hd)
    fail("copy", src, code, msg)
  end
  local ok, st, a, b = pcall(run_xfer, x, progress_fn(o, src, dst, total))
  close_quietly(c, hs)
  if not ok or st ~= "done" then close_quietly(c, hd) end
  if not ok then error(st, 0) end
  if st ~= "done" then fail("copy", src, a, b) end
  local t1 = o.preserve and c:_send("fsetstat", hd, preserved(attrs)) or nil
  local t2 = c:_send("close", hd)
  local r1, c1, m1
  if t1 then r1, c1, m1 = t1:wait() end
  local r2, c2, m2 = t2:wait()
  if t1 and r1 == nil then fail("set attributes of", dst, c1, m1) end
  if r2 == nil then fail("close", dst, c2, m2) end
end

-- Records a failure of src -> dst: to the error_handler, or for the end.
local function record(ctx, err, src, dst)
  if type(err) == "table" then
    err.srcpath, err.dstpath = err.srcpath or src, err.dstpath or dst
  end
  if ctx.o.error_handler then
    ctx.o.error_handler(err)
  else
    ctx.errors[#ctx.errors + 1] = err
  end
end

-- Walks one source (file, directory or symlink): creates directories and
-- symlinks now, queues regular files in ctx.jobs and directories whose
-- attributes are to be preserved in ctx.dirs (parents first).
local function walk(ctx, src, dst, attrs)
  local o, srcfs, dstfs = ctx.o, ctx.srcfs, ctx.dstfs
  local ok, err = pcall(function()
    local ftype = attrs.type
    if o.follow_symlinks and ftype == T_LINK then
      attrs = srcfs:stat(src, true)
      ftype = attrs.type
    end
    if ftype == T_DIR then
      if not o.recurse then
        raise(24, quote(src) .. " is a directory (use recurse = true)",
              {path = src})
      end
      if not dstfs:isdir(dst) then dstfs:mkdir(dst) end
      if o.preserve then ctx.dirs[#ctx.dirs + 1] = {dst, attrs, src} end
      for _, e in ipairs(srcfs:scandir(src)) do
        walk(ctx, join(src, e.filename), join(dst, e.filename), e.attrs)
      end
    elseif ftype == T_LINK then
      dstfs:symlink(srcfs:readlink(src), dst)
      if o.preserve then
        local pa = preserved(attrs, true)
        if pa.atime and (dstfs == local_fs or
                         ctx.sftp.extensions["lsetstat@openssh.com"]) then
          dstfs:setstat(dst, pa, false)
        end
      end
    else
      ctx.jobs[#ctx.jobs + 1] = {src, dst, attrs}
    end
  end)
  if not ok then record(ctx, err, src, dst) end
end

local function run_job(ctx, job)
  local ok, err = pcall(ctx.file, ctx.sftp, job[1], job[2], job[3], ctx.o)
  if not ok then record(ctx, err, job[1], job[2]) end
end

-- Copies the queued files, several at a time over the one session (small
-- files cost round trips, not bandwidth), then gives directories their
-- attributes, children before parents (writing into a directory changes
-- its times).
local function run_jobs(ctx)
  local jobs = ctx.jobs
  local limit = ctx.o.max_files or DEFAULT_MAX_FILES
  if #jobs <= 1 or limit <= 1 then
    for _, job in ipairs(jobs) do run_job(ctx, job) end
  else
    local fns = {}
    for i, job in ipairs(jobs) do
      fns[i] = function() run_job(ctx, job) end
    end
    gather(fns, {limit = limit})
  end
  for i = #ctx.dirs, 1, -1 do
    local dst, attrs, src = ctx.dirs[i][1], ctx.dirs[i][2], ctx.dirs[i][3]
    local ok, err = pcall(ctx.dstfs.setstat, ctx.dstfs, dst,
                          preserved(attrs), true)
    if not ok then record(ctx, err, src, dst) end
  end
end

local function begin_copy(self, kind, srcpaths, dstpath, o, expand_glob)
  o = opts_of(o)
  local ctx = {sftp = self, o = o, errors = {}, jobs = {}, dirs = {}}
  if kind == "get" then
    ctx.srcfs, ctx.dstfs, ctx.file = remote_fs(self), local_fs, get_file
  elseif kind == "put" then
    ctx.srcfs, ctx.dstfs, ctx.file = local_fs, remote_fs(self), put_file
  else
    ctx.srcfs, ctx.dstfs, ctx.file = remote_fs(self), remote_fs(self), copy_file
  end
  self:_check_open()
  if type(srcpaths) ~= "table" or srcpaths.filename then
    srcpaths = {srcpaths}
  end
  local names = {}
  if expand_glob then
    names = glob_names(ctx.srcfs, srcpaths, o.error_handler)
  else
    for _, p in ipairs(srcpaths) do
      local path = ctx.srcfs:path(to_path(p))
      local ok, a = pcall(ctx.srcfs.stat, ctx.srcfs, path, o.follow_symlinks)
      if ok then
        names[#names + 1] = {filename = path, attrs = a}
      else
        record(ctx, a, path, nil)
      end
    end
  end
  local dst_isdir = false
  if dstpath ~= nil then
    dstpath = ctx.dstfs:path(to_path(dstpath))
    dst_isdir = ctx.dstfs:isdir(dstpath)
  end
  if #names > 1 and dstpath ~= nil and not dst_isdir then
    raise(4, quote(dstpath) .. " must be a directory to take several "
      .. "sources", {path = dstpath})
  end
  for _, n in ipairs(names) do
    local name = basename(n.filename)
    local dst
    if dstpath == nil then
      dst = kind == "put" and self:compose_path(name) or name
    elseif dst_isdir then
      dst = join(dstpath, name)
    else
      dst = dstpath
    end
    walk(ctx, n.filename, dst, n.attrs)
  end
  run_jobs(ctx)
  local errs = ctx.errors
  if #errs == 1 then error(errs[1], 0) end
  if #errs > 1 then
    local lines = {}
    for i, e in ipairs(errs) do
      if i > 10 then
        lines[#lines + 1] = ("... and %d more"):format(#errs - 10)
        break
      end
      lines[#lines + 1] = tostring(e.reason or e)
    end
    local first = errs[1]
    error(Error.new(first.kind or "SFTPError", ("%d of the transfers failed: "
      .. "%s"):format(#errs, table.concat(lines, "; ")), {
      code = first.code, base = first.base, errors = errs,
      srcpath = first.srcpath, dstpath = first.dstpath}), 0)
  end
end

--- sftp:get(remotepaths [, localpath] [, opts]): download.  opts:
--- preserve, recurse, follow_symlinks, sparse (true), block_size,
--- max_requests, progress_handler(src, dst, done, total), error_handler.
function SFTPClient:get(srcpaths, dstpath, o)
  if type(dstpath) == "table" and o == nil then dstpath, o = nil, dstpath end
  begin_copy(self, "get", srcpaths, dstpath, o, false)
end

--- sftp:put(localpaths [, remotepath] [, opts]): upload (opts as get)
function SFTPClient:put(srcpaths, dstpath, o)
  if type(dstpath) == "table" and o == nil then dstpath, o = nil, dstpath end
  begin_copy(self, "put", srcpaths, dstpath, o, false)
end

--- sftp:copy(srcpaths [, dstpath] [, opts]): remote to remote, inside the
--- server with copy-data when it has it (opts.remote_only requires it).
function SFTPClient:copy(srcpaths, dstpath, o)
  if type(dstpath) == "table" and o == nil then dstpath, o = nil, dstpath end
  begin_copy(self, "copy", srcpaths, dstpath, o, false)
end

--- sftp:mget / mput / mcopy: the same with glob patterns as sources.
function SFTPClient:mget(srcpaths, dstpath, o)
  if type(dstpath) == "table" and o == nil then dstpath, o = nil, dstpath end
  begin_copy(self, "get", srcpaths, dstpath, o, true)
end

function SFTPClient:mput(srcpaths, dstpath, o)
  if type(dstpath) == "table" and o == nil then dstpath, o = nil, dstpath end
  begin_copy(self, "put", srcpaths, dstpath, o, true)
end

function SFTPClient:mcopy(srcpaths, dstpath, o)
  if type(dstpath) == "table" and o == nil then dstpath, o = nil, dstpath end
  begin_copy(self, "copy", srcpaths, dstpath, o, true)
end

--- sftp:glob(patterns [, error_handler]) -> list of paths
-- Relative patterns match relative to the current directory, and so do
-- their results.
function SFTPClient:glob(patterns, error_handler)
  local out = {}
  for i, n in ipairs(glob_names(remote_fs(self), patterns, error_handler)) do
    out[i] = n.filename
  end
  return out
end

--- sftp:glob_sftpname(patterns [, error_handler]) -> list of SFTPName
function SFTPClient:glob_sftpname(patterns, error_handler)
  return glob_names(remote_fs(self), patterns, error_handler)
end

--- sftp:remote_copy(src, dst [, src_offset [, src_length [, dst_offset]]])
--- src and dst are SFTPClientFiles or paths; src_length 0 copies to EOF.
function SFTPClient:remote_copy(src, dst, src_offset, src_length, dst_offset)
  self:_need_ext("copy-data", "copy inside the server")
  local opened = {}
  local function file_of(f, mode)
    if getmetatable(f) == SFTPClientFile then return f end
    local fh = self:open(f, mode)
    opened[#opened + 1] = fh
    return fh
  end
  local ok, err = pcall(function()
    local s = file_of(src, "r")
    local d = file_of(dst, "r+")
    local len = src_length or 0
    local x, code, msg = self._core:_xfer("copy_data", {
      src = s.handle, dst = d.handle, src_offset = src_offset or 0,
      dst_offset = dst_offset or 0, length = len > 0 and len or nil,
      block = COPY_DATA_BLOCK, max_requests = self._max_requests})
    if not x then fail("copy", s.path, code, msg) end
    local st, a, b = run_xfer(x)
    if st ~= "done" then fail("copy", s.path, a, b) end
  end)
  for _, f in ipairs(opened) do pcall(f.close, f) end
  if not ok then error(err, 0) end
end

-- Lifecycle ------------------------------------------------------------

--- sftp:exit(): ends the session (the server sees EOF and stops)
function SFTPClient:exit()
  if self._closed then return end
  self._closed = true
  local ch = self.channel
  pcall(ch.write_eof, ch)
  self._core:_abort("the SFTP client has exited")
  pcall(ch.close, ch)
end
SFTPClient.close = SFTPClient.exit

--- sftp:wait_closed(): until the channel has closed
function SFTPClient:wait_closed()
  self.channel:wait_closed()
end

function SFTPClient:__close() self:exit() end

-- Dropped without exit(): close the channel (never yields), which ends
-- the reader task.
function SFTPClient:__gc()
  if not self._closed then
    self._closed = true
    pcall(self.channel.close, self.channel)
  end
end

return M
