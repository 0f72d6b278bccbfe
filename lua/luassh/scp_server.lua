-- The server side of SCP (AsyncSSH's allow_scp): a session whose exec
-- command is `scp -t ...` (the client uploads: we are the sink) or
-- `scp -f ...` (the client downloads: we are the source), served by the
-- same C machines as ssh.scp (src/ssh/scp, src/lua_bindings/l_scp.c) and
-- its safety rules.  No shell runs: the command line is split here with
-- POSIX shell quoting, and source wildcards are expanded here.
--
-- Paths are relative to `root` (the `scp_root` listen option, or the
-- sftp_factory's `chroot` when it is a table with one) when given, else
-- to the server's working directory.  The protocol is described in
-- ../shared/specs/scp-protocol-how-it-works.md.
local scpcore = require "luassh.scpcore"

local M = {}

local CHUNK = 65536
local HIGH_WATER = 1024 * 1024

-- Splits a command line like sh does for plain words: '...', "...",
-- backslash escapes.  Returns the words and, for each, whether any part
-- was quoted (a quoted wildcard is literal).
function M.split(cmd)
  local words, quoted = {}, {}
  local i, n = 1, #cmd
  while i <= n do
    while i <= n and cmd:sub(i, i):match("%s") do i = i + 1 end
    if i > n then break end
    local w, q = {}, false
    while i <= n and not cmd:sub(i, i):match("%s") do
      local c = cmd:sub(i, i)
      if c == "'" then
        local j = cmd:find("'", i + 1, true)
        if not j then return nil, "unterminated quote" end
        w[#w + 1] = cmd:sub(i + 1, j - 1)
        q, i = true, j + 1
      elseif c == '"' then
        local j, part = i + 1, {}
        while j <= n and cmd:sub(j, j) ~= '"' do
          local d = cmd:sub(j, j)
          if d == "\\" and j < n and cmd:sub(j + 1, j + 1):match('[$`"\\]') then
            part[#part + 1] = cmd:sub(j + 1, j + 1)
            j = j + 2
          else
            part[#part + 1] = d
            j = j + 1
          end
        end
        if j > n then return nil, "unterminated quote" end
        w[#w + 1] = table.concat(part)
        q, i = true, j + 1
      elseif c == "\\" and i < n then
        w[#w + 1] = cmd:sub(i + 1, i + 1)
        q, i = true, i + 2
      else
        w[#w + 1] = c
        i = i + 1
      end
    end
    words[#words + 1] = table.concat(w)
    quoted[#words] = q
  end
  return words, quoted
end

-- The `scp -t|-f [-r] [-p] [-d] [-v] [--] path...` command, or nil.
function M.parse(cmd)
  local words, quoted = M.split(cmd or "")
  if not words or words[1] ~= "scp" then return nil end
  local o = {paths = {}, quoted = {}}
  local i = 2
  while i <= #words do
    local w = words[i]
    if w == "--" then
      i = i + 1
      break
    end
    if w:sub(1, 1) ~= "-" or #w < 2 then break end
    for c in w:sub(2):gmatch(".") do
      if c == "t" or c == "f" or c == "r" or c == "p" or c == "d" then
        o[c] = true
      elseif c ~= "v" and c ~= "q" then
        return nil, "unsupported scp option -" .. c
      end
    end
    i = i + 1
  end
  for j = i, #words do
    o.paths[#o.paths + 1] = words[j]
    o.quoted[#o.paths] = quoted[j]
  end
  if o.t == o.f then return nil, "scp needs exactly one of -t and -f" end
  if #o.paths == 0 then return nil, "scp needs a path" end
  if o.t and #o.paths ~= 1 then return nil, "scp -t takes one target" end
  return o
end

local function under(root, path)
  if not root or root == "" then return path end
  -- Keep the client inside root: no absolute path, no "..".
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 then parts[#parts] = nil end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return root .. "/" .. table.concat(parts, "/")
end

local function has_wildcard(s) return s:find("[%*%?%[]") ~= nil end

-- With a root, the path (or, when it does not exist yet, its deepest
-- existing parent) must resolve inside root once symlinks are followed:
-- a symlink planted in root that points out is refused.  (Entries found
-- while recursing are opened without following symlinks by the SCP
-- machines.)
local function inside(root, path)
  if not root or root == "" then return true end
  local rroot = scpcore.realpath(root)
  if not rroot then return false end
  local p = path
  while true do
    local r = scpcore.realpath(p)
    if r then
      return r == rroot or r:sub(1, #rroot + 1) == rroot .. "/"
    end
    local parent = p:match("^(.*)/[^/]*$")
    if not parent or parent == "" or parent == p then return false end
    p = parent
  end
end

-- Serves one scp command on the session's raw channel; returns the exit
-- status (0 when every entry was copied).
function M.serve(ch, o, root)
  local mopts = {recurse = o.r, preserve = o.p, target_dir = o.d}
  local role
  if o.t then
    role = "sink"
    mopts.target = under(root, o.paths[1])
    if not inside(root, mopts.target) then
      ch:write("\1scp: " .. o.paths[1] .. ": No such file or directory\n")
      return 1
    end
  else
    role = "source"
    local paths = {}
    for i, p in ipairs(o.paths) do
      local full = under(root, p)
      if not o.quoted[i] and has_wildcard(p) then
        for _, m in ipairs(scpcore.glob(full)) do paths[#paths + 1] = m end
      else
        paths[#paths + 1] = full
      end
    end
    local kept = {}
    for _, p in ipairs(paths) do
      if inside(root, p) then kept[#kept + 1] = p end
    end
    if #kept == 0 then
      pcall(ch.read, ch, 1) -- the sink's first \0
      ch:write("\1scp: " .. o.paths[1] .. ": No such file or directory\n")
      return 1
    end
    mopts.paths = kept
  end
  local m <close> = scpcore.new(role, mopts)
  local input
  while true do
    local out, state, nev = m:pump(input)
    input = nil
    if #out > 0 then
      ch:write(out)
      if ch:get_write_buffer_size() >= HIGH_WATER then ch:drain() end
    end
    if nev > 0 then m:events() end
    if state == "done" then break end
    if state == "input" then
      local d = ch:read(CHUNK)
      while d == nil do
        -- a request (signal, window change): not for scp
        local req = ch:_next_request(false)
        if req and req.want_reply then ch:_reply(req.id, false) end
        d = ch:read(CHUNK)
      end
      if d == "" then m:eof() else input = d end
    end
  end
  pcall(ch.drain, ch)
  local ok = m:result()
  return ok and 0 or 1
end

return M
