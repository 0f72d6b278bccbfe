-- `make demo` runs scripts/demo.lua: it must keep working.
local util = require "spec.support.util"

describe("scripts/demo.lua", function()
  it("fans out over 50 hosts with a limit and prints a summary", function()
    local r = util.luassh(util.q(util.root .. "/scripts/demo.lua"))
    assert.equal(0, r.status, r.stderr)
    assert.matches("50 hosts: 48 ok, 2 failed in", r.stdout, 1, true)
    local elapsed, serial = r.stdout:match("in ([%d.]+) s %(([%d.]+) s if run one by one")
    assert.is_true(tonumber(elapsed) < tonumber(serial) / 4)
  end)
end)
