-- `make demo` runs scripts/demo.lua: it must keep working, with no
-- OpenSSH server: an embedded luassh server and 50 SSH connections.
local util = require "spec.support.util"

describe("scripts/demo.lua", function()
  it("serves 50 concurrent SSH connections from an embedded server", function()
    local r = util.luassh(util.q(util.root .. "/scripts/demo.lua"))
    assert.equal(0, r.status, r.stderr)
    assert.matches("luassh server listening on 127.0.0.1 port %d+, host key SHA256:", r.stdout)
    assert.matches("50 connections: 45 ok, 5 failed (non-zero exit) in", r.stdout, 1, true)
    -- every connection reports its own output, attributed to it
    for i = 1, 50 do
      if i % 10 == 0 then
        assert.matches(("conn %02d  exit 127"):format(i), r.stdout, 1, true)
      else
        assert.matches(("conn %02d  exit 0 .* hello from connection %d\n"):format(i, i), r.stdout)
      end
    end
  end)
end)
