-- Local subprocesses: ssh.create_subprocess (lua/luassh/subprocess.lua,
-- src/lua_bindings/l_proc.c, src/uvio/proc.c).
local ssh = require "luassh"

-- Alive and not a zombie (a zombie nobody reaps still answers kill -0).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  local state = stat:match("%) (%a)")
  return state ~= nil and state ~= "Z"
end

local function eventually(pred, secs)
  local deadline = ssh.now() + (secs or 5)
  while ssh.now() < deadline do
    if pred() then return true end
    ssh.sleep(0.02)
  end
  return pred()
end

local function run(cmd, opts)
  local p = ssh.create_subprocess(cmd, opts)
  local out, err = p:communicate()
  return out, err, p.returncode
end

describe("ssh.create_subprocess", function()
  it("shares the PIPE / DEVNULL / STDOUT sentinels of the client", function()
    local sub = require "luassh.subprocess"
    assert.equal(ssh.PIPE, sub.PIPE)
    assert.equal(ssh.DEVNULL, sub.DEVNULL)
    assert.equal(ssh.STDOUT, sub.STDOUT)
  end)

  it("runs a string through /bin/sh and an argv table as is", function()
    local p = ssh.create_subprocess("echo hello; echo $((6 * 7))")
    assert.is_number(p.pid)
    assert.equal("hello\n42\n", p.stdout:read())
    assert.equal(0, p:wait())
    assert.equal(0, p.returncode)
    local out = run({"printf", "%s|", "a b", "$HOME", "*"})
    assert.equal("a b|$HOME|*|", out)
  end)

  it("round-trips 1 MiB through cat while writing and reading at once", function()
    local chunk = {}
    for i = 0, 255 do chunk[#chunk + 1] = string.char(i) end
    chunk = table.concat(chunk):rep(64) -- 16 KiB, every byte value
    local p = ssh.create_subprocess({"cat"})
    local writer = ssh.spawn(function()
      for _ = 1, 64 do
        p.stdin:write(chunk)
        p.stdin:drain()
      end
      assert.equal(0, p.stdin:get_write_buffer_size())
      p.stdin:write_eof()
    end)
    local parts, n = {}, 0
    while true do
      local d = p.stdout:read(65536)
      if d == "" then break end
      assert.is_true(#d <= 65536)
      parts[#parts + 1] = d
      n = n + #d
    end
    writer:wait()
    assert.equal(64 * #chunk, n)
    assert.equal(chunk:rep(64), table.concat(parts))
    assert.equal(0, p:wait())
    assert.is_true(p.stdout:at_eof())
    assert.equal("", p.stdout:read())
  end)

  it("stops reading a pipe nobody reads (8 MiB with backpressure)", function()
    local total = 8 * 1024 * 1024
    local p = ssh.create_subprocess({"head", "-c", tostring(total), "/dev/zero"})
    local core = p._core
    assert.is_true(eventually(function() return not core:_reading(1) end))
    ssh.sleep(0.1)
    -- At most the 256 KiB limit plus one 64 KiB read are buffered, the
    -- pipe is no longer read, and the child is blocked, not finished.
    assert.is_true(core:buffered(1) >= 256 * 1024)
    assert.is_true(core:buffered(1) <= 256 * 1024 + 65536)
    assert.is_false(core:_reading(1))
    assert.is_nil(p.returncode)
    local n = 0
    while true do
      local d = p.stdout:read(1024 * 1024)
      if d == "" then break end
      assert.is_nil(d:find("[^%z]"))
      n = n + #d
    end
    assert.equal(total, n)
    assert.equal(0, p:wait())
  end)

  it("reads everything to EOF at once with read()", function()
    local p = ssh.create_subprocess({"head", "-c", "3000000", "/dev/zero"})
    assert.equal(3000000, #p.stdout:read())
    assert.equal(0, p:wait())
  end)

  it("reports the exit while output is still unread", function()
    local p = ssh.create_subprocess({"head", "-c", "100000", "/dev/zero"})
    assert.equal(0, p:wait())
    assert.equal(100000, #p.stdout:read())
  end)

  it("keeps stderr apart, or merges it into stdout", function()
    local out, err, rc = run("echo out; echo err >&2; exit 4")
    assert.equal("out\n", out)
    assert.equal("err\n", err)
    assert.equal(4, rc)
    local p = ssh.create_subprocess("echo out; echo err >&2",
                                    {stderr = ssh.STDOUT})
    assert.is_nil(p.stderr)
    assert.equal("out\nerr\n", p.stdout:read())
    p:wait()
  end)

  it("connects streams to /dev/null", function()
    local p = ssh.create_subprocess({"cat"}, {stdin = ssh.DEVNULL})
    assert.is_nil(p.stdin)
    assert.equal("", p.stdout:read())
    assert.equal(0, p:wait())
    p = ssh.create_subprocess("echo gone; echo err >&2",
                              {stdout = ssh.DEVNULL, stderr = ssh.STDOUT})
    assert.is_nil(p.stdout)
    assert.is_nil(p.stderr)
    assert.equal(0, p:wait())
  end)

  it("merges env onto the environment, or replaces it", function()
    assert.equal("bar " .. os.getenv("HOME") .. "\n",
                 (run('echo "$FOO $HOME"', {env = {FOO = "bar"}})))
    assert.equal("[]\n", (run('echo "[$HOME]"', {env = {HOME = false}})))
    assert.equal("A=1\nB=2\n", (run({"/usr/bin/env"},
      {env = {A = "1", B = 2}, env_replace = true})):gsub("B=2\nA=1\n", "A=1\nB=2\n"))
    -- Without PATH in a replaced environment the default one is searched.
    assert.equal("ok\n", (run({"echo", "ok"}, {env = {}, env_replace = true})))
  end)

  it("runs in cwd", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    assert.equal(dir .. "\n", (run("pwd", {cwd = dir})))
    local f = assert(io.open(dir .. "/x.sh", "w"))
    f:write("#!/bin/sh\necho script\n")
    f:close()
    os.execute("chmod +x " .. dir .. "/x.sh")
    assert.equal("script\n", (run({"./x.sh"}, {cwd = dir})))
    os.execute("rm -rf " .. dir)
  end)

  it("gives exit codes and leaves returncode nil while running", function()
    for _, code in ipairs {0, 1, 7, 255} do
      local p = ssh.create_subprocess("exit " .. code)
      assert.equal(code, p:wait())
      assert.equal(code, p.exit_status)
      assert.is_nil(p.exit_signal)
    end
    local p = ssh.create_subprocess({"sleep", "100"})
    assert.is_nil(p.returncode)
    assert.is_nil(p.exit_status)
    p:kill()
    p:wait()
  end)

  it("reports a kill by signal as a negative returncode", function()
    local p = ssh.create_subprocess({"sleep", "100"})
    assert.is_true(p:terminate())
    assert.equal(-15, p:wait())
    assert.equal(-1, p.exit_status)
    assert.equal("TERM", p.exit_signal.signal)
    assert.equal("TERM", p.exit_signal[1])
    p = ssh.create_subprocess({"sleep", "100"})
    p:kill()
    assert.equal(-9, p:wait())
    p = ssh.create_subprocess({"sleep", "100"})
    p:send_signal("SIGINT")
    assert.equal(-2, p:wait())
    p = ssh.create_subprocess({"sleep", "100"})
    p:send_signal(10)
    assert.equal(-10, p:wait())
    -- After the exit a signal goes nowhere.
    assert.is_false(p:send_signal("TERM"))
    assert.has_error(function() p:send_signal("NOPE") end)
  end)

  it("delivers a signal the child handles", function()
    local p = ssh.create_subprocess(
      "trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.05; done")
    assert.equal("ready\n", p.stdout:readline())
    p:send_signal("USR1")
    assert.equal("got-usr1\n", p.stdout:readline())
    assert.equal(0, p:wait())
  end)

  it("resets signals the parent ignores (SIGPIPE) in the child", function()
    -- With SIGPIPE ignored, yes would loop on EPIPE forever.
    local out, _, rc = run("yes | head -n 2; echo done")
    assert.equal("y\ny\ndone\n", out)
    assert.equal(0, rc)
  end)

  it("raises BrokenPipe when writing to a child that is gone", function()
    local p = ssh.create_subprocess({"true"})
    p:wait()
    local ok, err = pcall(function()
      for _ = 1, 10 do
        p.stdin:write(("x"):rep(65536))
        p.stdin:drain()
      end
    end)
    assert.is_false(ok)
    assert.equal("BrokenPipe", err.kind)
    local p2 = ssh.create_subprocess({"cat"})
    p2.stdin:write_eof()
    assert.has_error(function() p2.stdin:write("late") end,
                     "attempt to write after write_eof")
    p2:wait()
  end)

  it("has the reader methods of an SSHReader", function()
    local p = ssh.create_subprocess("printf 'one\\ntwo\\nthree'")
    assert.equal("one\n", p.stdout:readline())
    assert.equal("tw", p.stdout:readexactly(2))
    assert.equal("o\nth", p.stdout:readuntil("th"))
    local ok, err = pcall(p.stdout.readuntil, p.stdout, "zz")
    assert.is_false(ok)
    assert.equal("IncompleteReadError", err.kind)
    assert.equal("ree", err.partial)
    assert.is_true(p.stdout:at_eof())
    assert.equal("", p.stdout:readline())
    p:wait()

    p = ssh.create_subprocess("printf 'a\\nb\\nc'")
    local lines = {}
    for l in p.stdout:lines() do lines[#lines + 1] = l end
    assert.are.same({"a", "b", "c"}, lines)
    p:wait()

    p = ssh.create_subprocess("printf abc")
    ok, err = pcall(p.stdout.readexactly, p.stdout, 5)
    assert.is_false(ok)
    assert.equal("abc", err.partial)
    p:wait()
  end)

  it("refuses a second concurrent reader and survives a timeout", function()
    local p = ssh.create_subprocess("sleep 0.3; echo late")
    local t = ssh.spawn(function() return p.stdout:read() end)
    ssh.sleep(0.02)
    assert.has_error(function() p.stdout:read() end,
                     "another task is already reading this subprocess's stdout")
    assert.equal("late\n", t:wait())
    p:wait()

    p = ssh.create_subprocess("sleep 0.2; echo after")
    local ok, err = pcall(ssh.timeout, 0.05, function() return p.stdout:read(10) end)
    assert.is_false(ok)
    assert.equal("Timeout", err.kind)
    assert.equal("after\n", p.stdout:readline())
    p:wait()
  end)

  it("communicates input and collects both outputs", function()
    local p = ssh.create_subprocess("tr a-z A-Z; echo done >&2")
    local out, err = p:communicate(("abc\n"):rep(100000))
    assert.equal(("ABC\n"):rep(100000), out)
    assert.equal("done\n", err)
    assert.equal(0, p.returncode)
  end)

  it("plugs into the redirection pumps of process.lua", function()
    local process = require "luassh.process"
    if not process.open_source then
      pending("process.open_source is not exported")
      return
    end
    local a = ssh.create_subprocess("printf 'x\\ny\\n'")
    local b = ssh.create_subprocess({"tr", "xy", "XY"})
    local src = process.open_source(a.stdout)
    local dst = process.open_target(b.stdin, "stdout")
    while true do
      local d = src.read()
      if d == "" then break end
      dst.write(d)
    end
    dst.eof()
    assert.equal("X\nY\n", b.stdout:read())
    assert.equal(0, a:wait())
    assert.equal(0, b:wait())
    -- The streams name their process (the server tracks it for resizes
    -- and signals).
    assert.equal(a, rawget(a.stdout, "process"))
    assert.equal(b, rawget(b.stdin, "process"))
  end)
end)

describe("ssh.create_subprocess with a pty", function()
  it("runs on a pseudo-terminal: tty, isatty, controlling terminal", function()
    local p = ssh.create_subprocess(
      "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo isatty; "
      .. "exec 3</dev/tty && echo ctty; echo \"$TERM\"",
      {pty = {term_type = "xterm-test"}})
    local out = p.stdout:read()
    assert.is_string(p.tty)
    assert.truthy(p.tty:match("^/dev/pts/%d+$"))
    assert.equal(p.tty .. "\r\nisatty\r\nctty\r\nxterm-test\r\n", out)
    assert.equal(0, p:wait())
    -- The master's EIO after the child left is EOF.
    assert.is_true(p.stdout:at_eof())
    assert.equal("", p.stdout:read(10))
  end)

  it("has term_size, and set_terminal_size changes it", function()
    local p = ssh.create_subprocess("stty size; read x; stty size",
                                    {pty = {term_size = {132, 43}}})
    assert.equal("43 132\r\n", p.stdout:readline())
    assert.is_true(p:set_terminal_size(100, 30, 800, 600))
    p.stdin:write("go\n")
    assert.equal("go\r\n", p.stdout:readline()) -- the echo
    assert.equal("30 100\r\n", p.stdout:readline())
    assert.equal(0, p:wait())
    -- Without a pty there is no size to set.
    local q = ssh.create_subprocess({"true"})
    assert.is_false(q:set_terminal_size(80, 24))
    q:wait()
  end)

  it("delivers SIGWINCH to the foreground process on a resize", function()
    local p = ssh.create_subprocess(
      "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done",
      {pty = {term_size = {80, 24}}})
    assert.equal("ready\r\n", p.stdout:readline())
    p:set_terminal_size(90, 33)
    assert.equal("33 90\r\n", p.stdout:readline())
    assert.equal(0, p:wait())
  end)

  it("applies terminal modes and sends VEOF for write_eof", function()
    local p = ssh.create_subprocess("read x; echo \"got:$x\"; cat",
                                    {pty = {modes = {ECHO = 0}}})
    p.stdin:write("secret\n")
    assert.equal("got:secret\r\n", p.stdout:readline())
    p.stdin:write("partial") -- no newline: write_eof sends VEOF twice
    p.stdin:write_eof()
    assert.equal("partial", p.stdout:read())
    assert.equal(0, p:wait())
    -- Modes may also come encoded as in a pty-req (RFC 4254 §8).
    local enc = string.pack(">BI4B", 53, 0, 0) -- ECHO off, TTY_OP_END
    local q = ssh.create_subprocess("stty -a", {pty = {modes = enc}})
    local out = q.stdout:read()
    assert.truthy(out:find("%-echo[%s]"))
    q:wait()
  end)

  it("merges stderr into the terminal unless stderr = PIPE", function()
    local p = ssh.create_subprocess("echo out; echo err >&2", {pty = true})
    assert.is_nil(p.stderr)
    assert.equal("out\r\nerr\r\n", p.stdout:read())
    p:wait()
    p = ssh.create_subprocess("echo out; echo err >&2",
                              {pty = true, stderr = ssh.PIPE})
    assert.equal("out\r\n", p.stdout:read())
    assert.equal("err\n", p.stderr:read())
    p:wait()
  end)

  it("refuses stdin or stdout other than the terminal", function()
    assert.has_error(function()
      ssh.create_subprocess("true", {pty = true, stdout = ssh.DEVNULL})
    end)
  end)
end)

describe("closing a subprocess", function()
  it("kills a running sleep 100, and wait() then reports it", function()
    local p = ssh.create_subprocess({"sleep", "100"})
    local pid = p.pid
    assert.is_true(alive(pid))
    p:close()
    assert.is_true(p:is_closing())
    assert.equal(-9, p:wait())
    assert.is_false(alive(pid))
    assert.equal("", p.stdout:read())
    p:close() -- idempotent
  end)

  it("kills and reaps on <close> and on garbage collection", function()
    local pid
    do
      local p <close> = ssh.create_subprocess({"sleep", "100"})
      pid = p.pid
    end
    assert.is_false(alive(pid))
    local q = ssh.create_subprocess({"sleep", "100"})
    pid = q.pid
    q = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_true(eventually(function() return not alive(pid) end))
  end)

  it("kills the whole process group of a new session", function()
    local p = ssh.create_subprocess("sleep 100 & echo $!; wait",
                                    {start_new_session = true})
    local bg = tonumber(p.stdout:readline())
    assert.is_true(alive(bg))
    p:close()
    p:wait()
    assert.is_true(eventually(function() return not alive(bg) end))
  end)

  it("drops unread output and wakes a blocked reader", function()
    local p = ssh.create_subprocess({"sleep", "100"})
    local t = ssh.spawn(function() return p.stdout:read(10) end)
    ssh.sleep(0.02)
    p:close()
    assert.equal("", t:wait())
    p:wait()
  end)
end)

describe("many subprocesses", function()
  it("runs 50 at once", function()
    local procs = {}
    for i = 1, 50 do
      procs[i] = ssh.create_subprocess("sleep 0.1; echo " .. i)
    end
    local results = ssh.gather((function()
      local fns = {}
      for i, p in ipairs(procs) do
        fns[i] = function() return p.stdout:read(), p:wait() end
      end
      return fns
    end)())
    for i = 1, 50 do
      assert.equal(i .. "\n", results[i])
      assert.equal(0, procs[i].returncode)
    end
  end)
end)

describe("subprocess errors", function()
  it("raises OSError for a missing program", function()
    local ok, err = pcall(ssh.create_subprocess, {"no-such-program-xyz", "a"})
    assert.is_false(ok)
    assert.equal("OSError", err.kind)
    assert.equal("ENOENT", err.errno)
    assert.equal("no-such-program-xyz", err.filename)
    assert.truthy(tostring(err):find("cannot run 'no-such-program-xyz'", 1, true))
    ok, err = pcall(ssh.create_subprocess, {"/no/such/dir/prog"})
    assert.is_false(ok)
    assert.equal("ENOENT", err.errno)
    -- Through the shell it is the shell's exit status 127.
    local _, serr, rc = run("no-such-program-xyz")
    assert.equal(127, rc)
    assert.truthy(serr:find("not found"))
  end)

  it("raises OSError for a file that is not executable and a bad cwd", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("\0\1\2 not a program\n")
    f:close()
    local ok, err = pcall(ssh.create_subprocess, {path})
    assert.is_false(ok)
    assert.equal("EACCES", err.errno)
    os.execute("chmod 755 " .. path)
    ok, err = pcall(ssh.create_subprocess, {path})
    assert.is_false(ok)
    assert.equal("ENOEXEC", err.errno)
    os.remove(path)
    ok, err = pcall(ssh.create_subprocess, {"true"}, {cwd = "/no/such/dir"})
    assert.is_false(ok)
    assert.equal("OSError", err.kind)
    assert.equal("ENOENT", err.errno)
    assert.equal("/no/such/dir", err.filename)
    assert.truthy(tostring(err):find("cannot change to directory", 1, true))
  end)

  it("refuses bad arguments", function()
    assert.has_error(function() ssh.create_subprocess({}) end)
    assert.has_error(function() ssh.create_subprocess(42) end)
    assert.has_error(function() ssh.create_subprocess({"true", {}}) end)
    assert.has_error(function() ssh.create_subprocess("true", {stdin = ssh.STDOUT}) end)
    assert.has_error(function() ssh.create_subprocess("true", {stdout = "x"}) end)
    assert.has_error(function() ssh.create_subprocess("true", {env = {["A=B"] = "1"}}) end)
    assert.has_error(function() ssh.create_subprocess("true", {env = {A = "x\0y"}}) end)
    assert.has_error(function() ssh.create_subprocess("true", {pty = {modes = {NOPE = 1}}}) end)
  end)
end)
