-- Local subprocesses: ssh.create_subprocess (asyncio's
-- create_subprocess_exec / create_subprocess_shell in Lua idiom,
-- doc/api/subprocess.md).  The SSH server runs a session's command with
-- these and redirects the channel to them (RFC 4254 §6.5).
--
-- The C object (luassh.proccore, src/lua_bindings/l_proc.c) owns the
-- child and its pipes; this file wraps it in a Subprocess with a
-- SubprocessWriter for stdin and SubprocessReaders for stdout and stderr.
-- Their methods are those of process.lua's SSHWriter / SSHReader, so the
-- redirection pumps there take them as they are.
local core = require "luassh.core"
local pcore = require "luassh.proccore"
local process = require "luassh.process"

local M = {}

M.PIPE, M.DEVNULL, M.STDOUT = process.PIPE, process.DEVNULL, process.STDOUT

-- Readers --------------------------------------------------------------

local Reader = {__name = "luassh.SubprocessReader"}
Reader.__index = Reader
M.Reader = Reader

local function new_reader(proc, c, fd)
  return setmetatable({process = proc, _core = c, _fd = fd}, Reader)
end

--- reader:read([n]) -> up to n bytes as soon as any arrive; everything to
--- EOF when n is nil or negative; "" at EOF.
function Reader:read(n)
  return self._core:read(self._fd, n)
end

--- reader:readline() -> a line with its "\n" (the last may lack it);
--- "" at EOF.
function Reader:readline()
  return self._core:readuntil(self._fd, "\n", true)
end

--- reader:readuntil(sep) -> data ending with sep (IncompleteReadError at
--- EOF, with what was read in err.partial).
function Reader:readuntil(sep)
  return self._core:readuntil(self._fd, sep, false)
end

--- reader:readexactly(n) -> n bytes (IncompleteReadError at EOF).
function Reader:readexactly(n)
  return self._core:readexactly(self._fd, n)
end

function Reader:at_eof()
  return self._core:at_eof(self._fd)
end

--- reader:lines([fmt]) -> iterator over lines (without "\n" unless fmt is
--- "L"), like file:lines().
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
  if name == "pid" then return self.process.pid end
  if name == "process" then return self.process end
  return default
end

function Reader:__tostring()
  return "SubprocessReader (" .. (self._fd == 2 and "stderr" or "stdout")
    .. ") of " .. tostring(self.process)
end

-- Writer ---------------------------------------------------------------

local Writer = {__name = "luassh.SubprocessWriter"}
Writer.__index = Writer
M.Writer = Writer

local function new_writer(proc, c)
  return setmetatable({process = proc, _core = c}, Writer)
end

--- writer:write(data): queued at once (copied); drain() waits until it
--- has gone to the child.  BrokenPipe once the child closed its end.
function Writer:write(data)
  self._core:write(data)
end

function Writer:writelines(list)
  for _, s in ipairs(list) do self._core:write(s) end
end

function Writer:drain() self._core:drain() end
function Writer:write_eof() self._core:write_eof() end
function Writer:can_write_eof() return true end
function Writer:get_write_buffer_size() return self._core:write_buffer_size() end
--- writer:close(): ends stdin (as write_eof; the child keeps running).
function Writer:close() self._core:write_eof() end
function Writer:is_closing() return self._core:is_closing() end
function Writer:wait_closed() pcall(self._core.drain, self._core) end
Writer.get_extra_info = Reader.get_extra_info

function Writer:__tostring()
  return "SubprocessWriter (stdin) of " .. tostring(self.process)
end

-- Subprocess -----------------------------------------------------------

local Subprocess = {__name = "luassh.Subprocess"}
M.Subprocess = Subprocess
local methods = {}
Subprocess.methods = methods

function Subprocess.__index(self, k)
  local m = methods[k]
  if m ~= nil then return m end
  local c = rawget(self, "_core")
  if k == "returncode" then
    return c:returncode()
  elseif k == "exit_status" then
    local status, sig = c:exit_info()
    if sig then return -1 end
    return status
  elseif k == "exit_signal" then
    local _, sig, core_dumped = c:exit_info()
    if not sig then return nil end
    return {sig, core_dumped, "", "", signal = sig, core_dumped = core_dumped,
            message = "", lang = ""}
  end
  return nil
end

function Subprocess:__tostring()
  return ("Subprocess %d (%s)"):format(self.pid, self.command)
end

--- proc:wait() -> returncode: the exit status, or -N when signal N
--- killed it.  Returns at the child's exit, whether or not its output
--- has been read.
function methods:wait()
  return self._core:wait()
end

--- proc:communicate([input]) -> stdout, stderr (nil for streams that
--- are not pipes): sends input, ends stdin, reads both to EOF, waits.
function methods:communicate(input)
  local tasks = {}
  for _, name in ipairs {"stdout", "stderr"} do
    local r = self[name]
    if r then tasks[name] = core.spawn(function() return r:read() end) end
  end
  if self.stdin then
    -- The child may exit without reading: not an error here.
    if input ~= nil and input ~= "" then pcall(self.stdin.write, self.stdin, input) end
    pcall(self.stdin.write_eof, self.stdin)
  end
  local out, err
  if tasks.stdout then out = tasks.stdout:wait() end
  if tasks.stderr then err = tasks.stderr:wait() end
  self:wait()
  return out, err
