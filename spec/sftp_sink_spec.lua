-- The SFTP client reads the channel through its sink (l_chan.c, l_sftp.c):
-- each CHANNEL_DATA goes to the client as it arrives, and only a reply's
-- unfinished head waits in the channel for the next message.  Real
-- servers seldom cut a reply's 13-byte head across two messages, so a
-- scripted SFTP server (a luassh server's process_factory for the "sftp"
-- subsystem) writes every reply in awkward pieces, each its own message:
-- one byte, then the rest of the length, a head cut after the type, after
-- the id, inside the data length, and so on.
local ssh = require "luassh"
local util = require "spec.support.util"

local host_key = ssh.generate_private_key("ssh-ed25519")
local user_key = ssh.generate_private_key("ssh-ed25519")

local FX_OK, FX_EOF, FX_UNSUPPORTED = 0, 1, 8

-- Where each reply is cut (cycling), as lengths of its first pieces.
local CUTS = {{1}, {3, 2}, {5}, {9}, {12}, {13}, {4, 6, 1}, {}, {17, 1}}

local function scripted_sftp(content)
  return function(p)
    assert(p.subsystem == "sftp")
    local buf, k = "", 0
    local function need(n)
      while #buf < n do
        local d = p.stdin:read(65536)
        if d == nil or d == "" then return false end
        buf = buf .. d
      end
      return true
    end
    local function status(id, code, msg)
      return string.pack(">BI4I4s4s4", 101, id, code, msg, "")
    end
    local function send(reply)
      local out = string.pack(">s4", reply)
      k = k + 1
      local pos = 1
      for _, n in ipairs(CUTS[(k - 1) % #CUTS + 1]) do
        p.stdout:write(out:sub(pos, pos + n - 1))
        p.stdout:drain()
        pos = pos + n
      end
      while pos <= #out do
        p.stdout:write(out:sub(pos, pos + 999))
        p.stdout:drain()
        pos = pos + 1000
      end
    end
    while need(4) do
      local len = string.unpack(">I4", buf)
      if not need(4 + len) then break end
      local pkt = buf:sub(5, 4 + len)
      buf = buf:sub(5 + len)
      local t = pkt:byte(1)
      if t == 1 then
        send(string.pack(">BI4", 2, 3)) -- VERSION 3, no extensions
      else
        local id = string.unpack(">I4", pkt, 2)
        if t == 3 then -- OPEN
          send(string.pack(">BI4s4", 102, id, "h"))
        elseif t == 5 then -- READ: handle, offset, length
          local _, pos = string.unpack(">s4", pkt, 6)
          local off, n = string.unpack(">I8I4", pkt, pos)
          if off >= #content then
            send(status(id, FX_EOF, "end of file"))
          else
            send(string.pack(">BI4s4", 103, id, content:sub(off + 1, off + n)))
          end
        elseif t == 7 or t == 8 or t == 17 then -- LSTAT, FSTAT, STAT
          send(string.pack(">BI4I4I8", 105, id, 1, #content))
        elseif t == 4 then -- CLOSE
          send(status(id, FX_OK, "ok"))
        else
          send(status(id, FX_UNSUPPORTED, "not scripted"))
        end
      end
    end
    p:exit(0)
  end
end

describe("the SFTP client's channel sink", function()
  it("gets intact when reply heads are cut across messages", function()
    local t = {}
    for i = 1, 300007 do t[i] = string.char((i * 7919 + (i >> 5)) % 256) end
    local content = table.concat(t)
    local l <close> = ssh.listen("127.0.0.1", 0, {
      server_host_keys = {host_key}, authorized_client_keys = {user_key},
      process_factory = scripted_sftp(content)})
    local dir = util.tmpdir()
    local conn <close> = ssh.connect("127.0.0.1", l:get_port(), {
      username = "u", client_keys = {user_key}, agent_path = false,
      known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
        "127.0.0.1", l:get_port(), host_key))})
    local sftp <close> = conn:start_sftp_client()
    for _, o in ipairs {{}, {block_size = 1000, max_requests = 1},
                        {block_size = 7777, max_requests = 5}} do
      local dst = dir .. "/down"
      sftp:get("/f", dst, o)
      local f = assert(io.open(dst, "rb"))
      local got = f:read("a")
      f:close()
      assert.equal(#content, #got)
      assert.is_true(got == content, "the copy differs")
    end
    util.rmtree(dir)
  end)
end)
