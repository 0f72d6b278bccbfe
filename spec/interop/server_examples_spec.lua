-- Every server example of AsyncSSH's documentation that needs no port
-- forwarding, SFTP or SCP, written in Lua in scripts/examples/server_*.lua,
-- run as a program on a random loopback port and driven by real clients:
-- OpenSSH's ssh (with and without a pseudo-terminal), paramiko, asyncssh
-- and our own.  The keys are made with ssh-keygen
-- (spec/support/server_example.lua).
local ssh = require "luassh"
local util = require "spec.support.util"
local sx = require "spec.support.server_example"

local dir

local function connect(ex, user, opts)
  opts = opts or {}
  opts.username = user
  opts.known_hosts = ex.known_hosts
  opts.agent_path = false
  if opts.client_keys == nil then opts.client_keys = false end
  return ssh.connect("127.0.0.1", ex.port, opts)
end

local function key(name) return dir .. "/" .. name end

-- Runs fn(ex) with the example started, and stops it after.
local function with_example(name, fn) sx.with(name, dir, 30, fn) end

local WELCOME = "Welcome to my SSH server, %s!\n"

setup(function()
  dir = util.tmpdir()
  sx.keys(dir)
end)

teardown(function()
  if dir then util.rmtree(dir) end
end)

describe("server_simple.lua (passwords)", function()
  it("lets users in by hashed password, and guest with none", function()
    with_example("server_simple", function(ex)
      -- OpenSSH, the password through SSH_ASKPASS
      local r = sx.openssh_password(ex, "user123", "secretpw", "ls")
      assert.equal(0, r.status, r.stderr)
      assert.equal(WELCOME:format("user123"), r.stdout)
      r = sx.openssh_password(ex, "user123", "wrong", "ls")
      assert.equal(255, r.status)
      assert.matches("Permission denied", r.stderr, 1, true)
      r = sx.openssh(ex, "guest", nil, nil, "ls")
      assert.equal(0, r.status, r.stderr)
      assert.equal(WELCOME:format("guest"), r.stdout)

      -- paramiko and asyncssh
      r = sx.python("paramiko", ex, {user = "user123", password = "secretpw", command = "x"})
      assert.equal(WELCOME:format("user123"), r.stdout, r.error)
      assert.equal(0, r.status)
      r = sx.python("asyncssh", ex, {user = "user123", password = "secretpw", command = "x"})
      assert.equal(WELCOME:format("user123"), r.stdout, r.error)
      assert.equal(0, r.status)
      r = sx.python("asyncssh", ex, {user = "user123", password = "nope", command = "x"})
      assert.matches("PermissionDenied", r.error, 1, true)
      r = sx.python("paramiko", ex, {user = "nobody", password = "", command = "x"})
      assert.matches("Authentication", r.error, 1, true)

      -- ours
      local conn <close> = connect(ex, "user123", {password = "secretpw"})
      assert.equal(WELCOME:format("user123"), conn:run("x").stdout)
      local conn2 <close> = connect(ex, "guest")
      assert.equal(WELCOME:format("guest"), conn2:run("x").stdout)
      local ok, err = pcall(connect, ex, "user123", {password = "secret"})
      assert.is_false(ok)
      assert.equal("PermissionDenied", err.kind)

      -- the server's log: a line per connection and per clean close
      conn:close()
      conn2:close()
      ssh.sleep(0.1)
      local log = ex.log()
      local _, received = log:gsub("SSH connection received from 127%.0%.0%.1%.\n", "")
      local _, closed = log:gsub("SSH connection closed%.\n", "")
      assert.equal(10, received, log)
      -- OpenSSH, asyncssh and ours end with a disconnect "by application"
      assert.is_true(closed >= 5, log)
    end)
  end)
end)

