-- The SSH client against OpenSSH's sshd (issue 5): commands, processes,
-- streams, redirection, pty, env, signals, flow control and fan-out.
local ssh = require "luassh"
local util = require "spec.support.util"
local sshd = require "spec.support.sshd"
local cenv = require "spec.support.client_env"

local timed = cenv.timed

describe("ssh client against OpenSSH sshd", function()
  local env

  setup(function()
    env = cenv.start_sshd {first = {"AcceptEnv LANG LC_* LUASSH_*"}}
  end)
  teardown(function() if env then env.stop() end end)

  local function with_conn(fn, extra)
    return timed(60, function()
      local conn <close> = env.connect(extra)
      return fn(conn)
    end)
  end

  it("runs a command and returns its output and exit status", function()
    with_conn(function(conn)
      local r = conn:run('echo "Hello!"; echo oops >&2; exit 3')
      assert.equal("Hello!\n", r.stdout)
      assert.equal("oops\n", r.stderr)
      assert.equal(3, r.exit_status)
      assert.equal(3, r.returncode)
      assert.is_nil(r.exit_signal)
      assert.equal('echo "Hello!"; echo oops >&2; exit 3', r.command)
    end)
  end)

  it("reports extra info about the connection", function()
    with_conn(function(conn)
      assert.same({"127.0.0.1", env.port}, conn:get_extra_info("peername"))
      local sock = conn:get_extra_info("sockname")
      assert.equal("127.0.0.1", sock[1])
      assert.is_number(sock[2])
      assert.equal("root", conn:get_extra_info("username"))
      assert.matches("^SSH%-2%.0%-OpenSSH_", conn:get_extra_info("server_version"))
      assert.matches("^SSH%-2%.0%-luassh_", conn:get_extra_info("client_version"))
      assert.equal("chacha20-poly1305@openssh.com", conn:get_extra_info("send_cipher"))
      assert.equal("chacha20-poly1305@openssh.com", conn:get_extra_info("recv_cipher"))
      assert.equal("curve25519-sha256", conn:get_extra_info("kex_alg"))
      assert.equal("ssh-ed25519", conn:get_extra_info("server_host_key_alg"))
      assert.equal("dflt", conn:get_extra_info("nosuch", "dflt"))
      assert.matches("^SSHClientConnection 127%.0%.0%.1 port %d+ %(open%)$",
                     tostring(conn))
      local hk = conn:get_server_host_key()
      assert.equal("ssh-ed25519", hk:get_algorithm())
    end)
  end)

  it("binds to local_addr and honours family", function()
    with_conn(function(conn)
      assert.equal("127.0.0.2", conn:get_extra_info("sockname")[1])
    end, {local_addr = "127.0.0.2", family = 4})
    with_conn(function(conn)
      assert.same({"127.0.0.3", 40123}, conn:get_extra_info("sockname"))
    end, {local_addr = {"127.0.0.3", 40123}, family = "inet"})
    local ok, err = pcall(env.connect, {local_addr = "::1"})
    assert.is_false(ok)
    assert.equal("OSError", err.kind)
    assert.matches("127%.0%.0%.1 port " .. env.port, err.reason)
  end)

  it("negotiates the algorithms it is given", function()
    with_conn(function(conn)
      assert.equal("aes128-ctr", conn:get_extra_info("send_cipher"))
      assert.equal("hmac-sha2-256", conn:get_extra_info("send_mac"))
      assert.equal("ecdh-sha2-nistp256", conn:get_extra_info("kex_alg"))
      assert.equal("zlib@openssh.com", conn:get_extra_info("send_compression"))
      assert.equal("rsa-sha2-512", conn:get_extra_info("server_host_key_alg"))
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end, {encryption_algs = {"aes128-ctr"}, mac_algs = "hmac-sha2-256",
          kex_algs = {"ecdh-sha2-nistp256"},
          compression_algs = {"zlib@openssh.com"},
          server_host_key_algs = {"rsa-sha2-512"}})
  end)

  it("raises ProcessError with check=true", function()
    with_conn(function(conn)
      local ok, err = pcall(conn.run, conn, "ls /nonexistent-dir", {check = true})
      assert.is_false(ok)
      assert.equal("ProcessError", err.kind)
      assert.equal(2, err.exit_status)
      assert.matches("No such file", err.stderr)
      assert.equal("", err.stdout)
      assert.equal("ls /nonexistent-dir", err.command)
      assert.matches("'ls /nonexistent%-dir' on 127%.0%.0%.1 port %d+ exited with status 2",
                     tostring(err))
      -- check=true passes a zero exit
      assert.equal("x\n", conn:run("echo x", {check = true}).stdout)
    end)
  end)

  it("reports a remote process killed by a signal", function()
    with_conn(function(conn)
      local r = conn:run("kill -TERM $$")
      assert.equal("TERM", r.exit_signal.signal)
      assert.equal("TERM", r.exit_signal[1])
      assert.equal(-1, r.exit_status)
      assert.equal(-15, r.returncode)
      local ok, err = pcall(conn.run, conn, "kill -KILL $$", {check = true})
      assert.is_false(ok)
      assert.equal("ProcessError", err.kind)
      assert.equal(-9, err.returncode)
      assert.matches("killed by signal KILL", err.reason)
    end)
  end)

  it("feeds input and closes stdin", function()
    with_conn(function(conn)
      assert.equal("3\n2\n1\n", conn:run("tac", {input = "1\n2\n3\n"}).stdout)
      local r = conn:run("wc -c", {input = ("x"):rep(300000)})
      assert.equal("300000", r.stdout:match("%d+"))
    end)
  end)

  it("drives an interactive process line by line", function()
    with_conn(function(conn)
      local proc <close> = conn:create_process("bc")
      local out = {}
      for _, op in ipairs {"2+2", "1*2*3*4", "2^32"} do
        proc.stdin:write(op .. "\n")
        out[#out + 1] = op .. " = " .. proc.stdout:readline()
      end
      assert.same({"2+2 = 4\n", "1*2*3*4 = 24\n", "2^32 = 4294967296\n"}, out)
      proc.stdin:write_eof()
      assert.equal(0, proc:wait().exit_status)
    end)
  end)

  it("reads with readline, readexactly, readuntil, lines and at_eof", function()
    with_conn(function(conn)
      local proc = conn:create_process("printf 'one\\ntwo\\nthree;four|tail'")
      assert.equal("one\n", proc.stdout:readline())
      assert.equal("tw", proc.stdout:readexactly(2))
      assert.equal("o\nthree;", proc.stdout:readuntil(";"))
      assert.is_false(proc.stdout:at_eof())
      local ok, err = pcall(proc.stdout.readuntil, proc.stdout, "#")
      assert.is_false(ok)
      assert.equal("IncompleteReadError", err.kind)
      assert.equal("four|tail", err.partial)
      assert.is_true(proc.stdout:at_eof())
      assert.equal("", proc.stdout:read())
      assert.equal("", proc.stdout:readline())
      proc:wait()

      proc = conn:create_process("printf 'a\\nb\\n\\nc'")
      local lines = {}
      for l in proc.stdout:lines() do lines[#lines + 1] = l end
      assert.same({"a", "b", "", "c"}, lines)
      proc:wait()

      proc = conn:create_process("printf abc")
      local ok2, err2 = pcall(proc.stdout.readexactly, proc.stdout, 5)
      assert.is_false(ok2)
      assert.equal("abc", err2.partial)
      proc:close()
    end)
  end)

  it("refuses a second reader of the same stream", function()
    with_conn(function(conn)
      local proc <close> = conn:create_process("sleep 1; echo late")
      local t = ssh.spawn(function() return proc.stdout:read(10) end)
      ssh.sleep(0.05)
      local ok, err = pcall(proc.stdout.read, proc.stdout, 10)
      assert.is_false(ok)
      assert.matches("another task is already reading", tostring(err))
      assert.equal("late\n", t:wait())
    end)
  end)

  it("redirects stdout and stderr to files and stdin from a file", function()
    local dir = util.tmpdir()
    with_conn(function(conn)
      conn:run("tac", {input = "1\n2\n3\n", stdout = dir .. "/out"})
      local f = assert(io.open(dir .. "/out"))
      assert.equal("3\n2\n1\n", f:read("a"))
      f:close()
      util.write(dir .. "/in", "a\nb\n")
      local r = conn:run("tac; echo e >&2", {stdin = dir .. "/in", stderr = dir .. "/err"})
      assert.equal("b\na\n", r.stdout)
      assert.is_nil(r.stderr)
      f = assert(io.open(dir .. "/err"))
      assert.equal("e\n", f:read("a"))
      f:close()
      -- stderr into the same file as stdout
      conn:run("echo o; echo e >&2", {stdout = dir .. "/both", stderr = ssh.STDOUT})
      f = assert(io.open(dir .. "/both"))
      local both = f:read("a")
      f:close()
      assert.matches("o\n", both)
      assert.matches("e\n", both)
      -- DEVNULL
      r = conn:run("echo gone; echo err >&2", {stdout = ssh.DEVNULL, stdin = ssh.DEVNULL})
      assert.is_nil(r.stdout)
      assert.equal("err\n", r.stderr)
      -- an open Lua file
      local fh = assert(io.open(dir .. "/fh", "wb"))
      conn:run("echo to-handle", {stdout = fh})
      fh:close()
      f = assert(io.open(dir .. "/fh"))
      assert.equal("to-handle\n", f:read("a"))
      f:close()
    end)
    util.rmtree(dir)
  end)

  it("writes a redirection to a path from the channel: big, early, failing", function()
    local dir = util.tmpdir()
    with_conn(function(conn)
      -- 8 MiB through the channel's own writes, stdout and stderr apart.
      local r = conn:run("head -c 8388608 /dev/urandom | tee /dev/stderr",
                         {stdout = dir .. "/o", stderr = dir .. "/e"})
      assert.equal(0, r.exit_status)
      assert.is_nil(r.stdout)
      assert.is_nil(r.stderr)
      assert.equal("8388608\n", util.capture("stat -c %s " .. util.q(dir .. "/o")))
      assert.equal(util.sha256(dir .. "/o"), util.sha256(dir .. "/e"))
      -- Output that came before the redirection goes first.
      local p = conn:create_process("echo first; sleep 0.5; echo second")
      assert.equal("first\n", p.stdout:readline())
      p:redirect{stdout = dir .. "/late"}
      p:wait()
      assert.equal("second\n", util.capture("cat " .. util.q(dir .. "/late")))
      p = conn:create_process("echo early; sleep 0.5; echo later")
      ssh.sleep(0.3) -- "early" is queued, not read
      p:redirect{stdout = dir .. "/queued"}
      p:wait()
      assert.equal("early\nlater\n", util.capture("cat " .. util.q(dir .. "/queued")))
      -- A file that cannot be written: OSError naming it, the rest dropped.
      local ok, err = pcall(conn.run, conn, "head -c 300000 /dev/zero",
                            {stdout = "/dev/full"})
      assert.is_false(ok)
      assert.equal("OSError", err.kind)
      assert.matches("cannot write stdout to '/dev/full': No space left on device",
                     tostring(err), 1, true)
      ok, err = pcall(conn.run, conn, "echo x", {stdout = dir .. "/no/such/dir"})
      assert.is_false(ok)
      assert.equal("OSError", err.kind)
      assert.matches("cannot open '" .. dir .. "/no/such/dir' for stdout", tostring(err),
                     1, true)
      -- The connection is still good.
      assert.equal("fine\n", conn:run("echo fine").stdout)
    end)
    util.rmtree(dir)
  end)

  it("pipes a local process into a remote one", function()
    with_conn(function(conn)
      local local_proc = io.popen([[printf '1\n2\n3\n']], "r")
      local r = conn:run("tac", {stdin = local_proc})
      local_proc:close()
      assert.equal("3\n2\n1\n", r.stdout)
    end)
  end)

  it("pipes one remote process into another, on one or two connections", function()
    with_conn(function(conn)
      local proc1 = conn:create_process([[printf '1\n2\n3\n']])
      local r = conn:run("tac", {stdin = proc1.stdout})
      assert.equal("3\n2\n1\n", r.stdout)
      proc1:wait()
      local conn2 <close> = env.connect()
      local src = conn2:create_process("seq 1 5")
      local dst = conn:create_process("tac")
      src:redirect{stdout = dst.stdin}
      local res = dst:wait()
      assert.equal("5\n4\n3\n2\n1\n", res.stdout)
      src:wait()
    end)
  end)

  it("stops a redirection quietly when its reader goes away", function()
    with_conn(function(conn)
      local src = conn:create_process("seq 1 200000")
      local r = conn:run("head -n 2", {stdin = src.stdout})
      assert.equal("1\n2\n", r.stdout)
      assert.equal(0, r.exit_status)
      src:close()
    end)
  end)

  it("requests a pty with the terminal type and size", function()
    with_conn(function(conn)
      local r = conn:run("echo $TERM; stty size",
                         {term_type = "xterm-color", term_size = {80, 24}})
      assert.equal("xterm-color\r\n24 80\r\n", r.stdout)
      r = conn:run("stty -a", {term_type = "vt100", term_modes = {IUTF8 = 1, ECHO = 0}})
      assert.matches(" iutf8", r.stdout)
      assert.matches("%-echo ", r.stdout)
    end)
  end)

  it("changes the terminal size of a running process", function()
    with_conn(function(conn)
      local proc = conn:create_process("sleep 0.5; stty size",
                                       {term_type = "xterm", term_size = {80, 24}})
      proc:change_terminal_size(132, 43)
      local r = proc:wait()
      assert.equal("43 132\r\n", r.stdout)
    end)
  end)

  it("sends environment variables the server accepts", function()
    with_conn(function(conn)
      local r = conn:run("env", {env = {LANG = "en_GB", LC_COLLATE = "C", NOPE = "x"}})
      assert.matches("\nLANG=en_GB\n", "\n" .. r.stdout)
      assert.matches("\nLC_COLLATE=C\n", "\n" .. r.stdout)
      assert.not_matches("NOPE=", r.stdout)
    end)
    -- send_env copies local variables by pattern (tools/run-tests.sh
    -- sets LUASSH_ROOT)
    local root = os.getenv("LUASSH_ROOT")
    if root then
      with_conn(function(conn)
        local r = conn:run("echo $LUASSH_ROOT", {send_env = {"LUASSH_R*"}})
        assert.equal(root .. "\n", r.stdout)
      end)
    end
  end)

  it("times out a command and closes its channel", function()
    with_conn(function(conn)
      local t0 = ssh.now()
      local ok, err = pcall(conn.run, conn, "echo started; sleep 10", {timeout = 0.5})
      assert.is_false(ok)
      assert.equal("Timeout", err.kind)
      assert.equal("started\n", err.stdout)
      assert.equal("echo started; sleep 10", err.command)
      assert.is_true(ssh.now() - t0 < 5)
      -- the connection is still usable
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end)
  end)

  it("runs a shell and a subsystem", function()
    with_conn(function(conn)
      local proc = conn:create_process(nil, {})
      proc.stdin:write("echo from-shell\nexit 4\n")
      local r = proc:wait()
      assert.equal("from-shell\n", r.stdout)
      assert.equal(4, r.exit_status)
      local ok, err = pcall(conn.create_process, conn, nil, {subsystem = "nosuch"})
      assert.is_false(ok)
      assert.equal("ChannelOpenError", err.kind)
      assert.matches("subsystem 'nosuch'", err.reason)
    end)
  end)

  it("delivers session callbacks in order", function()
    with_conn(function(conn)
      local log = {}
      local session = {
        connection_made = function(self, chan) log[#log + 1] = "made" end,
        session_started = function(self) log[#log + 1] = "started" end,
        data_received = function(self, data, datatype)
          log[#log + 1] = (datatype == ssh.EXTENDED_DATA_STDERR and "err:" or "out:") .. data
        end,
        eof_received = function(self) log[#log + 1] = "eof" end,
        exit_status_received = function(self, st) log[#log + 1] = "exit:" .. st end,
        connection_lost = function(self, exc) log[#log + 1] = "lost:" .. tostring(exc) end,
      }
      local chan, s = conn:create_session(session, "echo hi; echo ho >&2; exit 7")
      assert.equal(session, s)
      chan:wait_closed()
      assert.equal("made", log[1])
      assert.equal("started", log[2])
      local text = table.concat(log, ",")
      assert.matches("out:hi\n", text)
      assert.matches("err:ho\n", text)
      assert.equal("lost:nil", log[#log])
      assert.equal("exit:7", log[#log - 1])
      assert.equal(7, chan:get_exit_status())
    end)
  end)

  it("keeps many channels busy on one connection", function()
    with_conn(function(conn)
      local fns = {}
      for i = 1, 8 do
        fns[i] = function() return conn:run("sleep 0.2; echo " .. i).stdout end
      end
      local res = ssh.gather(fns)
      for i = 1, 8 do assert.equal(i .. "\n", res[i]) end
    end)
  end)

  it("streams a large download without growing past the window", function()
    with_conn(function(conn)
      local size = 64 * 1024 * 1024
      local proc = conn:create_process("head -c " .. size .. " /dev/zero")
      -- A reader that does not read: the server stops after one window.
      ssh.sleep(0.3)
      assert.is_true(proc.channel:_buffered(0) <= 2 * 1024 * 1024)
      local total = 0
      while true do
        local d = proc.stdout:read(65536)
        if d == "" then break end
        total = total + #d
      end
      assert.equal(size, total)
      assert.equal(0, proc:wait().exit_status)
    end)
  end)

  it("uploads through drain() without buffering everything", function()
    with_conn(function(conn)
      local proc = conn:create_process("wc -c")
      local chunk = ("y"):rep(1024 * 1024)
      for _ = 1, 16 do
        proc.stdin:write(chunk)
        assert.is_true(proc.stdin:get_write_buffer_size() <= 2 * #chunk)
        proc.stdin:drain()
      end
      proc.stdin:write_eof()
      local r = proc:wait()
      assert.equal(tostring(16 * 1024 * 1024), r.stdout:match("%d+"))
    end)
  end)

  it("wakes every waiting task with ConnectionLost when the connection drops", function()
    with_conn(function(conn)
      local waiting = conn:create_process("sleep 30")
      local reader = ssh.spawn(function() return waiting.stdout:read(10) end)
      local waiter = ssh.spawn(function() return waiting:wait() end)
      ssh.sleep(0.2)
      -- The shell's parent is sshd's session process: killing it drops
      -- the connection under every channel.
      local ok, err = pcall(conn.run, conn, "kill -9 $PPID")
      assert.is_false(ok)
      assert.equal("ConnectionLost", err.kind)
      assert.matches("127%.0%.0%.1 port " .. env.port, err.reason)
      local ok1, e1 = pcall(reader.wait, reader)
      local ok2, e2 = pcall(waiter.wait, waiter)
      assert.is_false(ok1)
      assert.equal("ConnectionLost", e1.kind)
      assert.is_false(ok2)
      assert.equal("ConnectionLost", e2.kind)
      assert.is_true(conn:is_closed())
      local ok3, e3 = pcall(conn.run, conn, "true")
      assert.is_false(ok3)
      assert.equal("ConnectionLost", e3.kind)
    end)
  end)

  it("closes a connection with live processes", function()
    timed(30, function()
      local conn = env.connect()
      local proc = conn:create_process("sleep 30")
      local t = ssh.spawn(function() return proc:wait() end)
      ssh.sleep(0.1)
      conn:close()
      conn:wait_closed()
      local ok, err = pcall(t.wait, t)
      assert.is_false(ok)
      assert.equal("ConnectionLost", err.kind)
      assert.is_true(conn:is_closed())
    end)
  end)

  it("closes with <close> and disconnect()", function()
    timed(30, function()
      local c1
      do
        local conn <close> = env.connect()
        c1 = conn
        assert.is_false(conn:is_closed())
      end
      assert.is_true(c1:is_closed())
      local c2 = env.connect()
      c2:disconnect(11, "bye")
      c2:wait_closed()
      assert.is_true(c2:is_closed())
    end)
  end)

  it("frees a connection and its processes nobody holds", function()
    timed(30, function()
      for _ = 1, 3 do
        local conn = env.connect()
        conn:create_process("sleep 30")
        conn = nil
        collectgarbage()
        collectgarbage()
      end
      ssh.sleep(0.1)
      -- the server is still fine
      local conn <close> = env.connect()
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end)
  end)

  it("runs 100 connections with 5 sessions each at once", function()
    timed(120, function()
      local fns = {}
      for i = 1, 100 do
        fns[i] = function()
          local conn <close> = env.connect()
          local sessions = {}
          for j = 1, 5 do
            sessions[j] = function()
              return conn:run(("echo %d-%d"):format(i, j)).stdout
            end
          end
          local out = ssh.gather(sessions)
          return {host = conn:get_extra_info("peername")[1], out = out}
        end
      end
      local results = ssh.gather(fns, {return_errors = true})
      for i = 1, 100 do
        local r = results[i]
        assert.is_table(r)
        assert.is_nil(r.kind, tostring(r))
        assert.equal("127.0.0.1", r.host)
        for j = 1, 5 do assert.equal(("%d-%d\n"):format(i, j), r.out[j]) end
      end
    end)
  end)
end)
