-- Server sessions: the setup requests of a session channel (pty-req, env,
-- shell / exec / subsystem), then either the process_factory handler with
-- an SSHServerProcess, or the session_factory callbacks (AsyncSSH's
-- SSHServerSession), and the server channel object both see
-- (AsyncSSH's SSHServerChannel / SSHLineEditorChannel).  doc/api/server.md.
--
-- Requests that arrive while the session runs (window-change, break,
-- signal) reach the reader at their place in the input stream: a read
-- stops there and raises TerminalSizeChanged, BreakReceived or
-- SignalReceived (the process style), or calls the matching callback.
local core = require "luassh.core"
local ccore = require "luassh.clientcore"
local Error = require "luassh.error"
local process = require "luassh.process"
local scp_server = require "luassh.scp_server"

local M = {}

local spawn = core.spawn
local CHUNK = 65536

local function callback(obj, name, ...)
  local f = obj and obj[name]
  if f == nil then return nil, false end
  return f(obj, ...), true
end

local function warn(fmt, ...)
  io.stderr:write("luassh server: ", string.format(fmt, ...), "\n")
end

-- The line editor is optional (lua/luassh/line_editor.lua).
local has_editor, LineEditor = pcall(require, "luassh.line_editor")

-- Requests while running ----------------------------------------------------

-- A runtime request as an event table (replied to here).
local queue_editor_events

local function runtime_event(sess, req)
  local ch = sess.ch
  local d = ccore.decode_request(req.name, req.data)
  local ok, ev = false, nil
  if d and req.name == "window-change" then
    sess.term_size = {d.cols, d.rows, d.width_px, d.height_px}
    if sess.on_resize then pcall(sess.on_resize, d.cols, d.rows,
                                 d.width_px, d.height_px) end
    if sess.editor then
      local o = sess.editor:set_width(d.cols)
      if o and o ~= "" then pcall(ch.write, ch, o) end
    end
    ok = true
    ev = Error.new("TerminalSizeChanged", string.format(
      "terminal size changed to %dx%d", d.cols, d.rows),
      {width = d.cols, height = d.rows, pixwidth = d.width_px,
       pixheight = d.height_px})
  elseif d and req.name == "break" then
    ok = true
    ev = Error.new("BreakReceived", "break received",
                   {msec = d.msec})
  elseif d and req.name == "signal" then
    ok = true
    ev = Error.new("SignalReceived", "signal " .. d.signal .. " received",
                   {signal = d.signal})
  elseif d and req.name == "env" then
    ok = false -- too late: the command has started
  end
  if req.want_reply then ch:_reply(req.id, ok) end
  return ev
end

-- Input: raw channel data, or lines from the line editor --------------------

-- The line editor's events, in order, as input pieces.
queue_editor_events = function(sess, events)
  sess.pending_events = sess.pending_events or {}
  local q = sess.pending_events
  for _, e in ipairs(events or {}) do
    if e.type == "data" then
      q[#q + 1] = e.data
    elseif e.type == "eof" then
      q[#q + 1] = {soft_eof = true}
    elseif e.type == "signal" then
      q[#q + 1] = Error.new("SignalReceived", "signal " .. tostring(e.signal)
                            .. " received", {signal = e.signal})
    elseif e.type == "break" then
      q[#q + 1] = Error.new("BreakReceived", "break received",
                            {msec = e.msec or 0})
    end
  end
end

-- Reads the next piece of input: data, "" at EOF, or an event table
-- (a runtime request, or the editor's soft EOF / signal).
local function next_input(sess)
  local ch = sess.ch
  while true do
    if sess.pending_events and #sess.pending_events > 0 then
      return table.remove(sess.pending_events, 1)
    end
    if sess.pending_data and sess.pending_data ~= "" then
      local d = sess.pending_data
      sess.pending_data = ""
      return d
    end
    local d = ch:read(CHUNK)
    if d == nil then
      local req = ch:_next_request(false)
      if req then
        local ev = runtime_event(sess, req)
        if ev then return ev end
      end
    elseif d == "" and sess.editor and sess.line_mode then
      -- EOF with a partial line: deliver it (AsyncSSH leaves line mode).
      sess.line_mode = false
      local o, _, events = sess.editor:set_line_mode(false)
      if o and o ~= "" then pcall(ch.write, ch, o) end
      queue_editor_events(sess, events)
      sess.pending_events[#sess.pending_events + 1] = ""
    elseif d == "" or not sess.editor then
      return d
    else
      -- The editor echoes, edits and delivers lines (or raw bytes in raw
      -- mode); its events keep their order with the data.
      local out, _, events = sess.editor:feed(d)
      if out and out ~= "" then ch:write(out) end
      queue_editor_events(sess, events)
    end
  end
end

-- SSHReader of the server process: stdin ---------------------------------

local Reader = {__name = "luassh.SSHServerReader"}
Reader.__index = Reader

local function new_reader(sess)
  return setmetatable({_sess = sess, _buf = "", _eof = false}, Reader)
end

-- More input into the buffer; false at EOF; raises request events.
local function fill(self)
  if self._eof then return false end
  local v = next_input(self._sess)
  if type(v) == "string" then
    if v == "" then self._eof = true return false end
    self._buf = self._buf .. v
    return true
  end
  if v.soft_eof then
    self._soft_eof = true
    return false
  end
  error(v, 0)
end

--- reader:read([n]) -> up to n bytes ("" at EOF); n nil: all to EOF.
function Reader:read(n)
  if n == nil or n < 0 then
    while fill(self) do end
    self._soft_eof = nil
    local d = self._buf
    self._buf = ""
    return d
  end
  if self._buf == "" then
    self._soft_eof = nil
    if not fill(self) then self._soft_eof = nil return "" end
  end
  local d = self._buf:sub(1, n)
  self._buf = self._buf:sub(n + 1)
  return d
end

--- reader:readuntil(sep [, eof_ok]) -> data ending with sep
function Reader:readuntil(sep, eof_ok)
  local from = 1
  while true do
    local i, j = self._buf:find(sep, from, true)
    if i then
      local d = self._buf:sub(1, j)
      self._buf = self._buf:sub(j + 1)
      return d
    end
    from = math.max(1, #self._buf - #sep + 2)
    if not fill(self) then
      self._soft_eof = nil
      local d = self._buf
      self._buf = ""
      if eof_ok then return d end
      error(Error.new("IncompleteReadError", "end of file before the "
                      .. "separator (" .. #d .. " bytes read)",
                      {partial = d}), 0)
    end
  end
end

--- reader:readline() -> a line with its "\n" ("" at EOF)
function Reader:readline()
  return self:readuntil("\n", true)
end

--- reader:readexactly(n)
function Reader:readexactly(n)
  while #self._buf < n do
    if not fill(self) then
      local d = self._buf
      self._buf = ""
      error(Error.new("IncompleteReadError", "end of file before the bytes "
                      .. "asked for (" .. #d .. " bytes read)",
                      {partial = d}), 0)
    end
  end
  local d = self._buf:sub(1, n)
  self._buf = self._buf:sub(n + 1)
  return d
end

function Reader:at_eof()
  return self._buf == "" and (self._eof or self._soft_eof == true)
end

--- reader:lines([fmt]) -> iterator over lines; ends at EOF (or soft EOF)
function Reader:lines(fmt)
  local keep = fmt == "L"
  return function()
    local line = self:readline()
    if line == "" then return nil end
    if not keep and line:sub(-1) == "\n" then line = line:sub(1, -2) end
    return line
  end
end

function Reader:get_extra_info(name, default)
  return self._sess.chan:get_extra_info(name, default)
end

function Reader:__tostring() return "SSHServerReader (stdin)" end

-- SSHWriter of the server process: stdout, stderr -------------------------

local Writer = {__name = "luassh.SSHServerWriter"}
Writer.__index = Writer

local function new_writer(sess, dt)
  return setmetatable({_sess = sess, _dt = dt}, Writer)
end

local function out(sess, data, dt)
  if sess.editor then data = sess.editor:process_output(data) end
  sess.ch:write(data, dt)
end

function Writer:write(data)
  out(self._sess, tostring(data), self._dt)
end

function Writer:writelines(list)
  for _, s in ipairs(list) do self:write(s) end
end

--- writer:drain(): until written data has gone (and, when the output is
--- redirected, until the redirection is over).
function Writer:drain()
  local sess = self._sess
  local pumps = sess.out_pumps
  if pumps and #pumps > 0 then
    sess.out_pumps = {}
    for _, t in ipairs(pumps) do pcall(t.wait, t) end
  end
  sess.ch:drain()
end

function Writer:write_eof() self._sess.ch:write_eof() end
function Writer:can_write_eof() return true end
function Writer:get_write_buffer_size()
  return self._sess.ch:get_write_buffer_size()
end
function Writer:close() self._sess.chan:close() end
function Writer:is_closing() return self._sess.ch:is_closing() end
function Writer:wait_closed() self._sess.ch:wait_closed() end
function Writer:get_extra_info(name, default)
  return self._sess.chan:get_extra_info(name, default)
end
function Writer:__tostring()
  return "SSHServerWriter (" .. (self._dt == 1 and "stderr" or "stdout")
    .. ")"
end

-- SSHServerChannel ----------------------------------------------------------

local Channel = {__name = "luassh.SSHServerChannel"}
Channel.__index = Channel

local function new_channel(sess)
  return setmetatable({_sess = sess}, Channel)
end

function Channel:write(data) out(self._sess, tostring(data), 0) end
function Channel:write_stderr(data) out(self._sess, tostring(data), 1) end
function Channel:write_eof() self._sess.ch:write_eof() end
function Channel:drain() self._sess.ch:drain() end
function Channel:get_write_buffer_size()
  return self._sess.ch:get_write_buffer_size()
end
function Channel:is_closing() return self._sess.ch:is_closing() end
function Channel:wait_closed() self._sess.ch:wait_closed() end

--- chan:close(): after the output queued so far has gone.
function Channel:close()
  local ch = self._sess.ch
  pcall(ch.drain, ch)
  ch:close()
end

local function finish(sess, name, data)
  if sess.exited then return end
  sess.exited = true
  local ch = sess.ch
  pcall(function()
    ch:drain()
    ch:write_eof()
    ch:_request(name, false, data)
  end)
  ch:close()
end

--- chan:exit(status): exit-status, then close (RFC 4254 §6.10)
function Channel:exit(status)
  status = math.tointeger(status or 0)
  if not status or status < 0 then error("exit status must be a "
                                         .. "non-negative integer", 2) end
  self._sess.exit_status = status
  finish(self._sess, "exit-status", ccore.encode_exit_status(status & 0xffffffff))
end

--- chan:exit_with_signal(signal [, core_dumped [, msg [, lang]]])
function Channel:exit_with_signal(signal, core_dumped, msg, lang)
  signal = tostring(signal):gsub("^SIG", "")
  finish(self._sess, "exit-signal",
         ccore.encode_exit_signal(signal, core_dumped, msg or "", lang or ""))
end

function Channel:get_extra_info(name, default)
  local sess = self._sess
  if name == "channel" then return self end
  local v = sess.conn:get_extra_info(name)
  if v == nil then return default end
  return v
end

function Channel:get_environment() return self._sess.env end
function Channel:get_command() return self._sess.command end
function Channel:get_subsystem() return self._sess.subsystem end
function Channel:get_terminal_type() return self._sess.term_type end
function Channel:get_terminal_size()
  local s = self._sess.term_size or {0, 0, 0, 0}
  return s[1], s[2], s[3], s[4]
end
function Channel:get_terminal_modes() return self._sess.term_modes or {} end
function Channel:get_terminal_mode(mode)
  return (self._sess.term_modes or {})[mode]
end

--- chan:set_line_mode(on): the line editor's line mode (pty sessions)
function Channel:set_line_mode(on)
  local sess = self._sess
  sess.line_mode = on and true or false
  if sess.editor then
    local o, _, events = sess.editor:set_line_mode(sess.line_mode)
    if o and o ~= "" then pcall(sess.ch.write, sess.ch, o) end
    queue_editor_events(sess, events)
  end
end

--- chan:set_echo(on): echo of input (off for secrets)
function Channel:set_echo(on)
  local sess = self._sess
  sess.echo = on and true or false
  if sess.editor then
    local o = sess.editor:set_echo(sess.echo)
    if o and o ~= "" then pcall(sess.ch.write, sess.ch, o) end
  end
end

function Channel:__tostring()
  return "SSHServerChannel (" .. (self._sess.command or
    self._sess.subsystem or "shell") .. ")"
end

-- SSHServerProcess ----------------------------------------------------------

local Process = {__name = "luassh.SSHServerProcess"}
local process_methods = {}
Process.__index = function(self, k)
  local m = process_methods[k]
  if m ~= nil then return m end
  local sess = rawget(self, "_sess")
  if k == "term_size" then
    return sess.term_size or {0, 0, 0, 0}
  elseif k == "exit_status" then
    return sess.exit_status
  end
  return nil
end
M.Process = Process

local function new_process(sess)
  local p = setmetatable({
    _sess = sess, channel = sess.chan, command = sess.command,
    subsystem = sess.subsystem, env = sess.env,
    term_type = sess.term_type, term_modes = sess.term_modes or {},
    stdin = sess.stdin, stdout = sess.stdout, stderr = sess.stderr,
  }, Process)
  return p
end

function process_methods:exit(status) self.channel:exit(status) end
function process_methods:exit_with_signal(...)
  self.channel:exit_with_signal(...)
end
function process_methods:close() self.channel:close() end
function process_methods:is_closing() return self.channel:is_closing() end
function process_methods:wait_closed() self.channel:wait_closed() end
function process_methods:get_extra_info(name, default)
  return self.channel:get_extra_info(name, default)
end
function process_methods:get_terminal_type() return self.term_type end
function process_methods:get_terminal_size()
  return self.channel:get_terminal_size()
end
function process_methods:get_environment() return self.env end
function process_methods:get_command() return self.command end
function process_methods:get_subsystem() return self.subsystem end

local function is_pipe(v) return v == nil or v == process.PIPE end

-- The local process behind a redirection target or source, if any (a
-- subprocess stream), so it can be resized, signalled and killed.
local function owner_of(spec)
  if type(spec) ~= "table" then return nil end
  local p = rawget(spec, "process") or rawget(spec, "_proc")
  if type(p) == "table" and (p.kill or p.set_terminal_size) then return p end
  if spec.kill and spec.stdin then return spec end
  return nil
end

local function kill_locals(sess)
  for p in pairs(sess.locals) do
    pcall(function()
      if p.returncode == nil and p.kill then p:kill() end
    end)
  end
end

local function track(sess, spec)
  local p = owner_of(spec)
  if p then
    sess.locals[p] = true
    if not sess.watcher then
      -- The client vanishing (or the channel closing) kills the local
      -- processes the session is redirected to, whatever the handler is
      -- waiting on.
      sess.watcher = spawn(function()
        pcall(sess.ch.wait_closed, sess.ch)
        kill_locals(sess)
      end)
    end
    if p.set_terminal_size then
      sess.on_resize = function(w, h, pw, ph)
        p:set_terminal_size(w, h, pw, ph)
      end
    end
  end
end

--- proc:redirect{stdin=, stdout=, stderr=}: the client's input into a
--- local target (a subprocess's stdin, a file, a path), and local
--- sources (a subprocess's stdout / stderr, a file) out to the client.
function process_methods:redirect(opts)
  opts = opts or {}
  local sess = self._sess
  if not is_pipe(opts.stdin) then
    local target = process.open_target(opts.stdin, "stdin")
    track(sess, opts.stdin)
    local reader = sess.stdin
    sess.in_pump = spawn(function()
      while true do
        local ok, d = pcall(reader.read, reader, CHUNK)
        if ok then
          if d == "" then break end
          local wok = pcall(target.write, d)
          if not wok then break end
        elseif Error.is(d, "SignalReceived") or Error.is(d, "BreakReceived") then
          for p in pairs(sess.locals) do
            if p.send_signal then
              pcall(p.send_signal, p, d.signal or "INT")
            end
          end
        elseif not Error.is(d, "TerminalSizeChanged") then
          break
        end
      end
      pcall(target.eof)
    end)
  end
  for dt, name in pairs {[0] = "stdout", [1] = "stderr"} do
    local spec = opts[name]
    if not is_pipe(spec) and spec ~= process.STDOUT then
      local src = process.open_source(spec)
      track(sess, spec)
      sess.out_pumps = sess.out_pumps or {}
      sess.out_pumps[#sess.out_pumps + 1] = spawn(function()
        while true do
          local ok, d = pcall(src.read)
          if not ok or d == nil or d == "" then break end
          out(sess, d, dt)
          local dok = pcall(sess.ch.drain, sess.ch)
          if not dok then break end
        end
        if src.close then pcall(src.close) end
      end)
    end
  end
end

function process_methods:redirect_stdin(s) self:redirect{stdin = s} end
function process_methods:redirect_stdout(s) self:redirect{stdout = s} end
function process_methods:redirect_stderr(s) self:redirect{stderr = s} end

function process_methods:__tostring() return tostring(self.channel) end
Process.__tostring = function(self) return "SSHServerProcess ("
  .. (self.command or self.subsystem or "shell") .. ")" end

-- Running a session ---------------------------------------------------------

-- Where SCP paths start and stay: scp_root, else the chroot the
-- sftp_factory gives (a table, or a function called for this session as
-- for SFTP: AsyncSSH serves SCP through the same SFTPServer), else nil
-- (the working directory).
local function scp_root(sess, o)
  if o.scp_root then return o.scp_root end
  local cfg = o.sftp_factory
  if type(cfg) == "function" then cfg = cfg(sess.chan) end
  return type(cfg) == "table" and cfg.chroot or nil
end

-- AsyncSSH's client sends SYMLINK's paths in draft-02's order, not
-- OpenSSH's (luassh.sftp.draft_symlink).
local function draft_symlink(conn)
  return require("luassh.sftp").draft_symlink(
    conn:get_extra_info("client_version"), conn:get_extra_info("server_version"))
end

-- The "sftp" subsystem (sftp_factory): the SFTP server core on the raw
-- channel.  sftp_factory = true serves the filesystem as this process
-- sees it (relative paths from its working directory); a table, or a
-- function of the channel returning one, may set `chroot` (a directory
-- the client sees as "/", enforced by the kernel) and `home`, and
-- override AsyncSSH's SFTPServer methods (open, read, stat, scandir,
-- map_path, ...: src/lua_bindings/l_sftp_server.c, doc/api/server.md).
-- The factory may wait; the methods run inside s:feed() and may not.
local function serve_sftp(sess, o)
  local sftpsrv = require "luassh.sftpservercore"
  local ch = sess.ch
  local f = o.sftp_factory
  local made, s, why = pcall(function()
    local cfg = f
    if type(f) == "function" then cfg = f(sess.chan) end
    if type(cfg) ~= "table" then cfg = {} end
    return sftpsrv.new(cfg.chroot, cfg.home, cfg, draft_symlink(sess.conn))
  end)
  if not made then
    if Error.is(s, "ConnectionLost") or Error.is(s, "Cancelled") then
      error(s, 0)
    end
    s, why = nil, "sftp_factory failed: " .. tostring(s)
  end
  if not s then
    pcall(ch.write, ch, "luassh server: " .. why .. "\n", 1)
    return sess.chan:exit(1)
  end
  -- s:serve hands the requests to the core (on the thread pool unless
  -- methods are overridden) and writes the responses into ch from C; it
  -- returns once they are sent, and only then is more input read, so
  -- the channel window holds the client back meanwhile.
  local ok, err = pcall(function()
    while true do
      local d = ch:read(65536)
      while d == nil do
        local req = ch:_next_request(false)
        if req and req.want_reply then ch:_reply(req.id, false) end
        d = ch:read(65536)
      end
      if d == "" or not s:serve(ch, d) then break end
    end
  end)
  s:close()
  if not ok and not Error.is(err) then error(err, 0) end
  if not ch:is_closing() then sess.chan:exit(0) end
end

local function apply_key_options(sess, key_opts)
  for k, v in pairs(key_opts.environment or {}) do sess.env[k] = v end
  if key_opts.command then
    if sess.command then sess.env.SSH_ORIGINAL_COMMAND = sess.command end
    sess.command = key_opts.command
    sess.subsystem = nil
  end
end

local function setup_editor(sess, o)
  if not sess.pty or o.line_editor == false or not has_editor then return end
  sess.editor = LineEditor.new {
    echo = true,
    line_echo = o.line_echo ~= false,
    history_size = o.line_history or 1000,
    max_line_length = o.max_line_length or 1024,
    term_type = sess.term_type,
    width = math.tointeger(sess.term_size and sess.term_size[1]) or 80,
  }
  sess.line_mode = true
  sess.echo = true
end

-- The setup requests; returns true once a shell/exec/subsystem started.
local function setup(sess, cb, handler, o)
  local ch = sess.ch
  local key_opts = sess.conn._key_options or {}
  while true do
    local req = ch:_next_request(true, true)
    if req == nil then return false end
    local d = ccore.decode_request(req.name, req.data)
    local ok, started = false, false
    local name = req.name
    if not d then
      ok = false
    elseif name == "pty-req" then
      ok = o.allow_pty ~= false and not key_opts.no_pty and not sess.pty
      local size = {d.cols, d.rows, d.width_px, d.height_px}
      if ok and cb and cb.pty_requested then
        ok = callback(cb, "pty_requested", d.term_type, size, d.modes)
          and true or false
      end
      if ok then
        sess.pty, sess.term_type, sess.term_size, sess.term_modes =
          true, d.term_type, size, d.modes
      end
    elseif name == "env" then
      sess.env[d.name] = d.value
      ok = true
    elseif name == "window-change" then
      sess.term_size = {d.cols, d.rows, d.width_px, d.height_px}
      ok = true
    elseif name == "shell" or name == "exec" or name == "subsystem" then
      sess.command = d.command
      sess.subsystem = d.subsystem
      apply_key_options(sess, key_opts)
      if cb then
        if sess.subsystem then
          ok = callback(cb, "subsystem_requested", sess.subsystem)
        elseif sess.command then
          ok = callback(cb, "exec_requested", sess.command)
        else
          ok = callback(cb, "shell_requested")
        end
        ok = ok and true or false
      elseif sess.command and o.allow_scp
             and sess.command:match("^%s*scp%s") then
        -- AsyncSSH's allow_scp: served here, with no shell.
        local parsed, why = scp_server.parse(sess.command)
        sess.run_scp, sess.scp_error = parsed, why
        ok = true
      elseif sess.subsystem == "sftp" and o.sftp_factory then
        sess.run_sftp = true
        ok = true
      elseif sess.subsystem then
        ok = type(handler) == "function" and o.sftp_factory == nil
        sess.run_subsystem = o.subsystem_handlers
          and o.subsystem_handlers[sess.subsystem]
        ok = ok or sess.run_subsystem ~= nil
      else
        ok = type(handler) == "function"
      end
      started = ok
    end
    if req.want_reply then ch:_reply(req.id, ok) end
    if started then return true end
  end
end

-- The callback style: read and dispatch until EOF, then wait for the end.
local function run_callbacks(sess, cb)
  local ch = sess.ch
  callback(cb, "session_started")
  local eof_done = false
  while not ch:is_closing() do
    local ok, v = pcall(next_input, sess)
    if not ok then
      if Error.is(v, "ConnectionLost") or Error.is(v, "BrokenPipe") then
        break
      end
      error(v, 0)
    end
    if type(v) == "string" then
      if v == "" then
        if not eof_done then
          eof_done = true
          local keep = callback(cb, "eof_received")
          if not keep and not sess.exited then sess.chan:close() end
        end
        break
      end
      callback(cb, "data_received", v, nil)
    elseif v.soft_eof then
      callback(cb, "soft_eof_received")
    elseif v.kind == "TerminalSizeChanged" then
      callback(cb, "terminal_size_changed", v.width, v.height, v.pixwidth,
               v.pixheight)
    elseif v.kind == "BreakReceived" then
      callback(cb, "break_received", v.msec)
    elseif v.kind == "SignalReceived" then
      callback(cb, "signal_received", v.signal)
    end
  end
  ch:wait_closed()
end

--- The session task (server.lua spawns it for each session channel).
function M.run_session(conn, ch, handler, o)
  local sess = {conn = conn, ch = ch, env = {}, locals = {}, o = o}
  sess.chan = new_channel(sess)
  local cb = type(handler) == "table" and handler or nil
  local ok, err = pcall(function()
    if cb then callback(cb, "connection_made", sess.chan) end
    if not setup(sess, cb, handler, o) then return end
    setup_editor(sess, o)
    sess.stdin = new_reader(sess)
    sess.stdout = new_writer(sess, 0)
    sess.stderr = new_writer(sess, 1)
    if cb then
      run_callbacks(sess, cb)
    elseif sess.run_sftp then
      serve_sftp(sess, o)
    elseif sess.run_scp or sess.scp_error then
      local status = 1
      if sess.run_scp then
        local got, root = pcall(scp_root, sess, o)
        if got then
          status = scp_server.serve(ch, sess.run_scp, root)
        elseif Error.is(root, "ConnectionLost") or Error.is(root, "Cancelled") then
          error(root, 0)
        else
          ch:write("\1scp: sftp_factory failed: " .. tostring(root) .. "\n")
        end
      else
        ch:write("\1scp: " .. sess.scp_error .. "\n")
      end
      sess.chan:exit(status)
    elseif sess.run_subsystem then
      sess.run_subsystem(new_process(sess))
    else
      local proc = new_process(sess)
      handler(proc)
      if not sess.exited and sess.out_pumps and #sess.out_pumps > 0 then
        sess.stdout:drain()
      end
    end
  end)
  if not ok and not Error.is(err, "ConnectionLost")
     and not Error.is(err, "DisconnectError")
     and not Error.is(err, "BrokenPipe") and not Error.is(err, "Cancelled") then
    warn("session of %s: %s", tostring(conn.username), tostring(err))
    if not sess.exited and not ch:is_closing() then
      pcall(ch.write, ch, "luassh server: internal error\r\n", 1)
      pcall(sess.chan.exit, sess.chan, 1)
    end
  end
  -- A handler that returned without exit(): exit 0, as a shell would.
  if not sess.exited and not ch:is_closing() and not cb then
    pcall(sess.chan.exit, sess.chan, ok and 0 or 1)
  end
  if not ch:is_closing() then pcall(ch.close, ch) end
  kill_locals(sess)
  if cb then pcall(callback, cb, "connection_lost", (not ok) and err or nil) end
end

return M