describe("server_authorized_keys.lua (per-user authorized_keys)", function()
  it("takes each user's keys from authorized_keys/<user>", function()
    with_example("server_authorized_keys", function(ex)
      local r = sx.openssh(ex, "alice", "alice", nil, "x")
      assert.equal(0, r.status, r.stderr)
      assert.equal(WELCOME:format("alice"), r.stdout)
      r = sx.openssh(ex, "bob", "bob", nil, "x")
      assert.equal(WELCOME:format("bob"), r.stdout)
      -- alice's key is not in bob's file; carol has no file
      r = sx.openssh(ex, "bob", "alice", nil, "x")
      assert.equal(255, r.status)
      assert.matches("Permission denied (publickey)", r.stderr, 1, true)
      r = sx.openssh(ex, "carol", "carol", nil, "x")
      assert.equal(255, r.status)

      r = sx.python("paramiko", ex, {user = "bob", key = "bob", command = "x"})
      assert.equal(WELCOME:format("bob"), r.stdout, r.error)
      r = sx.python("asyncssh", ex, {user = "alice", key = "alice", command = "x"})
      assert.equal(WELCOME:format("alice"), r.stdout, r.error)
      r = sx.python("asyncssh", ex, {user = "alice", key = "bob", command = "x"})
      assert.matches("PermissionDenied", r.error, 1, true)

      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      assert.equal(WELCOME:format("alice"), conn:run("x").stdout)
      assert.is_false(pcall(connect, ex, "alice", {client_keys = {key("bob")}}))
    end)
  end)
end)

describe("server_user_ca.lua (one authorized_keys with a user CA)", function()
  it("accepts certificates whose principals name the user", function()
    with_example("server_user_ca", function(ex)
      -- ssh -i carol offers carol-cert.pub (signed by ca, principal carol)
      local r = sx.openssh(ex, "carol", "carol", nil, "x")
      assert.equal(0, r.status, r.stderr)
      assert.equal(WELCOME:format("carol"), r.stdout)
      -- the certificate is not valid for another user name
      r = sx.openssh(ex, "dave", "carol", nil, "x")
      assert.equal(255, r.status)
      assert.matches("Permission denied", r.stderr, 1, true)
      -- the same key without its certificate is not trusted
      r = sx.openssh(ex, "carol", "nocert/carol", nil, "x")
      assert.equal(255, r.status)
      -- plain keys listed in the file still work
      r = sx.openssh(ex, "alice", "alice", nil, "x")
      assert.equal(WELCOME:format("alice"), r.stdout)

      r = sx.python("asyncssh", ex, {user = "carol", key = "carol", command = "x"})
      assert.equal(WELCOME:format("carol"), r.stdout, r.error)
      r = sx.python("asyncssh", ex, {user = "dave", key = "carol", command = "x"})
      assert.matches("PermissionDenied", r.error, 1, true)
      r = sx.python("paramiko", ex, {user = "carol", key = "carol", command = "x"})
      assert.equal(WELCOME:format("carol"), r.stdout, r.error)

      local conn <close> = connect(ex, "carol", {
        client_keys = {{key("carol"), key("carol-cert.pub")}}})
      assert.equal(WELCOME:format("carol"), conn:run("x").stdout)
      local ok, err = pcall(connect, ex, "dave", {
        client_keys = {{key("carol"), key("carol-cert.pub")}}})
      assert.is_false(ok)
      assert.equal("PermissionDenied", err.kind)
    end)
  end)
end)

local SUM_PROMPT = "Enter numbers one per line, or EOF when done:\n"