end

--- proc:send_signal(sig) -> true, or false when it has exited already.
--- sig: a number or a name ("TERM", "SIGTERM").
function methods:send_signal(sig)
  return self._core:send_signal(sig)
end

function methods:terminate() return self._core:send_signal("TERM") end
function methods:kill() return self._core:send_signal("KILL") end

--- proc:set_terminal_size(cols, rows [, width_px, height_px]) -> true, or
--- false when the process has no pty.  The child gets SIGWINCH.
function methods:set_terminal_size(cols, rows, pw, ph)
  return self._core:set_terminal_size(cols, rows, pw, ph)
end
methods.change_terminal_size = methods.set_terminal_size

--- proc:close(): kills the child if it is still running (SIGKILL, to its
--- process group when it leads one), closes the pipes and drops unread
--- output.  wait() still reports the exit afterwards.
function methods:close() self._core:close() end
function methods:is_closing() return self._core:is_closing() end

function methods:get_extra_info(name, default)
  if name == "pid" then return self.pid end
  if name == "tty" then return self.tty end
  return default
end

function Subprocess:__close()
  self._core:close()
  if self._core:returncode() == nil and coroutine.isyieldable()
      and core.current_task() then
    pcall(self._core.wait, self._core)
  end
end

-- Creating -------------------------------------------------------------

local function stdio_name(v, what, allow_stdout)
  if v == nil then return nil end
  if v == M.PIPE then return "pipe" end
  if v == M.DEVNULL then return "devnull" end
  if v == M.STDOUT and allow_stdout then return "stdout" end
  error(("%s must be ssh.PIPE or ssh.DEVNULL%s (got %s)"):format(
    what, allow_stdout and " or ssh.STDOUT" or "", tostring(v)), 3)
end

--- ssh.create_subprocess(cmd [, opts]) -> Subprocess
--- cmd: a string (run by /bin/sh -c) or a list {program, args...}.
--- opts: env, env_replace, cwd, stdin / stdout / stderr (ssh.PIPE, the
--- default, ssh.DEVNULL, or for stderr ssh.STDOUT), start_new_session,
--- pty = true | {term_type=, term_size={cols, rows [, pw, ph]}, modes=}.
function M.create_subprocess(cmd, opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #2 to 'create_subprocess' (table expected)", 2)
  end
  local argv, command
  if type(cmd) == "string" then
    argv, command = {"/bin/sh", "-c", cmd}, cmd
  elseif type(cmd) == "table" then
    argv = {}
    for i, a in ipairs(cmd) do
      if type(a) ~= "string" and type(a) ~= "number" then
        error("bad argument #1 to 'create_subprocess' (argument " .. i
              .. " is not a string)", 2)
      end
      argv[i] = tostring(a)
    end
    if #argv == 0 then
      error("bad argument #1 to 'create_subprocess' (empty command)", 2)
    end
    command = table.concat(argv, " ")
  else
    error("bad argument #1 to 'create_subprocess' (string or table "
          .. "expected, got " .. type(cmd) .. ")", 2)
  end

  local copts = {
    cwd = opts.cwd, env_replace = opts.env_replace and true or nil,
    new_session = opts.start_new_session and true or nil,
    stdin = stdio_name(opts.stdin, "stdin"),
    stdout = stdio_name(opts.stdout, "stdout"),
    stderr = stdio_name(opts.stderr, "stderr", true),
  }
  local env
  if opts.env ~= nil then
    if type(opts.env) ~= "table" then
      error("bad option env (a table expected)", 2)
    end
    env = {}
    for k, v in pairs(opts.env) do env[k] = v end
  end
  local pty = opts.pty
  if pty then
    if pty == true then pty = {} end
    if type(pty) ~= "table" then
      error("bad option pty (true or a table expected)", 2)
    end
    copts.pty = true
    if copts.stdin or copts.stdout then
      error("with a pty, stdin and stdout go through the terminal", 2)
    end
    copts.stdin, copts.stdout = "pty", "pty"
    -- stderr joins the terminal unless asked for as its own pipe.
    if copts.stderr == nil or copts.stderr == "stdout" then
      copts.stderr = "pty"
    end
    if pty.term_type then
      env = env or {}
      env.TERM = pty.term_type
    end
    local size = pty.term_size or {}
    copts.cols, copts.rows = size[1] or 80, size[2] or 24
    copts.width_px, copts.height_px = size[3] or 0, size[4] or 0
    copts.modes = pty.modes
  end
  copts.env = env

  local c = pcore.spawn(argv, copts)
  local proc = setmetatable({_core = c, pid = c:pid(), command = command,
                             tty = c:tty_name()}, Subprocess)
  if copts.stdin == nil or copts.stdin == "pipe" or copts.stdin == "pty" then
    proc.stdin = new_writer(proc, c)
  end
  if copts.stdout == nil or copts.stdout == "pipe" or copts.stdout == "pty" then
    proc.stdout = new_reader(proc, c, 1)
  end
  if copts.stderr == nil or copts.stderr == "pipe" then
    proc.stderr = new_reader(proc, c, 2)
  end
  return proc
end

return M
