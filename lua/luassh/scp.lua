-- ssh.scp: copies files with the SCP protocol, as AsyncSSH's scp() does
-- (doc/api/scp.md; issue 8).
--
-- One side is this process and the other a remote `scp -t` (we send) or
-- `scp -f` (we receive), run over an exec channel of an SSH client
-- connection; or both sides are remote and the data streams through
-- this process.  SCP has no RFC: ../shared/specs/scp-protocol-how-it-
-- works.md describes the framing that OpenSSH's `scp -O` speaks.
--
-- The local side is one of the C machines of src/ssh/scp (through
-- luassh.scpcore, src/lua_bindings/l_scp.c): they read and write the
-- files, parse and check every line and, as a sink, refuse names with
-- '/', "..", names that do not match what we asked for, extra entries,
-- bad sizes, modes and times (CVE-2019-6111 / CVE-2026-54591 class), so
-- nothing is written outside the destination given.  A remote-to-remote
-- copy applies the same checks here, in Lua, to the lines it relays.
local core = require "luassh.core"
local scpcore = require "luassh.scpcore"
local Error = require "luassh.error"
local client = require "luassh.client"

local M = {}

local DEFAULT_BLOCK = 256 * 1024  -- AsyncSSH's SCP block size
local CHUNK = 256 * 1024          -- largest read from a channel
local HIGH_WATER = 1024 * 1024    -- unsent bytes before we wait for them
local MAX_LINE = scpcore.MAX_LINE
local MAX_DEPTH = 64
local MAX_TIME = 253402300799     -- 9999-12-31T23:59:59Z, as the sink
local SETTLE = 2                  -- seconds to wait for a failed scp's exit

-- The options that are ssh.scp's own; every other one goes to connect().
local SCP_KEYS = {
  preserve = true, recurse = true, block_size = true,
  progress_handler = true, error_handler = true,
}

-- SFTP status codes (draft-ietf-secsh-filexfer-02 §7) under the names of
-- AsyncSSH's SFTPError subclasses, which its scp() raises.  As for the
-- SFTP client, the kind is the subclass and `base` is "SFTPError".
local FX = {
  SFTPNoSuchFile = 2, SFTPPermissionDenied = 3, SFTPFailure = 4,
  SFTPBadMessage = 5, SFTPConnectionLost = 7,
}

-- Error lines carry strerror() texts: the two that have their own SFTP
-- status get it.
local function failure_kind(msg)
  if msg:find("No such file or directory", 1, true) then
    return "SFTPNoSuchFile"
  elseif msg:find("Permission denied", 1, true) then
    return "SFTPPermissionDenied"
  end
  return "SFTPFailure"
end

local function scp_error(kind, reason, fields)
  fields = fields or {}
  fields.code = FX[kind]
  fields.base = "SFTPError"
  return Error.new(kind, reason, fields)
end

-- A peer's text must not drive the user's terminal (CVE-2019-6109 class).
local function escape(s)
  return (s:gsub("[%c\127]", function(c)
    return ("\\x%02x"):format(c:byte())
  end))
end

-- Paths ------------------------------------------------------------------