describe("server_sum.lua (input)", function()
  it("adds the numbers it reads, reporting bad lines on stderr", function()
    with_example("server_sum", function(ex)
      local r = sx.openssh(ex, "alice", "alice", nil, "sum", "1\n2\nx\n39\n")
      assert.equal(0, r.status, r.stderr)
      assert.equal(SUM_PROMPT .. "Total = 42\n", r.stdout)
      assert.equal("Invalid number: x\n", r.stderr)

      r = sx.python("paramiko", ex, {user = "bob", key = "bob", command = "sum",
                                     input = "10\n\n-3\n"})
      assert.equal(SUM_PROMPT .. "Total = 7\n", r.stdout, r.error)
      assert.equal("", r.stderr)
      assert.equal(0, r.status)

      -- a break ends the input as EOF does
      r = sx.python("asyncssh", ex, {user = "alice", key = "alice", command = "sum",
        steps = {{"send", "5\n6\nseven\n"}, {"expect", SUM_PROMPT}, {"sleep", 0.2},
                 {"break", 100}}})
      assert.equal(SUM_PROMPT .. "Total = 11\n", r.stdout, r.error)
      assert.equal("Invalid number: seven\n", r.stderr)
      assert.equal(0, r.status)

      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      r = conn:run("sum", {input = "100\n200\n"})
      assert.equal(SUM_PROMPT .. "Total = 300\n", r.stdout)
    end)
  end)

  it("edits lines under a terminal: echo, backspace, Ctrl-U, Ctrl-D", function()
    with_example("server_sum", function(ex)
      local out, ok = sx.pty({
        {"expect", "done:", 10},
        {"send", "12\127" .. "3\r"}, {"sleep", 0.2},   -- 12, backspace, 3
        {"send", "99\21"}, {"sleep", 0.2},             -- 99, Ctrl-U
        {"send", "7\r"},
        {"send", "abc\r"}, {"sleep", 0.2},
        {"send", "\4"},                                -- Ctrl-D: end of input
        {"expect", "Total", 10},
      }, "exec ssh -tt " .. sx.ssh_args(ex, "alice", "alice"))
      assert.is_true(ok, out)
      -- each key was echoed as typed ...
      assert.matches("\r\n12[^\r\n]*3[^\r\n]*\r\n99[^\r\n]*7\r\n", out)
      -- ... and the screen shows the lines as edited: the backspace
      -- erased the 2, Ctrl-U the 99
      assert.same({"Enter numbers one per line, or EOF when done:", "13", "7", "abc",
                   "Invalid number: abc", "Total = 20", "", "[exit 0]", ""},
                  sx.screen(out))
    end)
  end)
end)

describe("server_sum_callback.lua (callback sessions)", function()
  it("sums a shell session's input with SSHServerSession callbacks", function()
    with_example("server_sum_callback", function(ex)
      local r = sx.openssh(ex, "alice", "alice", "-T", "", "1\n2\nx\n39\n")
      assert.equal(0, r.status, r.stderr)
      assert.equal(SUM_PROMPT .. "Total = 42\n", r.stdout)
      assert.equal("Invalid number: x\n", r.stderr)
      -- only shells: an exec request is refused
      r = sx.openssh(ex, "alice", "alice", nil, "ls", "")
      assert.equal(255, r.status)
      assert.matches("exec request failed", r.stderr, 1, true)

      r = sx.python("paramiko", ex, {user = "bob", key = "bob", input = "4\n5\n"})
      assert.equal(SUM_PROMPT .. "Total = 9\n", r.stdout, r.error)
      assert.equal(0, r.status)
      r = sx.python("asyncssh", ex, {user = "alice", key = "alice",
        steps = {{"expect", SUM_PROMPT}, {"send", "8\n9\n"}, {"sleep", 0.2},
                 {"break", 0}}})
      assert.equal(SUM_PROMPT .. "Total = 17\n", r.stdout, r.error)
      assert.equal(0, r.status)

      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      local p = conn:create_process(nil)
      assert.equal(SUM_PROMPT, p.stdout:readline())
      p.stdin:write("20\n2")
      p.stdin:write("2\n")
      p.stdin:write_eof()
      assert.equal("Total = 42\n", p.stdout:read())
      assert.equal(0, p:wait().exit_status)
    end)
  end)

  it("gets lines and a soft EOF (Ctrl-D) from the line editor", function()
    with_example("server_sum_callback", function(ex)
      local out, ok = sx.pty({
        {"expect", "done:", 10},
        {"send", "5\r"}, {"send", "6\r"}, {"sleep", 0.2}, {"send", "\4"},
        {"expect", "Total", 10},
      }, "exec ssh -tt " .. sx.ssh_args(ex, "alice", "alice"))
      assert.is_true(ok, out)
      assert.equal("Enter numbers one per line, or EOF when done:\r\n5\r\n6\r\n"
                   .. "Total = 11\r\n\n[exit 0]\n", out)
    end)
  end)
end)

