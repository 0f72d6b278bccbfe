-- Key files, certificates and known_hosts against OpenSSH's ssh-keygen
-- (issue 4).  The work is done by two driver scripts that build small C
-- drivers over src/ and compare with ssh-keygen; each prints its checks.
local util = require "spec.support.util"

local function run_script(name, env)
  return util.run(string.format("%s sh %s", env or "",
    util.q(util.root .. "/spec/interop/" .. name)))
end

describe("key files and certificates against ssh-keygen", function()
  it("round-trips every key type and format both ways", function()
    local r = run_script("keygen_roundtrip.sh", "CC=gcc")
    local ok_count = select(2, r.stdout:gsub("\nok ", "\n"))
                     + (r.stdout:match("^ok ") and 1 or 0)
    local failures = {}
    for line in r.stdout:gmatch("[^\n]+") do
      if line:match("^not ok") then failures[#failures + 1] = line end
    end
    assert.are.same({}, failures)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.is_true(ok_count >= 200, "only " .. ok_count .. " checks ran")
  end)
end)

describe("known_hosts against ssh-keygen -F", function()
  it("agrees on 10,000 generated lines and 2,000 queries", function()
    local r = run_script("known_hosts_diff.sh", "CC=gcc")
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("disagreements: 0", r.stdout)
  end)
end)
