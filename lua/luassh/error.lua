-- Error objects, as AsyncSSH raises exceptions (DESIGN.md, "Lua API shape").
--
-- An error is a table with `kind`, `code`, `reason` and extra fields, whose
-- __tostring reads as one sentence.  `pcall` catches it; test the kind with
-- `err.kind == "Timeout"` or `ssh.Error.is(err, "Timeout")`.
local core = require "luassh.core"

local Error = {}

Error.metatable = core.error_metatable()

--- Error.new(kind, reason [, fields]) -> error object
function Error.new(kind, reason, fields)
  return core.error_new(kind, reason, fields)
end

--- Error.is(value [, kind]) -> true if value is a luassh error (of kind,
--- or of a family such as "SFTPError" named by its `base` field)
function Error.is(value, kind)
  return core.error_is(value, kind) or
    (kind ~= nil and core.error_is(value) and value.base == kind)
end

--- Error.raise(kind, reason [, fields [, level]])
function Error.raise(kind, reason, fields)
  error(core.error_new(kind, reason, fields), 0)
end

-- The kinds raised by luassh, so scripts can compare against names that
-- exist: `err.kind == ssh.Error.Timeout`.
for _, kind in ipairs {
  "Timeout", "Cancelled", "Deadlock", "DisconnectError", "ConnectionLost",
  "PermissionDenied", "HostKeyNotVerifiable", "ProcessError",
  "ChannelOpenError", "SFTPError", "KeyImportError", "KeyEncryptionError",
  "KeyExportError", "KeyGenerationError", "ValueError", "ProtocolError",
  "ConfigError", "KeyExchangeFailed", "MACError", "CompressionError",
  "ServiceNotAvailable", "ProtocolNotSupported", "IllegalUserName",
  "ConnectionRefused", "HostNotFound", "OSError", "IncompleteReadError",
  "BrokenPipe", "BreakReceived", "SignalReceived", "TerminalSizeChanged",
  "PasswordChangeRequired",
} do
  Error[kind] = kind
end

return Error