describe("server_redirect_bc.lua (I/O redirection to a subprocess)", function()
  it("runs bc with the session's input and output", function()
    with_example("server_redirect_bc", function(ex)
      local r = sx.openssh(ex, "alice", "alice", nil, "", "2+2\n2^64\n1/0\n")
      assert.equal(0, r.status, r.stderr)
      assert.equal("4\n18446744073709551616\n", r.stdout)
      assert.matches("Divide by zero", r.stderr, 1, true)

      r = sx.python("asyncssh", ex, {user = "bob", key = "bob", input = "3*7\n"})
      assert.equal("21\n", r.stdout, r.error)
      assert.equal(0, r.status)

      -- interactive: one answer per line, as they come
      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      local p <close> = conn:create_process("bc")
      for _, case in ipairs {{"2+2", "4"}, {"1*2*3*4", "24"}, {"2^32", "4294967296"}} do
        p.stdin:write(case[1] .. "\n")
        assert.equal(case[2] .. "\n", p.stdout:readline())
      end
      p.stdin:write_eof()
      assert.equal(0, p:wait().exit_status)
    end)
  end)
end)

describe("server_chat.lua (several clients at once)", function()
  it("relays messages between ours, OpenSSH (with a terminal) and asyncssh", function()
    with_example("server_chat", function(ex)
      -- alice: our client
      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      local a = conn:create_process("chat")
      assert.equal("Welcome to chat!\n\n", a.stdout:readuntil("\n\n"))
      assert.equal("Enter your name: ", a.stdout:read(17))
      a.stdin:write("alice\n")
      assert.equal("\n0 other users are connected.\n\n", a.stdout:readuntil("connected.\n\n"))

      -- bob: ssh -tt under a pty, typing through the server's line editor
      local bob_steps = {
        {"expect", "name: ", 10}, {"send", "bob\r"},
        {"expect", "*** carol has entered chat ***", 10},
        {"send", "hi from bob\r"},
        {"expect", "alice: bye", 10}, {"send", "\4"}, {"sleep", 0.3},
      }
      local bob_t = ssh.spawn(function()
        return (sx.pty(bob_steps, "exec ssh -tt " .. sx.ssh_args(ex, "bob", "bob")))
      end)
      assert.equal("*** bob has entered chat ***\n", a.stdout:readline())

      -- carol: asyncssh
      local carol = sx.python_start("asyncssh", ex, {user = "carol", key = "carol",
        command = "chat", steps = {
          {"expect", "name: "}, {"send", "carol\n"},
          {"expect", "bob: hi from bob\n"},
          {"send", "hello from carol\n"},
          {"expect", "alice: bye\n"}, {"expect", "*** bob has left chat ***\n"},
          {"eof"}}})
      assert.equal("*** carol has entered chat ***\n", a.stdout:readline())
      assert.equal("bob: hi from bob\n", a.stdout:readline())
      assert.equal("carol: hello from carol\n", a.stdout:readline())
      a.stdin:write("bye\n")
      -- bob leaves first (Ctrl-D), then carol (EOF) once she saw him go
      assert.equal("*** bob has left chat ***\n", a.stdout:readline())
      assert.equal("*** carol has left chat ***\n", a.stdout:readline())
      a.stdin:write_eof()
      assert.equal("", a.stdout:read())
      assert.equal(0, a:wait().exit_status)

      local bob_out = bob_t:wait()
      assert.matches("Welcome to chat!\r\n\r\nEnter your name: bob\r\n\r\n"
        .. "1 other users are connected.\r\n\r\n"
        .. "*** carol has entered chat ***\r\n"
        .. "hi from bob\r\n"
        .. "carol: hello from carol\r\n"
        .. "alice: bye\r\n", bob_out, 1, true)
      assert.matches("[exit 0]", bob_out, 1, true)
      local c = carol()
      assert.is_nil(c.error, c.error)
      assert.equal("Welcome to chat!\n\nEnter your name: \n2 other users are connected.\n\n"
        .. "bob: hi from bob\nalice: bye\n*** bob has left chat ***\n", c.stdout)
      assert.equal(0, c.status)
    end)
  end)
end)

