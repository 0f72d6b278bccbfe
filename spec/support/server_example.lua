-- Runs the server examples (scripts/examples/server_*.lua) as programs on
-- a random loopback port, and the clients that drive them: OpenSSH's ssh
-- (plain, or under a pseudo-terminal with spec/support/pty_run.py), and
-- paramiko / asyncssh through a small Python driver (below).
--
-- Used by spec/interop/server_examples_spec.lua; the calls that wait use
-- ssh.sleep, so they must run inside a luassh task (a busted test is one).
local ssh = require "luassh"
local util = require "spec.support.util"

local M = {}

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local pwd = os.getenv("PWD") or io.popen("pwd"):read("l")
  return pwd .. "/" .. p
end

-- The examples run in their key directory: every path is absolute.
local ROOT = abspath(util.root)
M.PYTHON = "/usr/bin/python3"
M.EXAMPLES = ROOT .. "/scripts/examples/"

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local d = f:read("a")
  f:close()
  return d
end
M.read_file = read_file

--- keys(dir): the keys the examples and clients use, made with ssh-keygen
--- in dir (which becomes the examples' working directory):
---   ssh_host_key            the host key
---   alice, bob, carol, ca   user keys and a user CA (ed25519)
---   carol-cert.pub          carol's key signed by ca, principal "carol"
---   nocert/carol            carol's key without its certificate
---   ssh_user_ca             cert-authority ca.pub, alice.pub, bob.pub
---   authorized_keys/alice   alice.pub; authorized_keys/bob: bob.pub
function M.keys(dir)
  local function sh(cmd)
    local r = util.run(cmd)
    assert(r.status == 0, cmd .. ": " .. r.stderr)
  end
  local q = util.q
  sh(("ssh-keygen -q -t ed25519 -N '' -C host -f %s"):format(q(dir .. "/ssh_host_key")))
  for _, u in ipairs {"alice", "bob", "carol", "ca"} do
    sh(("ssh-keygen -q -t ed25519 -N '' -C %s -f %s"):format(u, q(dir .. "/" .. u)))
  end
  sh(("ssh-keygen -q -s %s -I carol-id -n carol %s"):format(q(dir .. "/ca"),
                                                              q(dir .. "/carol.pub")))
  sh(("mkdir -p %s %s && cp %s %s"):format(q(dir .. "/nocert"), q(dir .. "/authorized_keys"),
                                          q(dir .. "/carol"), q(dir .. "/nocert/carol")))
  local function pub(u) return read_file(dir .. "/" .. u .. ".pub") end
  util.write(dir .. "/ssh_user_ca", "cert-authority " .. pub("ca") .. pub("alice") .. pub("bob"))
  util.write(dir .. "/authorized_keys/alice", pub("alice"))
  util.write(dir .. "/authorized_keys/bob", pub("bob"))
  util.write(dir .. "/drive.py", M.DRIVER)
  util.write(dir .. "/askpass.sh", "#!/bin/sh\ncat \"$(dirname \"$0\")/password\"\n")
  sh("chmod 700 " .. q(dir .. "/askpass.sh"))
end

--- start(name, dir [, env]) -> example {port=, pid=, known_hosts=, dir=,
--- stop(), log(), errors()}: runs scripts/examples/<name>.lua in dir on
--- port 0 (loopback only) and waits for its "listening on port N".
function M.start(name, dir, env)
  local out = ("%s/%s.out"):format(dir, name)
  local err = ("%s/%s.err"):format(dir, name)
  os.remove(out)
  -- LUASSH_EXAMPLE_SECONDS: the example goes away by itself even if the
  -- spec dies before stopping it.
  local cmd = ("cd %s && LUASSH_EXAMPLE_HOST=127.0.0.1 LUASSH_EXAMPLE_SECONDS=60 %s "
               .. "exec %s %s 0 > %s 2> %s & echo $!")
    :format(util.q(dir), env or "", util.q(abspath(util.bin)),
            util.q(M.EXAMPLES .. name .. ".lua"), util.q(out), util.q(err))
  local p = io.popen(cmd)
  local pid = p:read("l")
  p:close()
  local ex = {name = name, pid = pid, dir = dir}
  function ex.log() return read_file(out) end
  function ex.errors() return read_file(err) end
  function ex.stop()
    if ex.pid then os.execute("kill " .. ex.pid .. " 2>/dev/null") ex.pid = nil end
  end
  local deadline = ssh.now() + 10
  while ssh.now() < deadline do
    local port = ex.log():match("listening on port (%d+)")
    if port then
      ex.port = tonumber(port)
      break
    end
    ssh.sleep(0.02)
  end
  if not ex.port then
    ex.stop()
    error(("%s did not start:\n%s%s"):format(name, ex.log(), ex.errors()))
  end
  local key = ssh.read_public_key(dir .. "/ssh_host_key.pub")
  ex.known_hosts = ("%s/known_hosts_%s"):format(dir, name)
  util.write(ex.known_hosts, ssh.format_known_hosts_entry("127.0.0.1", ex.port, key))
  return ex
end

--- with(name, dir, seconds, fn [, env]): runs fn(ex) with the example
--- started (start above) and bounded by ssh.timeout(seconds), stops the
--- example after, and re-raises a failure with the example's stderr.
function M.with(name, dir, seconds, fn, env)
  local ex = M.start(name, dir, env)
  local ok, err = pcall(ssh.timeout, seconds, fn, ex)
  ex.stop()
  if not ok then
    error(tostring(err) .. "\n-- " .. name .. " stderr:\n" .. ex.errors(), 0)
  end
end

-- OpenSSH -------------------------------------------------------------------

--- ssh_args(ex, user [, key]) -> the ssh(1) options (a shell word list) to
--- reach the example as user with key (a file in ex.dir), host key checked.
function M.ssh_args(ex, user, key)
  local a = {"-F /dev/null", "-o BatchMode=yes", "-o IdentitiesOnly=yes",
             "-o StrictHostKeyChecking=yes", "-o LogLevel=ERROR",
             "-o UserKnownHostsFile=" .. util.q(ex.known_hosts),
             "-p " .. ex.port}
  if key then a[#a + 1] = "-i " .. util.q(ex.dir .. "/" .. key) end
  a[#a + 1] = util.q(user .. "@127.0.0.1")
  return table.concat(a, " ")
end

--- openssh(ex, user, key, extra, command, input) -> {stdout=, stderr=,
--- status=}: ssh(1) run to completion, without a terminal; extra: more
--- options (a shell word list) or nil; key nil: no key.
function M.openssh(ex, user, key, extra, command, input)
  return util.run(("ssh %s %s %s"):format(extra or "", M.ssh_args(ex, user, key),
                                          command or ""), input)
end

--- openssh_password(ex, user, password, command) -> result: ssh(1) with
--- password authentication, the password given through SSH_ASKPASS.
function M.openssh_password(ex, user, password, command)
  util.write(ex.dir .. "/password", password .. "\n")
  local env = ("SSH_ASKPASS=%s SSH_ASKPASS_REQUIRE=force DISPLAY=none")
    :format(util.q(ex.dir .. "/askpass.sh"))
  local args = M.ssh_args(ex, user):gsub("%-o BatchMode=yes", "")
  return util.run(("%s ssh -o PreferredAuthentications=password "
                   .. "-o NumberOfPasswordPrompts=1 %s %s"):format(env, args, command or ""), "")
end

--- pty_steps(steps) -> the JSON list spec/support/pty_run.py takes:
--- {"send", text} / {"expect", text, seconds} / {"sleep", seconds}.
function M.pty_steps(steps)
  return M.json(steps)
end

--- pty_argv(steps, command) -> argv for ssh.create_subprocess: the shell
--- command line run under a pseudo-terminal (TERM=xterm), its input
--- scripted; the output is the transcript then "\n[exit N]\n".
function M.pty_argv(steps, command)
  return {M.PYTHON, ROOT .. "/spec/support/pty_run.py", M.pty_steps(steps),
          "--", "sh", "-c", command}
end

--- pty(steps, command) -> transcript, ok (false when an expect step
--- timed out).
function M.pty(steps, command)
  local p = ssh.create_subprocess(M.pty_argv(steps, command))
  p.stdin:write_eof()
  local out = p:communicate()
  return out, p.returncode == 0
end

--- screen(transcript) -> the lines a terminal would show: a small
--- emulator for what line editors send (CR, LF, BS, BEL, ESC[K erase to
--- the end of the line, ESC[nD / ESC[nC cursor left / right; other
--- escape sequences are dropped).  Trailing blanks are removed.
function M.screen(text)
  local lines, row, col = {{}}, 1, 1
  local i = 1
  while i <= #text do
    local c = text:sub(i, i)
    if c == "\r" then
      col = 1
    elseif c == "\n" then
      row = row + 1
      lines[row] = lines[row] or {}
    elseif c == "\b" then
      if col > 1 then col = col - 1 end
    elseif c == "\a" then -- luassh's bell: nothing to see
    elseif c == "\27" then
      local params, final = text:match("^%[([%d;?]*)([%a@])", i + 1)
      if final then
        local n = tonumber(params) or 1
        if final == "K" then
          for k = col, #lines[row] do lines[row][k] = nil end
        elseif final == "D" then
          col = math.max(1, col - n)
        elseif final == "C" then
          col = col + n
        end
        i = i + 1 + #params + 1
      end
    else
      local line = lines[row]
      for k = #line + 1, col - 1 do line[k] = " " end
      line[col] = c
      col = col + 1
    end
    i = i + 1
  end
  local out = {}
  for r = 1, #lines do out[r] = table.concat(lines[r] or {}):gsub("%s+$", "") end
  return out
end

-- Python clients ------------------------------------------------------------

local function json(v)
  local t = type(v)
  if v == nil then return "null" end
  if t == "boolean" or t == "number" then return tostring(v) end
  if t == "string" then
    return '"' .. v:gsub('[%c"\\\128-\255]', function(c)
      return ("\\u%04x"):format(c:byte())
    end) .. '"'
  end
  if v[1] ~= nil or next(v) == nil then
    local out = {}
    for i, x in ipairs(v) do out[i] = json(x) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local out = {}
  for k, x in pairs(v) do out[#out + 1] = json(tostring(k)) .. ":" .. json(x) end
  return "{" .. table.concat(out, ",") .. "}"
end
M.json = json

-- The driver's answer is "\0stdout\0stderr\0status\0error"; status is ""
-- when none came.
local function parse_result(text)
  local fields = {}
  for f in (text .. "\0"):gmatch("([^%z]*)%z") do fields[#fields + 1] = f end
  -- fields[1] is what came before the first NUL (nothing)
  return {stdout = fields[2] or "", stderr = fields[3] or "",
          status = tonumber(fields[4]), error = fields[5] ~= "" and fields[5] or nil,
          raw = text}
end

--- python_command(lib, ex, opts) -> argv list for ssh.create_subprocess
function M.python_command(lib, ex, opts)
  local a = {lib = lib, port = ex.port, known_hosts = ex.known_hosts}
  for k, v in pairs(opts) do a[k] = v end
  if a.key then a.key = ex.dir .. "/" .. a.key end
  return {M.PYTHON, "-W", "ignore", ex.dir .. "/drive.py", json(a)}
end

--- python(lib, ex, opts) -> {stdout=, stderr=, status=, error=}
--- lib: "paramiko" or "asyncssh".  opts: user, key (a file in ex.dir),
--- password, command (nil: a shell), env, term = {type, cols, rows
--- [, pw, ph]}, input (sent, then EOF), steps (instead of input: {"send",
--- text} / {"expect", text [, seconds]} / {"eof"} / {"break", ms} /
--- {"resize", cols, rows} / {"sleep", seconds}).  The session's output is
--- read until the channel closes.
function M.python(lib, ex, opts)
  local p = ssh.create_subprocess(M.python_command(lib, ex, opts))
  p.stdin:write_eof()
  local out, err = p:communicate()
  local r = parse_result(out)
  r.driver_stderr = err
  return r
end

--- python_start(lib, ex, opts) -> a function returning the result when
--- the client is done (runs concurrently meanwhile).
function M.python_start(lib, ex, opts)
  local p = ssh.create_subprocess(M.python_command(lib, ex, opts))
  local t = ssh.spawn(function() return {p:communicate()} end)
  return function()
    local res = t:wait()
    local r = parse_result(res[1])
    r.driver_stderr = res[2]
    return r
  end
end

M.DRIVER = [==[
# A scripted SSH client session with paramiko or asyncssh (see
# spec/support/server_example.lua): writes "\0stdout\0stderr\0status\0error".
import asyncio, json, sys, time

a = json.loads(sys.argv[1])
steps = a.get("steps")
if steps is None:
    steps = [["send", a.get("input") or ""], ["eof"]]

# The server may be done before the input is sent: that is no failure.
def quietly(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass

def result(out, err, status, error=""):
    sys.stdout.buffer.write(b"\0" + bytes(out) + b"\0" + bytes(err) + b"\0"
                            + ("" if status is None else str(status)).encode()
                            + b"\0" + error.encode())

def run_paramiko():
    import paramiko
    c = paramiko.SSHClient()
    c.load_host_keys(a["known_hosts"])
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    out, err = bytearray(), bytearray()
    try:
        c.connect("127.0.0.1", a["port"], username=a["user"],
                  key_filename=a.get("key"), password=a.get("password"),
                  look_for_keys=False, allow_agent=False, timeout=10)
        ch = c.get_transport().open_session()
        for k, v in (a.get("env") or {}).items():
            ch.set_environment_variable(k, v)
        t = a.get("term")
        if t:
            ch.get_pty(term=t[0], width=t[1], height=t[2],
                       width_pixels=t[3] if len(t) > 3 else 0,
                       height_pixels=t[4] if len(t) > 4 else 0)
        if a.get("command") is not None:
            ch.exec_command(a["command"])
        else:
            ch.invoke_shell()
        ch.setblocking(False)

        def pump():
            got = False
            while ch.recv_ready():
                out.extend(ch.recv(65536)); got = True
            while ch.recv_stderr_ready():
                err.extend(ch.recv_stderr(65536)); got = True
            return got

        for s in steps:
            if s[0] == "send":
                if s[1]:
                    quietly(ch.sendall, s[1].encode())
            elif s[0] == "eof":
                quietly(ch.shutdown_write)
            elif s[0] == "resize":
                ch.resize_pty(width=s[1], height=s[2])
            elif s[0] == "sleep":
                time.sleep(s[1])
            elif s[0] == "expect":
                deadline = time.time() + (s[2] if len(s) > 2 else 10)
                while s[1].encode() not in out and time.time() < deadline:
                    if not pump():
                        time.sleep(0.01)
                if s[1].encode() not in out:
                    result(out, err, None, "expect timed out: " + s[1])
                    return
        deadline = time.time() + 10
        while time.time() < deadline:
            if not pump():
                if ch.exit_status_ready() and ch.eof_received:
                    break
                time.sleep(0.01)
        pump()
        status = ch.recv_exit_status() if ch.exit_status_ready() else None
        result(out, err, status)
    except Exception as e:
        result(out, err, None, "%s: %s" % (type(e).__name__, e))
    finally:
        c.close()

async def run_asyncssh():
    import asyncssh
    out, err = bytearray(), bytearray()
    try:
        keys = [a["key"]] if a.get("key") else []
        async with asyncssh.connect(
                "127.0.0.1", a["port"], username=a["user"], client_keys=keys,
                password=a.get("password"), known_hosts=a["known_hosts"],
                agent_path=None, config=[]) as conn:
            kw = {}
            t = a.get("term")
            if t:
                kw["term_type"] = t[0]
                kw["term_size"] = tuple(t[1:])
            proc = await conn.create_process(a.get("command"), env=a.get("env") or {},
                                             encoding=None, **kw)

            async def reader(stream, buf):
                while True:
                    try:
                        d = await stream.read(65536)
                    except asyncssh.Error:
                        continue
                    if not d:
                        return
                    buf.extend(d)

            tasks = [asyncio.ensure_future(reader(proc.stdout, out)),
                     asyncio.ensure_future(reader(proc.stderr, err))]
            for s in steps:
                if s[0] == "send":
                    if s[1]:
                        quietly(proc.stdin.write, s[1].encode())
                elif s[0] == "eof":
                    quietly(proc.stdin.write_eof)
                elif s[0] == "break":
                    proc.send_break(s[1])
                elif s[0] == "resize":
                    proc.change_terminal_size(s[1], s[2])
                elif s[0] == "sleep":
                    await asyncio.sleep(s[1])
                elif s[0] == "expect":
                    deadline = time.time() + (s[2] if len(s) > 2 else 10)
                    while s[1].encode() not in out and time.time() < deadline:
                        await asyncio.sleep(0.01)
                    if s[1].encode() not in out:
                        result(out, err, None, "expect timed out: " + s[1])
                        return
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
            await asyncio.wait_for(proc.wait_closed(), 10)
            result(out, err, proc.exit_status)
    except Exception as e:
        result(out, err, None, "%s: %s" % (type(e).__name__, e))

if a["lib"] == "paramiko":
    run_paramiko()
else:
    asyncio.run(run_asyncssh())
]==]

return M
