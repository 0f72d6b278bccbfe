-- The interactive prompt, driven under a pseudo-terminal.
local util = require "spec.support.util"

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function drive(steps, env)
  local json = {}
  for i, s in ipairs(steps) do
    local parts = {}
    for j, v in ipairs(s) do
      parts[j] = type(v) == "string" and json_string(v) or tostring(v)
    end
    json[i] = "[" .. table.concat(parts, ",") .. "]"
  end
  return util.run(string.format("%s HOME=%s /usr/bin/python3 %s %s -- %s",
    env or "", util.q(os.getenv("TMPDIR") or "/tmp"),
    util.q(util.root .. "/spec/support/pty_run.py"),
    util.q("[" .. table.concat(json, ",") .. "]"), util.q(util.bin)))
end

describe("luassh REPL", function()
  it("evaluates expressions and statements and prints results", function()
    local r = drive {
      {"expect", "> ", 5},
      {"send", "x = 20 + 1\n"},
      {"expect", "> ", 5},
      {"send", "x * 2\n"},
      {"expect", "42", 5},
      {"send", "\4"},
      {"sleep", 0.3},
    }
    assert.equal(0, r.status, r.stdout)
    assert.matches("42", r.stdout)
    assert.matches("%[exit 0%]", r.stdout)
  end)

  it("continues incomplete chunks on the next line", function()
    local r = drive {
      {"expect", "> ", 5},
      {"send", "for i = 1, 3 do\n"},
      {"expect", ">> ", 5},
      {"send", "io.write(i, ';') end\n"},
      {"expect", "1;2;3;", 5},
      {"send", "\4"},
    }
    assert.equal(0, r.status, r.stdout)
  end)

  it("has ssh preloaded and lets a line wait", function()
    local r = drive {
      {"expect", "> ", 5},
      {"send", "ssh.sleep(0.05) return 'woke'\n"},
      {"expect", "woke", 5},
      {"send", "\4"},
    }
    assert.equal(0, r.status, r.stdout)
  end)

  it("keeps tasks running while the user types", function()
    local r = drive {
      {"expect", "> ", 5},
      {"send", "ssh.spawn(function() ssh.sleep(0.2) print('background done') end)\n"},
      {"expect", "luassh.Task", 5},
      {"expect", "background done", 5},
      {"send", "'still here'\n"},
      {"expect", "still here", 5},
      {"send", "\4"},
    }
    assert.equal(0, r.status, r.stdout)
  end)

  it("reports errors and keeps going", function()
    local r = drive {
      {"expect", "> ", 5},
      {"send", "error('oops')\n"},
      {"expect", "oops", 5},
      {"send", "x = 1 +\n"},
      {"expect", ">> ", 5},
      {"send", ")\n"},
      {"expect", "unexpected symbol", 5},
      {"send", "'alive'\n"},
      {"expect", "alive", 5},
      {"send", "\4"},
    }
    assert.equal(0, r.status, r.stdout)
  end)

  it("cancels a running line with Ctrl-C", function()
    local r = drive {
      {"expect", "> ", 5},
      {"send", "ssh.sleep(30)\n"},
      {"sleep", 0.3},
      {"send", "\3"},
      {"expect", "Cancelled", 5},
      {"send", "'back'\n"},
      {"expect", "back", 5},
      {"send", "\4"},
    }
    assert.equal(0, r.status, r.stdout)
  end)
end)