describe("server_line_editing.lua (echo off, then character mode)", function()
  local DONE = "Your secret is safe with me! Press any key to exit..."

  it("hides the secret and exits on one key, under OpenSSH's terminal", function()
    with_example("server_line_editing", function(ex)
      local out, ok = sx.pty({
        {"expect", "secret: ", 10},
        {"send", "hunter2\127" .. "3\r"},
        {"expect", "exit...", 10},
        {"send", "x"},
        {"sleep", 0.3},
      }, "exec ssh -tt " .. sx.ssh_args(ex, "alice", "alice"))
      assert.is_true(ok, out)
      -- nothing of the secret shows, nor the key pressed
      assert.equal("Welcome to my SSH server, alice!\r\n\r\nTell me a secret: \r\n\r\n"
                   .. DONE .. "\r\n\n[exit 0]\n", out)
    end)
  end)

  it("works for asyncssh and our client with a terminal, and without one", function()
    with_example("server_line_editing", function(ex)
      local r = sx.python("asyncssh", ex, {user = "bob", key = "bob", term = {"xterm", 80, 24},
        steps = {{"expect", "secret: "}, {"send", "abc\r"}, {"expect", "exit..."},
                 {"send", "q"}}})
      assert.equal("Welcome to my SSH server, bob!\r\n\r\nTell me a secret: \r\n\r\n"
                   .. DONE .. "\r\n", r.stdout, r.error)
      assert.equal(0, r.status)

      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      local p = conn:create_process(nil, {term_type = "vt100", term_size = {80, 24}})
      assert.equal("Welcome to my SSH server, alice!\r\n\r\nTell me a secret: ",
                   p.stdout:readuntil("secret: "))
      p.stdin:write("s3cr")
      ssh.sleep(0.1)
      p.stdin:write("et\r")
      assert.equal("\r\n\r\n" .. DONE, p.stdout:readuntil("exit..."))
      p.stdin:write("k")
      assert.equal("\r\n", p.stdout:read())
      assert.equal(0, p:wait().exit_status)

      -- no terminal: no line editor, the input is read as it comes
      r = sx.openssh(ex, "alice", "alice", nil, "x", "s3cret\nk")
      assert.equal(0, r.status, r.stderr)
      assert.equal("Welcome to my SSH server, alice!\n\nTell me a secret: \n" .. DONE .. "\n",
                   r.stdout)
    end)
  end)
end)

describe("server_environment.lua", function()
  it("shows the variables the client sent, or fails without any", function()
    with_example("server_environment", function(ex)
      local r = sx.openssh(ex, "alice", "alice", "-o 'SetEnv=LANG=C FOO=barbaz'", "", "")
      assert.equal(0, r.status, r.stderr)
      assert.equal("Environment:\n  FOO:  barbaz\n  LANG: C\n", r.stdout)
      r = sx.openssh(ex, "alice", "alice", nil, "", "")
      assert.equal(1, r.status)
      assert.equal("", r.stdout)
      assert.equal("No environment sent.\n", r.stderr)

      r = sx.python("paramiko", ex, {user = "bob", key = "bob", command = "env",
                                     env = {TZ = "UTC"}})
      assert.equal("Environment:\n  TZ: UTC\n", r.stdout, r.error)
      assert.equal(0, r.status)
      r = sx.python("asyncssh", ex, {user = "bob", key = "bob", command = "env",
                                     env = {A = "1", LONGER_NAME = "two words"}})
      assert.equal("Environment:\n  A:           1\n  LONGER_NAME: two words\n", r.stdout,
                   r.error)

      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      r = conn:run("env", {env = {LC_ALL = "C.UTF-8"}})
      assert.equal("Environment:\n  LC_ALL: C.UTF-8\n", r.stdout)
      r = conn:run("env")
      assert.equal(1, r.exit_status)
      assert.equal("No environment sent.\n", r.stderr)
    end)
  end)
end)