local function is_conn(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "luassh.SSHClientConnection"
end

-- "user@host" -> user, host (the last '@' separates them, as in scp).
local function split_user(s)
  local user, host = s:match("^(.*)@([^@]*)$")
  if not user then return nil, s end
  return user ~= "" and user or nil, host
end

-- OpenSSH's rule (scp.c colon()): a path is remote when a ':' comes
-- before any '/'; "[addr]:path" for IPv6; a leading ':' is part of a
-- local name.  Returns user, host, path or nil.
local function split_remote(s)
  if s:sub(1, 1) == ":" then return nil end
  local pre, addr, rest = s:match("^([^/%[%]]-)%[([^%]/]*)%]:(.*)$")
  if addr then
    local user
    if pre ~= "" then
      user = pre:match("^(.*)@$")
      if user == nil then return nil end
      if user == "" then user = nil end
    end
    if addr == "" then return nil end
    return user, addr, rest
  end
  local hp, path = s:match("^([^/]-):(.*)$")
  if not hp or hp == "" then return nil end
  local user, host = split_user(hp)
  if host == "" then return nil end
  return user, host, path
end

-- Turns one path argument into {remote=, conn=|host=,port=,user=, path=}.
local function parse_path(p, what)
  if type(p) == "string" then
    local user, host, path = split_remote(p)
    if host then
      return {remote = true, user = user, host = host, path = path}
    end
    return {remote = false, path = p}
  end
  if is_conn(p) then
    return {remote = true, conn = p, path = "."}
  end
  if type(p) ~= "table" then
    error(("bad %s path (a string, {host, path}, {{host, port}, path} or "
      .. "{conn, path} expected, got %s)"):format(what, type(p)), 0)
  end
  local who, path = p[1], p[2]
  if path == nil then path = "." end
  if type(path) ~= "string" then
    error(("bad %s path: the path in {host, path} must be a string")
      :format(what), 0)
  end
  if is_conn(who) then
    return {remote = true, conn = who, path = path}
  end
  local host, port
  if type(who) == "string" then
    host = who
  elseif type(who) == "table" and type(who[1]) == "string" then
    host, port = who[1], who[2]
    if port ~= nil and not math.tointeger(port) then
      error(("bad %s path: the port in {{host, port}, path} must be an "
        .. "integer"):format(what), 0)
    end
  else
    error(("bad %s path: {host, path} needs a host name, a {host, port} "
      .. "pair or an SSHClientConnection first"):format(what), 0)
  end
  local user, h = split_user(host)
  return {remote = true, user = user, host = h, port = port, path = path}
end

-- srcpaths: one path or a list of paths.  A two-element table is one path
-- when its first element is a connection or a {host, port} pair; two
-- strings are a list of two paths (write {host, path} inside a list, or
-- "host:path").
local function source_list(srcpaths)
  if type(srcpaths) ~= "table" then return {srcpaths} end
  local first = srcpaths[1]
  if is_conn(first) or (type(first) == "table" and #srcpaths <= 2 and
      type(first[1]) == "string" and
      (first[2] == nil or math.type(first[2]) == "integer")
      and (srcpaths[2] == nil or type(srcpaths[2]) == "string")) then
    return {srcpaths}
  end
  return srcpaths
end

local function describe(spec)
  if spec.conn then
    return ("%s:%s"):format(tostring(spec.conn.host), spec.path)
  end
  return ("%s:%s"):format(spec.host, spec.path)
end

-- A remote path for the remote shell: quoted, except a leading "~" or
-- "~user" and, for sources, the wildcards * and ? (which the remote shell
-- expands, as AsyncSSH and OpenSSH let it).  Nothing else is interpreted
-- (libssh CVE-2019-14889 class).
local function quote_remote(path, glob)
  if path == "" then path = "." end
  local out = {}
  local tilde, rest = path:match("^(~[%w._-]*)(/.*)$")
  if not tilde and path:match("^~[%w._-]*$") then tilde, rest = path, "" end
  if tilde then
    out[1] = tilde
    path = rest
  end
  local i = 1
  while i <= #path do
    local j = glob and path:find("[*?]", i)
    if not j then
      out[#out + 1] = scpcore.quote(path:sub(i))
      break
    end
    if j > i then out[#out + 1] = scpcore.quote(path:sub(i, j - 1)) end
    out[#out + 1] = path:sub(j, j)
    i = j + 1
  end
  return table.concat(out)
end

local function has_wildcard(path) return path:find("[*?]") ~= nil end

-- What a top-level name from a remote source must match: the last
-- component of the path asked for (its wildcards are the remote shell's;
-- '[', ']' and '\' were quoted, so they are literal).  nil when the
-- remote side decides the name ("~", ".", "..").
local function name_pattern(path)
  local p = path:gsub("/+$", "")
  local base = p:match("([^/]*)$")
  if base == "" or base == "." or base == ".." or base:sub(1, 1) == "~" then
    return nil
  end
  return (base:gsub("[%[%]\\]", "\\%0"))
end

local function basename(path)
  local p = path:gsub("/+$", "")
  if p == "" then return path end
  return p:match("([^/]*)$")
end

-- Connections ---------------------------------------------------------------

local function get_conn(ctx, spec)
  if spec.conn then return spec.conn end
  local key = ("%s@%s#%s"):format(spec.user or "", spec.host,
                                  tostring(spec.port or ""))
  local c = ctx.conns[key]
  if c then return c end
  local o = {}
  for k, v in pairs(ctx.connect_opts) do o[k] = v end
  if spec.user then o.username = spec.user end
  c = client.connect(spec.host, spec.port, o)
  ctx.conns[key] = c
  ctx.opened[#ctx.opened + 1] = c
  return c
end

local function close_opened(ctx)
  for _, c in ipairs(ctx.opened) do
    pcall(c.close, c)
  end
  for _, c in ipairs(ctx.opened) do
    pcall(c.wait_closed, c)
  end
end

-- Remote scp processes --------------------------------------------------------

local function scp_command(mode, ctx, must_be_dir, arg)
  local f = {"scp", mode}
  if must_be_dir then f[#f + 1] = "-d" end
  if ctx.preserve then f[#f + 1] = "-p" end
  if ctx.recurse then f[#f + 1] = "-r" end
  f[#f + 1] = "--"
  f[#f + 1] = arg
  return table.concat(f, " ")
end

-- Starts the remote scp; its stderr is collected without holding the
-- channel's window (it only matters when something fails).
local function start_remote(conn, cmd)
  -- No pty, whatever the connection's defaults: SCP is binary.
  local proc = conn:create_process(cmd, {request_pty = false})
  proc.channel:_set_collect(1, true)
  return proc
end

local function where(conn)
  return ("%s port %s"):format(tostring(conn.host), tostring(conn.port))
end

-- The first line of what the remote scp wrote to stderr so far.
local function stderr_line(proc)
  local ch = proc.channel
  local ok, n = pcall(ch._buffered, ch, 1)
  if not ok or n == 0 then return nil end
  local text = ch:read(n, 1)
  local line = text:match("^[^\n]*")
  if line == "" then return nil end
  return escape(line)
end

-- An error line ("\1..." or "\2...") waiting unread on stdout, or nil.
local function unread_error(proc)
  local ch = proc.channel
  local ok, n = pcall(ch._buffered, ch, 0)
  if not ok or n == 0 then return nil end
  local text = ch:read(math.min(n, MAX_LINE), 0)
  local msg = text:match("^[\1\2]([^\n]*)")
  return msg and escape(msg:gsub("^scp: ", "")) or nil
end

-- Waits a little (SETTLE seconds at most) for the remote scp to exit,
-- for the reason of a lost connection; never raises.
local function settle(proc)
  local ch = proc.channel
  pcall(core.timeout, SETTLE, function() ch:wait_closed() end)
end

-- After the copy: EOF, then the remote scp's exit.  A non-zero exit that
-- no error line explained is an error of its own.
local function finish(ctx, job, proc, conn)
  local ch = proc.channel
  ch:write_eof()
  ch:wait_closed()
  local lost = ch:_conn_error()
  if lost then error(lost, 0) end
  local status = proc.returncode
  if status ~= 0 and job.nerrors == 0 then
    local line = stderr_line(proc)
    local err = scp_error("SFTPFailure", ("the scp on %s %s while copying "
      .. "%s%s"):format(where(conn),
        status == nil and "ended without an exit status"
          or ("exited with status " .. tostring(status)),
        job.path_label, line and (": " .. line) or ""),
      {host = conn.host, port = conn.port, path = job.path,
       exit_status = status, remote = true, fatal = true})
    error(err, 0)
  end
end

-- Reports one error: to the error handler (non-fatal errors only), or
-- raised.
local function report(ctx, job, err)
  job.nerrors = job.nerrors + 1
  if ctx.error_handler and not err.fatal then
    ctx.error_handler(err)
    return
  end
  error(err, 0)
end

-- Copies by one of our machines ----------------------------------------------

-- The error object for an error event of machine m.
local function machine_error(job, m, ev, proc, conn)
  local msg = ev.message:gsub("^scp: ", "")
  local code_name = failure_kind(msg)
  local path = ev.path ~= "" and ev.path or job.path
  local reason
  if ev.fatal and not ev.remote then
    local _, name = m:result()
    if name == "TRUNCATED" then
      code_name = "SFTPConnectionLost"
      settle(proc)
      local line = stderr_line(proc)
      local status = proc.returncode
      reason = ("lost the scp on %s while copying %s%s%s"):format(
        where(conn), job.path_label,
        status and (" (it exited with status " .. status .. ")") or "",
        line and (": " .. line) or "")
    elseif name == "REFUSED" or name == "PROTOCOL" or name == "OVERFLOW"
        or name == "TOOLARGE" then
      code_name = "SFTPBadMessage"
      reason = ("refused what the scp on %s sent for %s: %s"):format(
        where(conn), job.path_label, msg)
    end
  end
  if not reason then
    reason = msg
    if not msg:find(path, 1, true) and not msg:find(job.path, 1, true) then
      reason = path .. ": " .. msg
    end
  end
  return scp_error(code_name, reason, {
    path = path, host = conn.host, port = conn.port,
    remote = ev.remote, fatal = ev.fatal,
  })
end

local function handle_events(ctx, job, m, evs, proc, conn)
  for _, ev in ipairs(evs) do
    if ev.type == "progress" then
      if ctx.progress_handler then
        local src, dst = job.names(ev.path)
        ctx.progress_handler(src, dst, ev.done, ev.size)
      end
    else
      report(ctx, job, machine_error(job, m, ev, proc, conn))
    end
  end
end

-- Moves bytes between the machine and the remote scp until the machine is
-- done.  Output is written as it comes, and waited for (drain) past
-- HIGH_WATER, so that the peer's window paces the machine.
local function drive(ctx, job, m, proc, conn)
  local ch = proc.channel
  local input
  while true do
    local out, state, nev = m:pump(input)
    input = nil
    if #out > 0 then
      ch:write(out)
      if ch:get_write_buffer_size() >= HIGH_WATER then ch:drain() end
    end
    if nev > 0 then handle_events(ctx, job, m, m:events(), proc, conn) end
    if state == "done" then return end
    if state == "input" then
      local d = ch:read(CHUNK)
      if d == "" then
        m:eof()
      else
        input = d
      end
    end
  end
end

-- Runs machine m against the remote command cmd on conn.
local function run_machine(ctx, job, conn, cmd, mopts)
  local m <close> = scpcore.new(job.role, mopts)
  local proc = start_remote(conn, cmd)
  local ok, err = pcall(function()
    drive(ctx, job, m, proc, conn)
    finish(ctx, job, proc, conn)
  end)
  if not ok then
    proc:close()
    if Error.is(err, "BrokenPipe") then
      -- The remote scp quit while we were sending: its last error line
      -- may be waiting unread, else its stderr may say why.
      local said = unread_error(proc)
      settle(proc)
      local line = said or stderr_line(proc)
      err = scp_error("SFTPConnectionLost", ("lost the scp on %s while "
        .. "copying %s%s"):format(where(conn), job.path_label,
          line and (": " .. line) or ""),
        {host = conn.host, port = conn.port, path = job.path, fatal = true})
    end
    error(err, 0)
  end
end

-- Local files to a remote destination: our source, their `scp -t`.
local function upload(ctx, src, dst, many)
  local paths = has_wildcard(src.path) and scpcore.glob(src.path)
    or {src.path}
  local conn = get_conn(ctx, dst)
  local must_be_dir = many or #paths > 1
  local cmd = scp_command("-t", ctx, must_be_dir, quote_remote(dst.path))
  local cur = 1
  local job = {
    role = "source", nerrors = 0, path = src.path,
    path_label = ("%s to %s"):format(src.path, describe(dst)),
  }
  -- progress: the local path, and its path relative to the destination.
  function job.names(p)
    for k = 0, #paths - 1 do
      local i = (cur - 1 + k) % #paths + 1
      local top = paths[i]:gsub("(.)/+$", "%1")
      if p == top or p:sub(1, #top + 1) == top .. "/" then
        cur = i
        return p, basename(top) .. p:sub(#top + 1)
      end
    end
    return p, basename(p)
  end
  run_machine(ctx, job, conn, cmd, {
    paths = paths, recurse = ctx.recurse, preserve = ctx.preserve,
    block_size = ctx.block_size, progress = ctx.progress_handler ~= nil,
  })
end

-- A remote source to a local destination: their `scp -f`, our sink.
local function download(ctx, src, dst, many)
  local conn = get_conn(ctx, src)
  local cmd = scp_command("-f", ctx, false, quote_remote(src.path, true))
  local target = dst.path == "" and "." or dst.path
  local pattern = name_pattern(src.path)
  local job = {
    role = "sink", nerrors = 0, path = src.path,
    path_label = ("%s to %s"):format(describe(src), target),
  }
  local into_dir = scpcore.isdir(target)
  -- progress: the path relative to the source, and the local path.
  function job.names(p)
    if into_dir then return p, target .. "/" .. p end
    return p, target .. p:match("^[^/]*(.*)$")
  end
  run_machine(ctx, job, conn, cmd, {
    target = target, target_dir = many, single = not has_wildcard(src.path),
    patterns = pattern and {pattern} or nil, recurse = ctx.recurse,
    preserve = ctx.preserve, block_size = ctx.block_size,
    progress = ctx.progress_handler ~= nil,
  })
end

-- Remote to remote ----------------------------------------------------------

-- Buffered reads of one channel, with lines capped at MAX_LINE.
local Buffered = {}
Buffered.__index = Buffered

local function buffered(ch)
  return setmetatable({ch = ch, buf = "", pos = 1}, Buffered)
end

function Buffered:fill()
  local d = self.ch:read(CHUNK)
  if d == "" then return false end
  if self.pos > #self.buf then
    self.buf = d
  else
    self.buf = self.buf:sub(self.pos) .. d
  end
  self.pos = 1
  return true
end

-- A line without its "\n"; nil at EOF before its first byte; nil, why
-- for EOF inside a line or a line that is too long.
function Buffered:line()
  while true do
    local i = self.buf:find("\n", self.pos, true)
    if i then
      local l = self.buf:sub(self.pos, i - 1)
      self.pos = i + 1
      return l
    end
    if #self.buf - self.pos + 1 > MAX_LINE then return nil, "long" end
    if not self:fill() then
      if self.pos > #self.buf then return nil end
      return nil, "eof"
    end
  end
end

-- One byte, or nil at EOF.
function Buffered:byte()
  if self.pos > #self.buf and not self:fill() then return nil end
  local c = self.buf:sub(self.pos, self.pos)
  self.pos = self.pos + 1
  return c
end

-- Up to n bytes ("" at EOF).
function Buffered:read(n)
  local have = #self.buf - self.pos + 1
  if have > 0 then
    local k = math.min(n, have)
    local s = self.buf:sub(self.pos, self.pos + k - 1)
    self.pos = self.pos + k
    return s
  end
  return self.ch:read(n)
end

-- A reply: nil for OK (\0), else {fatal=, message=} ({lost=true} at EOF).
local function read_reply(r)
  local c = r:byte()
  if c == nil then return {lost = true, fatal = true} end
  if c == "\0" then return nil end
  local msg = r:line()
  if msg == nil then return {lost = true, fatal = true} end
  if c ~= "\1" and c ~= "\2" then msg = c .. msg end
  return {fatal = c ~= "\1", message = escape(msg)}
end

local function reply_bytes(rep)
  if rep == nil then return "\0" end
  return (rep.fatal and "\2" or "\1") .. (rep.message or "") .. "\n"
end

-- "C<mode> <size> <name>" / "D<mode> <size> <name>", checked as the sink
-- checks them (src/ssh/scp/sink.c handle_entry).
local function parse_entry(line)
  local kind, mode, size, name = line:match("^([CD])([0-7]+) (%d+) (.*)$")
  if not kind then return nil, "protocol error: bad " .. line:sub(1, 1)
    .. " line" end
  if #mode > 8 or tonumber(mode, 8) > 4095 then
    return nil, "protocol error: bad mode"
  end
  local n = math.tointeger(tonumber(size))
  if not n then return nil, "protocol error: bad size" end
  if not scpcore.check_name(name) then
    return nil, "unexpected filename: " .. escape(name)
  end
  return {kind = kind, mode = tonumber(mode, 8), size = n, name = name}
end

local function check_times(line)
  local mt, mu, at, au = line:match("^T(%d+) (%d+) (%d+) (%d+)$")
  if not mt then return false end
  mt, mu, at, au = math.tointeger(tonumber(mt)), math.tointeger(tonumber(mu)),
    math.tointeger(tonumber(at)), math.tointeger(tonumber(au))
  return mt ~= nil and at ~= nil and mu ~= nil and au ~= nil and
    mt <= MAX_TIME and at <= MAX_TIME and mu <= 999999 and au <= 999999
end

-- Their `scp -f` to their `scp -t`, every line checked here first.
local function relay(ctx, src, dst, many)
  local sconn, dconn = get_conn(ctx, src), get_conn(ctx, dst)
  local scmd = scp_command("-f", ctx, false, quote_remote(src.path, true))
  local dcmd = scp_command("-t", ctx, many, quote_remote(dst.path))
  local job = {nerrors = 0, path = src.path,
               path_label = ("%s to %s"):format(describe(src), describe(dst))}
  local pattern = name_pattern(src.path)
  local single = not has_wildcard(src.path)
  local sproc = start_remote(sconn, scmd)
  local dproc
  local function body()
    dproc = start_remote(dconn, dcmd)
    local sch, dch = sproc.channel, dproc.channel
    local S, D = buffered(sch), buffered(dch)
    local names, depth, ntop = {}, 0, 0

    local function remote_err(rep, conn, path)
      if rep.lost then
        return scp_error("SFTPConnectionLost", ("lost the scp on %s while "
          .. "copying %s"):format(where(conn), job.path_label),
          {host = conn.host, port = conn.port, path = path, fatal = true})
      end
      local msg = rep.message:gsub("^scp: ", "")
      local reason = msg
      if not msg:find(path, 1, true) and not msg:find(src.path, 1, true)
          and not msg:find(dst.path, 1, true) then
        reason = path .. ": " .. msg
      end
      return scp_error(failure_kind(msg), reason, {
        host = conn.host, port = conn.port, path = path, remote = true,
        fatal = rep.fatal})
    end

    -- Passes a reply from one side to the other; reports an error.
    local function pass_reply(from, to, conn, path)
      local rep = read_reply(from)
      if not (rep and rep.lost) then
        to:write(reply_bytes(rep))
      end
      if rep then report(ctx, job, remote_err(rep, conn, path)) end
      return rep
    end

    -- We refuse the source's line: both sides stop.
    local function refuse(msg)
      local text = "scp: " .. msg .. "\n"
      pcall(sch.write, sch, "\2" .. text)
      pcall(dch.write, dch, "\2" .. text)
      error(scp_error("SFTPBadMessage", ("refused what the scp on %s sent "
        .. "for %s: %s"):format(where(sconn), job.path_label, msg),
        {host = sconn.host, port = sconn.port, path = src.path,
         fatal = true}), 0)
    end

    local function progress(path, done, size)
      if ctx.progress_handler then
        ctx.progress_handler(path, path, done, size)
      end
    end

    local function copy_data(path, size)
      local done = 0
      if size == 0 then progress(path, 0, 0) end
      while done < size do
        local d = S:read(math.min(size - done, CHUNK))
        if d == "" then
          report(ctx, job, remote_err({lost = true}, sconn, path))
        end
        dch:write(d)
        if dch:get_write_buffer_size() >= HIGH_WATER then dch:drain() end
        done = done + #d
        progress(path, done, size)
      end
    end

    -- The sink's greeting goes to the source; OpenSSH's sink exits after
    -- an error there, so it ends the copy.
    local rep = read_reply(D)
    if rep then
      rep.fatal = true
      report(ctx, job, remote_err(rep, dconn, dst.path))
    end
    sch:write("\0")
    while true do
      local line, why = S:line()
      if line == nil then
        if why == "long" then refuse("protocol error: line too long") end
        if why or depth > 0 then
          report(ctx, job, remote_err({lost = true}, sconn, src.path))
        end
        break
      end
      local c = line:sub(1, 1)
      local path = table.concat(names, "/")
      if c == "\1" or c == "\2" then
        -- The source's own error: the sink counts it too.
        local msg = escape(line:sub(2))
        dch:write(c .. msg .. "\n")
        report(ctx, job, remote_err({message = msg, fatal = c == "\2"},
                                    sconn, src.path))
      elseif c == "T" then
        if not check_times(line) then refuse("protocol error: bad times") end
        dch:write(line .. "\n")
        pass_reply(D, sch, dconn, dst.path)
      elseif c == "C" or c == "D" then
        local e, bad = parse_entry(line)
        if not e then refuse(bad) end
        if e.kind == "D" and not ctx.recurse then
          refuse("received directory without -r: " .. escape(e.name))
        end
        if e.kind == "D" and depth >= MAX_DEPTH then
          refuse("directory nesting too deep: " .. escape(e.name))
        end
        if depth == 0 then
          ntop = ntop + 1
          if single and ntop > 1 then
            refuse("unexpected extra entry: " .. escape(e.name))
          end
          if pattern and not scpcore.fnmatch(pattern, e.name) then
            refuse("unexpected filename: " .. escape(e.name))
          end
        end
        local epath = path == "" and e.name or (path .. "/" .. e.name)
        dch:write(line .. "\n")
        if not pass_reply(D, sch, dconn, epath) then
          if e.kind == "D" then
            depth = depth + 1
            names[depth] = e.name
          else
            copy_data(epath, e.size)
            -- The source's status after the data, then the sink's.
            pass_reply(S, dch, sconn, epath)
            pass_reply(D, sch, dconn, epath)
          end
        end
      elseif c == "E" then
        if line ~= "E" then refuse("protocol error: bad E line") end
        if depth == 0 then refuse("protocol error: E without D") end
        dch:write("E\n")
        names[depth] = nil
        depth = depth - 1
        pass_reply(D, sch, dconn, path)
      else
        refuse("protocol error: expected control record")
      end
    end
    finish(ctx, job, dproc, dconn)
    finish(ctx, job, sproc, sconn)
  end
  local ok, err = pcall(body)
  if not ok then
    sproc:close()
    if dproc then dproc:close() end
    if Error.is(err, "BrokenPipe") then
      err = scp_error("SFTPConnectionLost", ("lost a remote scp while "
        .. "copying %s"):format(job.path_label),
        {path = src.path, fatal = true})
    end
    error(err, 0)
  end
end

-- ssh.scp -----------------------------------------------------------------

--- scp(srcpaths [, dstpath] [, opts])
--- Copies files and directories with SCP; see doc/api/scp.md.
function M.scp(srcpaths, dstpath, opts)
  if type(dstpath) == "table" and opts == nil and not is_conn(dstpath[1])
      and dstpath[1] == nil and next(dstpath) ~= nil then
    -- scp(src, opts): the destination defaults to "."
    dstpath, opts = nil, dstpath
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #3 to 'scp' (table expected, got " .. type(opts)
          .. ")", 2)
  end
  local bs = opts.block_size or DEFAULT_BLOCK
  if not math.tointeger(bs) or bs < 1 or bs > scpcore.MAX_BLOCK then
    error(("bad block_size %s (1 to %d bytes)"):format(tostring(bs),
          scpcore.MAX_BLOCK), 2)
  end
  for _, k in ipairs {"progress_handler", "error_handler"} do
    if opts[k] ~= nil and type(opts[k]) ~= "function" then
      error("bad " .. k .. " (a function expected)", 2)
    end
  end
  local ctx = {
    preserve = opts.preserve and true or false,
    recurse = opts.recurse and true or false,
    block_size = math.tointeger(bs),
    progress_handler = opts.progress_handler,
    error_handler = opts.error_handler,
    connect_opts = {}, conns = {}, opened = {},
  }
  for k, v in pairs(opts) do
    if not SCP_KEYS[k] then ctx.connect_opts[k] = v end
  end
  local srcs = source_list(srcpaths)
  if #srcs == 0 then error("bad argument #1 to 'scp' (no source paths)", 2) end
  local ok, err = pcall(function()
    local dst = parse_path(dstpath == nil and "." or dstpath, "destination")
    local parsed = {}
    for i, s in ipairs(srcs) do
      parsed[i] = parse_path(s, "source")
      if not parsed[i].remote and not dst.remote then
        Error.raise("ValueError", ("local copy not supported: %s and %s are "
          .. "both local paths"):format(parsed[i].path, dst.path))
      end
    end
    local many = #srcs > 1
    for _, src in ipairs(parsed) do
      if src.remote and dst.remote then
        relay(ctx, src, dst, many)
      elseif src.remote then
        download(ctx, src, dst, many)
      else
        upload(ctx, src, dst, many)
      end
    end
  end)
  close_opened(ctx)
  if not ok then error(err, 0) end
end

-- For the specs: the path rules.
M._parse_path = parse_path
M._source_list = source_list
M._quote_remote = quote_remote
M._name_pattern = name_pattern

return M
