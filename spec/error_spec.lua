-- Error objects: kind, code, reason, __tostring.
local ssh = require "luassh"

describe("ssh.Error", function()
  it("builds objects with kind, reason, extra fields and a readable tostring", function()
    local e = ssh.Error.new("ProcessError", "the command exited with status 2", {exit_status = 2})
    assert.equal("ProcessError", e.kind)
    assert.equal(2, e.exit_status)
    assert.equal("ProcessError: the command exited with status 2", tostring(e))
    assert.is_true(ssh.Error.is(e))
    assert.is_true(ssh.Error.is(e, "ProcessError"))
    assert.is_false(ssh.Error.is(e, "Timeout"))
    assert.is_false(ssh.Error.is("string"))
    assert.is_false(ssh.Error.is({kind = "Timeout"}))
  end)

  it("is raised and caught by pcall", function()
    local ok, e = pcall(ssh.Error.raise, "Timeout", "slow")
    assert.is_false(ok)
    assert.equal("Timeout", e.kind)
    assert.equal(ssh.Error.Timeout, e.kind)
  end)

  it("uses the kind alone when there is no reason", function()
    assert.equal("Cancelled", tostring(ssh.Error.new("Cancelled")))
  end)

  it("carries the C error code name for errors from the core", function()
    local ok, e = pcall(ssh.timeout, 0, ssh.sleep, 1)
    assert.is_false(ok)
    assert.equal("TIMEOUT", e.code_name)
    assert.is_true(e.code < 0)
  end)
end)