describe("server_terminal.lua", function()
  it("reports the terminal and OpenSSH's window size changes", function()
    with_example("server_terminal", function(ex)
      -- the pty is 80x24, then 120 columns wide while ssh runs: ssh sends
      -- a window-change request (one stty setting: one change)
      local flag = util.q(dir .. "/session_opened")
      local out, ok = sx.pty({
        {"expect", "resizing your window!", 10},
        {"expect", "New window size: 120x24", 10},
      }, ("stty cols 80 rows 24; rm -f %s; "
          .. "(while [ ! -e %s ]; do sleep 0.05; done; sleep 0.3; stty cols 120 </dev/tty) & "
          -- LocalCommand runs once ssh has opened the session
          .. "exec ssh -tt -o PermitLocalCommand=yes -o 'LocalCommand=touch %s' %s")
         :format(flag, flag, flag, sx.ssh_args(ex, "alice", "alice")))
      assert.is_true(ok, out)
      -- (pty_run.py kills ssh at the end: the session runs until the input ends)
      assert.equal("Terminal type: xterm, size: 80x24\r\nTry resizing your window!\r\n"
                   .. "New window size: 120x24\r\n\n[exit -9]\n", out)
    end)
  end)

  it("reports sizes in pixels, for asyncssh, paramiko and our client", function()
    with_example("server_terminal", function(ex)
      local r = sx.python("asyncssh", ex, {user = "bob", key = "bob",
        term = {"vt220", 100, 30, 800, 600},
        steps = {{"expect", "window!\r\n"}, {"resize", 132, 43}, {"expect", "43\r\n"},
                 {"eof"}}})
      assert.equal("Terminal type: vt220, size: 100x30 (800x600 pixels)\r\n"
                   .. "Try resizing your window!\r\nNew window size: 132x43\r\n",
                   r.stdout, r.error)
      assert.equal(0, r.status)

      r = sx.python("paramiko", ex, {user = "bob", key = "bob", term = {"ansi", 90, 20},
        steps = {{"expect", "window!\r\n"}, {"resize", 91, 21}, {"expect", "21\r\n"},
                 {"eof"}}})
      assert.equal("Terminal type: ansi, size: 90x20\r\nTry resizing your window!\r\n"
                   .. "New window size: 91x21\r\n", r.stdout, r.error)
      assert.equal(0, r.status)

      local conn <close> = connect(ex, "alice", {client_keys = {key("alice")}})
      local p = conn:create_process(nil, {term_type = "xterm-256color",
                                          term_size = {120, 50, 1200, 1000}})
      assert.equal("Terminal type: xterm-256color, size: 120x50 (1200x1000 pixels)\r\n",
                   p.stdout:readline())
      assert.equal("Try resizing your window!\r\n", p.stdout:readline())
      p:change_terminal_size(60, 20)
      assert.equal("New window size: 60x20\r\n", p.stdout:readline())
      p:change_terminal_size(61, 21, 610, 420)
      assert.equal("New window size: 61x21 (610x420 pixels)\r\n", p.stdout:readline())
      p.stdin:write_eof()
      assert.equal("", p.stdout:read())
      assert.equal(0, p:wait().exit_status)
    end)
  end)
end)
