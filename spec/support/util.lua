-- Helpers shared by the busted specs.
local M = {}

M.root = os.getenv("LUASSH_ROOT") or "."
M.bin = os.getenv("LUASSH_BIN") or (M.root .. "/build/luassh")

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.q = shell_quote

--- run(cmd [, input]) -> {stdout=, stderr=, status=}
-- Runs a shell command line, feeding input on stdin; blocks the loop,
-- which is fine for short CLI checks.
function M.run(cmd, input)
  local tmp = os.tmpname()
  local inf = os.tmpname()
  local f = assert(io.open(inf, "wb"))
  f:write(input or "")
  f:close()
  -- Braces, so that the redirections apply to the whole command line
  -- (a pipeline's last command would get them otherwise).
  local full = string.format("{ %s\n} < %s 2> %s", cmd, shell_quote(inf), shell_quote(tmp))
  local p = assert(io.popen(full, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  local ef = assert(io.open(tmp, "rb"))
  local err = ef:read("a")
  ef:close()
  os.remove(tmp)
  os.remove(inf)
  if how == "signal" then code = 128 + code end
  return {stdout = out, stderr = err, status = ok and 0 or code}
end

--- luassh(args [, input, env]) runs the luassh binary with a shell word list.
function M.luassh(args, input, env)
  return M.run((env or "") .. " " .. shell_quote(M.bin) .. " " .. args, input)
end

--- tmpdir() -> path of a new temporary directory
function M.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

--- sh(cmd): runs cmd with os.execute; raises (naming it) if it fails.
function M.sh(cmd)
  assert(os.execute(cmd), cmd)
end

--- capture(cmd) -> its standard output (popen, status not checked).
function M.capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

--- sha256(path) -> the file's SHA-256 in hex (sha256sum), nil if missing.
function M.sha256(path)
  return M.capture("sha256sum " .. shell_quote(path) .. " 2>/dev/null"):match("^(%x+)")
end

--- read_file(path) -> its contents, or nil when it cannot be read.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

--- kill_pidfile(path): kills the process whose pid the file holds, if any.
function M.kill_pidfile(path)
  local pid = (M.read_file(path) or ""):match("%d+")
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
end

function M.rmtree(path)
  os.execute("rm -rf " .. shell_quote(path))
end

return M
