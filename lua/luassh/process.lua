-- Remote processes, streams and callback sessions of the SSH client
-- (AsyncSSH's process.py / stream.py / session.py, doc/api/client.md).
--
-- A process is a Lua table around one session channel (the C object
-- luassh.SSHClientChannel, src/lua_bindings/l_chan.c), with an SSHWriter
-- for stdin and SSHReaders for stdout and stderr.  Redirections run as
-- small pump tasks that read from one side and write to the other with
-- drain(), so that a slow side holds back the fast one.
local core = require "luassh.core"
local ccore = require "luassh.clientcore"
local Error = require "luassh.error"

local M = {}

local spawn = core.spawn

M.PIPE = setmetatable({}, {__name = "luassh.PIPE", __tostring = function() return "PIPE" end})
M.DEVNULL = setmetatable({}, {__name = "luassh.DEVNULL", __tostring = function() return "DEVNULL" end})
M.STDOUT = setmetatable({}, {__name = "luassh.STDOUT", __tostring = function() return "STDOUT" end})
M.EXTENDED_DATA_STDERR = 1

local CHUNK = 65536

-- POSIX signal numbers for returncode (-signal) and send_signal(number).
local SIGNALS = {
  HUP = 1, INT = 2, QUIT = 3, ILL = 4, TRAP = 5, ABRT = 6, BUS = 7, FPE = 8,
  KILL = 9, USR1 = 10, SEGV = 11, USR2 = 12, PIPE = 13, ALRM = 14, TERM = 15,
}
local SIGNAL_NAMES = {}
for name, num in pairs(SIGNALS) do SIGNAL_NAMES[num] = name end
M.SIGNALS = SIGNALS

local function class_of(v)
  local mt = (type(v) == "table" or type(v) == "userdata") and getmetatable(v)
  return type(mt) == "table" and mt.__name or nil
end

local function is_file(v) return io.type(v) == "file" end

-- Streams --------------------------------------------------------------

local Reader = {__name = "luassh.SSHReader"}
Reader.__index = Reader
M.Reader = Reader

local function new_reader(proc, chan, dt)
  return setmetatable({channel = chan, _dt = dt, _proc = proc}, Reader)
end
M.new_reader = new_reader

--- reader:read([n]) -> up to n bytes as soon as any arrive; all of it to
--- EOF when n is nil or negative; "" at EOF.
function Reader:read(n)
  return self.channel:read(n or -1, self._dt)
end

--- reader:readline() -> a line with its "\n"; the last line may lack it;
--- "" at EOF.
function Reader:readline()
  return self.channel:readuntil("\n", self._dt, true)
end

--- reader:readuntil(sep) -> data ending with sep (IncompleteReadError at
--- EOF, with the data read in err.partial).
function Reader:readuntil(sep)
  return self.channel:readuntil(sep, self._dt, false)
end

--- reader:readexactly(n) -> n bytes (IncompleteReadError at EOF).
function Reader:readexactly(n)
  return self.channel:readexactly(n, self._dt)
end

function Reader:at_eof()
  return self.channel:at_eof(self._dt)
end

--- reader:lines([fmt]) -> iterator over lines (without "\n" unless fmt
--- is "L"), like file:lines().
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
  return self.channel:get_extra_info(name, default)
end

function Reader:__tostring()
  return "SSHReader (" .. (self._dt == 1 and "stderr" or "stdout") .. ") of "
    .. tostring(self.channel)
end

local Writer = {__name = "luassh.SSHWriter"}
Writer.__index = Writer
M.Writer = Writer

local function new_writer(proc, chan)
  return setmetatable({channel = chan, _proc = proc}, Writer)
end
M.new_writer = new_writer

--- writer:write(data): queued at once; drain() waits until it has gone.
function Writer:write(data)
  self.channel:write(data)
end

function Writer:writelines(list)
  for _, s in ipairs(list) do self.channel:write(s) end
end

function Writer:drain() self.channel:drain() end
function Writer:write_eof() self.channel:write_eof() end
function Writer:can_write_eof() return true end
function Writer:get_write_buffer_size()
  return self.channel:get_write_buffer_size()
end
function Writer:close() self.channel:close() end
function Writer:is_closing() return self.channel:is_closing() end
function Writer:wait_closed() self.channel:wait_closed() end
function Writer:get_extra_info(name, default)
  return self.channel:get_extra_info(name, default)
end

function Writer:__tostring()
  return "SSHWriter (stdin) of " .. tostring(self.channel)
end

-- Completed processes and errors ---------------------------------------

local Completed = {__name = "luassh.SSHCompletedProcess"}
Completed.__index = Completed
M.Completed = Completed

function Completed:__tostring()
  return ("SSHCompletedProcess(command=%q, returncode=%s)"):format(
    tostring(self.command), tostring(self.returncode))
end

local function describe_exit(res)
  if res.exit_signal then
    return "was killed by signal " .. res.exit_signal[1]
  end
  if res.exit_status == nil then
    return "ended without an exit status"
  end
  return "exited with status " .. res.exit_status
end

local function process_error(res, host, port)
  local what = res.command and ("'" .. res.command .. "'")
    or res.subsystem and ("subsystem '" .. res.subsystem .. "'") or "the shell"
  local reason = ("remote command %s on %s port %s %s"):format(
    what, tostring(host), tostring(port), describe_exit(res))
  local stderr = type(res.stderr) == "string" and res.stderr or ""
  local first = stderr:match("^[^\n]+")
  if first then reason = reason .. ": " .. first end
  return Error.new("ProcessError", reason, {
    exit_status = res.exit_status, exit_signal = res.exit_signal,
    returncode = res.returncode, stdout = res.stdout, stderr = res.stderr,
    command = res.command, subsystem = res.subsystem, env = res.env,
    host = host, port = port,
  })
end
M.process_error = process_error

-- Redirections ---------------------------------------------------------

-- A source: {read = function() -> chunk | "" at EOF, close = fn|nil}.
local function open_source(spec, conn_for_errors)
  if spec == M.DEVNULL then
    return {read = function() return "" end}
  end
  if type(spec) == "string" then
    local f, msg = io.open(spec, "rb")
    if not f then
      Error.raise("OSError", "cannot open '" .. spec .. "' for stdin: " .. msg,
                  {filename = spec})
    end
    return {read = function() return f:read(CHUNK) or "" end,
            close = function() f:close() end}
  end
  if is_file(spec) then
    -- A file or io.popen pipe; reads block the loop, so keep them small.
    return {read = function() return spec:read(CHUNK) or "" end}
  end
  if class_of(spec) == "luassh.SSHReader" then
    return {read = function() return spec:read(CHUNK) end}
  end
  if class_of(spec) == "luassh.SSHClientProcess"
     or class_of(spec) == "luassh.Subprocess" then
    return {read = function() return spec.stdout:read(CHUNK) end}
  end
  if type(spec) == "table" and type(spec.read) == "function" then
    -- Any reader: a local subprocess's stdout, a server process's stdin.
    return {read = function() return spec:read(CHUNK) or "" end}
  end
  error("bad stdin redirection (a path, a file, an SSHReader or "
        .. "ssh.DEVNULL expected, got " .. tostring(spec) .. ")", 3)
end

-- A target: {write = fn(data), eof = fn()}.
local function open_target(spec, what)
  if spec == M.DEVNULL then
    return {write = function() end, eof = function() end}
  end
  if type(spec) == "string" then
    local f, msg = io.open(spec, "wb")
    if not f then
      Error.raise("OSError", "cannot open '" .. spec .. "' for " .. what
                  .. ": " .. msg, {filename = spec})
    end
    return {write = function(d) assert(f:write(d)) end,
            eof = function() f:close() end}
  end
  if is_file(spec) then
    return {write = function(d) assert(spec:write(d)) end,
            eof = function() spec:flush() end}
  end
  local cls = class_of(spec)
  if cls == "luassh.SSHWriter" then
    return {write = function(d) spec:write(d) spec:drain() end,
            eof = function() spec:write_eof() end}
  end
  if cls == "luassh.SSHClientProcess" or cls == "luassh.Subprocess" then
    return {write = function(d) spec.stdin:write(d) spec.stdin:drain() end,
            eof = function() spec.stdin:write_eof() end}
  end
  if type(spec) == "table" and type(spec.write) == "function" then
    -- Any writer: a local subprocess's stdin, a server process's stdout.
    return {write = function(d)
              spec:write(d)
              if spec.drain then spec:drain() end
            end,
            eof = function()
              if spec.write_eof then spec:write_eof()
              elseif spec.close then spec:close() end
            end}
  end
  error("bad " .. what .. " redirection (a path, a file, an SSHWriter or "
        .. "ssh.DEVNULL expected, got " .. tostring(spec) .. ")", 3)
end

M.open_source, M.open_target = open_source, open_target

-- Process --------------------------------------------------------------

local Process = {__name = "luassh.SSHClientProcess"}
M.Process = Process

local process_methods = {}
Process.methods = process_methods

local function exit_signal_of(ch)
  local sig, core_dumped, msg, lang = ch:get_exit_signal()
  if not sig then return nil end
  return {sig, core_dumped, msg, lang, signal = sig, core_dumped = core_dumped,
          message = msg, lang = lang}
end

local function returncode_of(ch)
  local sig = ch:get_exit_signal()
  if sig then return -(SIGNALS[sig] or 1) end
  return ch:get_exit_status()
end

function Process.__index(self, k)
  local m = process_methods[k]
  if m ~= nil then return m end
  if k == "exit_status" then
    if self.channel:get_exit_signal() then return -1 end
    return self.channel:get_exit_status()
  elseif k == "exit_signal" then
    return exit_signal_of(self.channel)
  elseif k == "returncode" then
    return returncode_of(self.channel)
  end
  return nil
end

function Process:__tostring()
  return ("SSHClientProcess(%s) on %s"):format(
    self.command and ("'" .. self.command .. "'") or
    self.subsystem and ("subsystem " .. self.subsystem) or "shell",
    tostring(self.channel))
end

--- M.new(conn, channel, fields) -> SSHClientProcess
function M.new(conn, ch, fields)
  local proc = setmetatable({
    channel = ch, conn = conn, command = fields.command,
    subsystem = fields.subsystem, env = fields.env,
    _redirected = {}, _pumps = {},
  }, Process)
  proc.stdin = new_writer(proc, ch)
  proc.stdout = new_reader(proc, ch, 0)
  proc.stderr = new_reader(proc, ch, 1)
  return proc
end

function process_methods:get_extra_info(name, default)
  return self.channel:get_extra_info(name, default)
end

-- A pump whose far side closed early (a reader that stopped, as "head"
-- does) just stops: like a Unix pipeline, that is not the command's
-- failure.
local function add_pump(self, fn)
  local t = spawn(function()
    local ok, err = pcall(fn)
    if not ok and not Error.is(err, "BrokenPipe") then error(err, 0) end
  end)
  self._pumps[#self._pumps + 1] = t
  return t
end

-- A pump from stream dt (0 stdout, 1 stderr) into target; the target
-- gets its EOF when the last stream writing to it ends.
local function redirect_output(self, dt, target, discard)
  self._redirected[dt] = true
  local ch = self.channel
  if discard then ch:_set_collect(dt, true) end
  add_pump(self, function()
    while true do
      local d = ch:read(CHUNK, dt)
      if d == "" then break end
      if not discard then target.write(d) end
    end
    target.users = target.users - 1
    if target.users == 0 then target.eof() end
  end)
end

-- A stream into a file named by path, or nowhere (path nil: DEVNULL),
-- written by the channel itself as data arrives (ch:_sink_file): no Lua
-- string, no copy but the write.  The pump only waits for the EOF, then
-- closes the file and raises OSError if a write failed.
local function redirect_to_file(self, dt, path, what)
  local ch = self.channel
  local ok, msg = ch:_sink_file(dt, path)
  if not ok then
    Error.raise("OSError", "cannot open '" .. path .. "' for " .. what
                .. ": " .. msg, {filename = path})
  end
  self._redirected[dt] = true
  add_pump(self, function()
    local read_ok, err = pcall(function()
      while ch:read(CHUNK, dt) ~= "" do end
    end)
    local closed, werr = ch:_sink_close(dt)
    if not read_ok then error(err, 0) end
    if not closed then
      Error.raise("OSError", "cannot write " .. what .. " to '" .. path
                  .. "': " .. werr, {filename = path})
    end
  end)
end

-- Whether a target can be written by the channel itself.
local function direct_target(spec)
  return spec == M.DEVNULL or type(spec) == "string"
end

local function is_pipe(v) return v == nil or v == M.PIPE end

--- proc:redirect{stdin=, stdout=, stderr=}
--- stdin: a path, a Lua file (io.open / io.popen), an SSHReader or process
--- (its stdout), ssh.DEVNULL; stdout/stderr: a path, a Lua file, an
--- SSHWriter or process (its stdin), ssh.DEVNULL; stderr also ssh.STDOUT.
--- ssh.PIPE (or nil) leaves the stream to the script.
function process_methods:redirect(opts)
  opts = opts or {}
  local stdin, stdout, stderr = opts.stdin, opts.stdout, opts.stderr
  if not is_pipe(stdin) then
    local src = open_source(stdin)
    local ch = self.channel
    add_pump(self, function()
      while true do
        local d = src.read()
        if d == "" then break end
        ch:write(d)
        ch:drain()
      end
      if src.close then src.close() end
      ch:write_eof()
    end)
  end
  local out_target
  if direct_target(stdout) and stderr ~= M.STDOUT then
    redirect_to_file(self, 0, stdout ~= M.DEVNULL and stdout or nil, "stdout")
  elseif not is_pipe(stdout) then
    out_target = open_target(stdout, "stdout")
    out_target.users = stderr == M.STDOUT and 2 or 1
    redirect_output(self, 0, out_target, stdout == M.DEVNULL)
  end
  if stderr == M.STDOUT then
    if not out_target then
      error("stderr = ssh.STDOUT needs stdout redirected too", 2)
    end
    redirect_output(self, 1, out_target, stdout == M.DEVNULL)
  elseif direct_target(stderr) then
    redirect_to_file(self, 1, stderr ~= M.DEVNULL and stderr or nil, "stderr")
  elseif not is_pipe(stderr) then
    local t = open_target(stderr, "stderr")
    t.users = 1
    redirect_output(self, 1, t, stderr == M.DEVNULL)
  end
end

function process_methods:redirect_stdin(s) self:redirect{stdin = s} end
function process_methods:redirect_stdout(s) self:redirect{stdout = s} end
function process_methods:redirect_stderr(s) self:redirect{stderr = s} end

-- Waits for the redirection tasks; raises the first failure.
local function join_pumps(self)
  local first
  for _, t in ipairs(self._pumps) do
    local ok, err = pcall(t.wait, t)
    if not ok and first == nil then first = err end
  end
  self._pumps = {}
  if first ~= nil then error(first, 0) end
end

local function collect(self)
  local ch = self.channel
  for dt = 0, 1 do
    if not self._redirected[dt] then ch:_set_collect(dt, true) end
  end
end

local function result_of(self)
  local ch = self.channel
  local res = setmetatable({
    command = self.command, subsystem = self.subsystem, env = self.env,
    exit_status = self.exit_status, exit_signal = self.exit_signal,
    returncode = self.returncode,
  }, Completed)
  for dt, name in pairs {[0] = "stdout", [1] = "stderr"} do
    if not self._redirected[dt] then
      res[name] = ch:read(-1, dt)
    end
  end
  return res
end

--- proc:collect_output() -> stdout, stderr buffered so far (not waiting)
function process_methods:collect_output()
  local ch = self.channel
  local out, err = "", ""
  if not self._redirected[0] then out = ch:read(ch:_buffered(0), 0) end
  if not self._redirected[1] then err = ch:read(ch:_buffered(1), 1) end
  return out, err
end

local function wait_body(self)
  collect(self)
  self.channel:wait_closed()
  local lost = self.channel:_conn_error()
  if lost then error(lost, 0) end
  join_pumps(self)
end

--- proc:wait([{check=, timeout=}]) -> SSHCompletedProcess
--- Waits for the remote process to exit and the channel to close,
--- collecting what is left of stdout and stderr (unless redirected).
--- check=true raises ProcessError on a non-zero exit; timeout (seconds)
--- raises Timeout (with the output so far) and closes the channel.
function process_methods:wait(opts)
  opts = opts or {}
  if opts.timeout then
    local ok, err = pcall(core.timeout, opts.timeout, wait_body, self)
    if not ok then
      if Error.is(err, "Timeout") then
        self.channel:close()
        local partial = result_of(self)
        err = Error.new("Timeout", ("remote command %s on %s port %s did "
          .. "not finish within %s seconds"):format(
            self.command and ("'" .. self.command .. "'") or "session",
            tostring(self.conn and self.conn.host),
            tostring(self.conn and self.conn.port), tostring(opts.timeout)),
          {seconds = opts.timeout, command = self.command,
           stdout = partial.stdout, stderr = partial.stderr,
           exit_status = partial.exit_status, exit_signal = partial.exit_signal,
           returncode = partial.returncode})
      end
      error(err, 0)
    end
  else
    wait_body(self)
  end
  local res = result_of(self)
  if opts.check and res.returncode ~= 0 then
    error(process_error(res, self.conn and self.conn.host,
                        self.conn and self.conn.port), 0)
  end
  return res
end

--- proc:communicate([input]) -> stdout, stderr
function process_methods:communicate(input)
  if input ~= nil then self.stdin:write(input) end
  self.stdin:write_eof()
  local res = self:wait()
  return res.stdout, res.stderr
end

function process_methods:change_terminal_size(cols, rows, width, height)
  self.channel:_request("window-change", false,
    ccore.encode_window_change(cols, rows, width or 0, height or 0))
end

function process_methods:send_break(ms)
  self.channel:_request("break", false, ccore.encode_break(ms or 0))
end

function process_methods:send_signal(sig)
  if type(sig) == "number" then
    sig = SIGNAL_NAMES[sig] or error("unknown signal number " .. sig, 2)
  end
  sig = tostring(sig):gsub("^SIG", "")
  self.channel:_request("signal", false, ccore.encode_signal(sig))
end

function process_methods:terminate() self:send_signal("TERM") end
function process_methods:kill() self:send_signal("KILL") end

function process_methods:close()
  self.channel:close()
  for _, t in ipairs(self._pumps) do
    if not t:done() then t:cancel() end
  end
end

function process_methods:is_closing() return self.channel:is_closing() end

function process_methods:wait_closed() self.channel:wait_closed() end

function Process:__close()
  self.channel:close()
  if coroutine.isyieldable() and core.current_task() then
    pcall(self.channel.wait_closed, self.channel)
  end
  for _, t in ipairs(self._pumps) do
    if not t:done() then t:cancel() end
  end
end

-- Callback sessions ----------------------------------------------------

-- The channel handed back by create_session: the C channel's methods,
-- except that wait_closed also waits until every callback has run.
local SessionChannel = {__name = "luassh.SSHClientSessionChannel"}
M.SessionChannel = SessionChannel

function SessionChannel.__index(self, k)
  local own = rawget(SessionChannel, k)
  if own ~= nil and k ~= "__index" then return own end
  local ch = rawget(self, "_ch")
  local v = ch[k]
  if type(v) == "function" then
    return function(s, ...)
      if s == self then s = ch end
      return v(s, ...)
    end
  end
  return v
end

function SessionChannel:wait_closed()
  self._ch:wait_closed()
  local t = self._task
  if t then pcall(t.wait, t) end
end

function SessionChannel:write_stderr()
  error("a client cannot write to stderr", 2)
end

function SessionChannel:__tostring() return tostring(self._ch) end

local function call(session, name, ...)
  local f = session[name]
  if f then return f(session, ...) end
end

--- M.run_session(channel, session) -> SessionChannel: delivers the
--- channel's events to the session's callbacks from a task.
function M.run_session(ch, session)
  local sc = setmetatable({_ch = ch}, SessionChannel)
  sc._task = spawn(function()
    call(session, "connection_made", sc)
    call(session, "session_started")
    local readers = {}
    for dt = 0, 1 do
      readers[#readers + 1] = spawn(function()
        while true do
          local d = ch:read(CHUNK, dt)
          if d == "" then break end
          call(session, "data_received", d, dt == 1 and M.EXTENDED_DATA_STDERR or nil)
        end
      end)
    end
    local err
    for _, t in ipairs(readers) do
      local ok, e = pcall(t.wait, t)
      if not ok and err == nil then err = e end
    end
    if err == nil then
      call(session, "eof_received")
      ch:wait_closed()
      err = ch:_conn_error()
    end
    local sig, core_dumped, msg, lang = ch:get_exit_signal()
    if sig then
      call(session, "exit_signal_received", sig, core_dumped, msg, lang)
    elseif ch:get_exit_status() then
      call(session, "exit_status_received", ch:get_exit_status())
    end
    call(session, "connection_lost", err)
  end)
  return sc
end

return M
