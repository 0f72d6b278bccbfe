-- The server-side line editor for pty sessions (AsyncSSH's SSHLineEditor).
--
-- Sans-I/O: the editor never touches a channel.  The server
--   * feeds it the bytes the client sent:   out, input, events = ed:feed(data)
--   * writes `out` (echo, cursor moves, bells) back to the channel,
--   * hands each string of `input` to the application's stdin, in order,
--   * and passes what the application writes through ed:process_output(data),
--     writing the returned string to the channel instead.
-- feed and set_line_mode return (out, input, events); process_output,
-- set_echo, set_width and redraw return only `out` (they never produce
-- input).  `events` is the ordered list of everything the application must
-- see: {type="data", data=s} (the same strings as `input`), {type="eof"}
-- (Ctrl-D on an empty line: a soft EOF, the channel stays open),
-- {type="break", msec=0} (Ctrl-C, F19), {type="signal", signal=s} (from a
-- registered key) and {type="error", key=, error=} (a key handler raised).
--
-- In line mode, input is edited on a terminal line and delivered a line at
-- a time ("text\n"); in raw mode (set_line_mode(false)) bytes pass through
-- untouched and unechoed.  Output always has bare "\n" turned into "\r\n"
-- (the client's terminal is raw: no server-side OPOST).
--
-- Terminal model: ANSI terminals (anything but "dumb"/"unknown") wrap at
-- `width` columns; the editor keeps the cursor position as a linear cell
-- number counted from the start of the row where the input begins
-- (row = cell // width, column = cell % width) and moves with CSI A/B/C/D,
-- erases with CSI K/J.  Like a terminal, it leaves the cursor in the
-- "pending wrap" state when a row is filled exactly (_pending): the model
-- already puts the cursor on the next row, and " \b" makes that true just
-- before the cursor has to move.  A dumb terminal gets only "\b", spaces and
-- re-printed characters, and no wrap handling.  Characters are UTF-8 code
-- points (combining marks join the previous one; East Asian wide ones take
-- two columns); invalid bytes are kept as one-column characters, so the
-- delivered line is always the bytes typed.
local LineEditor = {}
LineEditor.__index = LineEditor

local byte, char, concat = string.byte, string.char, table.concat
local tinsert, tremove = table.insert, table.remove

local CSI = "\27["
local DEFAULT_WIDTH = 80
local NO_WRAP = 1 << 40         -- the "width" of a dumb terminal
local MAX_ESC = 32              -- longest escape sequence we wait for
local MAX_PROMPT = 1024         -- longest prompt remembered for Ctrl-L
local MAX_JOINED = 32           -- bytes of combining marks on one character

-- Display width of code points: ranges of zero-width (combining, format)
-- and of double-width (East Asian Wide/Fullwidth, emoji) characters.
-- Approximate, like wcwidth tables; sorted for a binary search.
local ZERO = {
  {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x05BF, 0x05BF},
  {0x05C1, 0x05C2}, {0x05C4, 0x05C5}, {0x05C7, 0x05C7}, {0x0610, 0x061A},
  {0x064B, 0x065F}, {0x0670, 0x0670}, {0x06D6, 0x06DC}, {0x06DF, 0x06E4},
  {0x06E7, 0x06E8}, {0x06EA, 0x06ED}, {0x0900, 0x0902}, {0x093C, 0x093C},
  {0x0941, 0x0948}, {0x094D, 0x094D}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A},
  {0x0E47, 0x0E4E}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F},
  {0x2028, 0x202E}, {0x2060, 0x2064}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F},
  {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF},
}
local WIDE = {
  {0x1100, 0x115F}, {0x231A, 0x231B}, {0x2329, 0x232A}, {0x23E9, 0x23EC},
  {0x23F0, 0x23F0}, {0x23F3, 0x23F3}, {0x25FD, 0x25FE}, {0x2614, 0x2615},
  {0x2648, 0x2653}, {0x267F, 0x267F}, {0x2693, 0x2693}, {0x26A1, 0x26A1},
  {0x26AA, 0x26AB}, {0x26BD, 0x26BE}, {0x26C4, 0x26C5}, {0x26CE, 0x26CE},
  {0x26D4, 0x26D4}, {0x26EA, 0x26EA}, {0x26F2, 0x26F3}, {0x26F5, 0x26F5},
  {0x26FA, 0x26FA}, {0x26FD, 0x26FD}, {0x2705, 0x2705}, {0x270A, 0x270B},
  {0x2728, 0x2728}, {0x274C, 0x274C}, {0x274E, 0x274E}, {0x2753, 0x2755},
  {0x2757, 0x2757}, {0x2795, 0x2797}, {0x27B0, 0x27B0}, {0x27BF, 0x27BF},
  {0x2B1B, 0x2B1C}, {0x2B50, 0x2B50}, {0x2B55, 0x2B55}, {0x2E80, 0x303E},
  {0x3041, 0x33FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xA000, 0xA4CF},
  {0xA960, 0xA97F}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE10, 0xFE19},
  {0xFE30, 0xFE6F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x16FE0, 0x16FE4},
  {0x17000, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004},
  {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A},
  {0x1F200, 0x1F251}, {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF},
  {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF},
  {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
}

local function in_ranges(t, cp)
  local lo, hi = 1, #t
  while lo <= hi do
    local mid = (lo + hi) // 2
    local r = t[mid]
    if cp < r[1] then hi = mid - 1
    elseif cp > r[2] then lo = mid + 1
    else return true end
  end
  return false
end

-- Columns a code point takes (nil: an invalid byte, shown as one column).
local function cp_width(cp)
  if cp == nil or cp < 0x300 then return 1 end
  if in_ranges(ZERO, cp) then return 0 end
  if in_ranges(WIDE, cp) then return 2 end
  return 1
end
LineEditor.char_width = cp_width

-- Printable: not C0, DEL or C1.  Invalid bytes (cp nil) count as printable.
local function printable(cp)
  return cp == nil or (cp >= 0x20 and cp ~= 0x7F and (cp < 0x80 or cp >= 0xA0))
end

--[[
Decodes one UTF-8 character at s[i] (RFC 3629 section 4: no overlongs, no
surrogates, nothing above U+10FFFF).  Returns its length and code point;
the length alone (code point nil) for an invalid byte; nothing when the
string ends inside a character that is valid so far.
--]]
local function utf8_at(s, i)
  local b = byte(s, i)
  if b < 0x80 then return 1, b end
  local len, cp, lo, hi
  if b >= 0xC2 and b <= 0xDF then len, cp = 2, b & 0x1F
  elseif b >= 0xE0 and b <= 0xEF then len, cp = 3, b & 0x0F
  elseif b >= 0xF0 and b <= 0xF4 then len, cp = 4, b & 0x07
  else return 1 end
  lo, hi = 0x80, 0xBF
  if b == 0xE0 then lo = 0xA0 elseif b == 0xED then hi = 0x9F
  elseif b == 0xF0 then lo = 0x90 elseif b == 0xF4 then hi = 0x8F end
  for j = 1, len - 1 do
    local c = byte(s, i + j)
    if c == nil then return nil end
    if c < lo or c > hi then return 1 end
    cp = (cp << 6) | (c & 0x3F)
    lo, hi = 0x80, 0xBF
  end
  return len, cp
end

-- Splits a string into display units (characters with their combining
-- marks) and their widths.  A trailing incomplete sequence becomes
-- one-column invalid bytes.
local function units_of(s)
  local units, widths = {}, {}
  local i, n = 1, #s
  while i <= n do
    local len, cp = utf8_at(s, i)
    if len == nil then len, cp = 1, nil end
    local u = s:sub(i, i + len - 1)
    local w = cp_width(cp)
    local m = #units
    if w == 0 and m > 0 and #units[m] + len <= MAX_JOINED then
      units[m] = units[m] .. u
    else
      units[m + 1], widths[m + 1] = u, w
    end
    i = i + len
  end
  return units, widths
end

local function is_space(u) return u == " " or u == "\t" end

-- Terminal types that understand no escape sequences.
local function is_dumb(term_type)
  return term_type == "dumb" or term_type == "unknown"
end

--[[
LineEditor.new(opts) -> editor.  opts (all optional):
  echo            (true)  echo input in line mode
  line_echo       (true)  leave a completed line on the screen ("\r\n");
                          false erases it and leaves the output to the app
  line_mode       (true)  start in line mode
  history_size    (1000)  lines remembered for up/down; 0 disables
  max_line_length (1024)  characters per line; more input rings the bell
  term_type       (nil)   the pty's TERM; "dumb"/"unknown" get no escapes
  width           (80)    the terminal's columns (0 means 80)
--]]
function LineEditor.new(opts)
  opts = opts or {}
  local function num(name, default)
    local v = opts[name]
    if v == nil then return default end
    if math.type(v) ~= "integer" or v < 0 then
      error("line editor option '" .. name .. "' must be a non-negative integer", 3)
    end
    return v
  end
  local self = setmetatable({
    _echo = opts.echo ~= false,
    _line_echo = opts.line_echo ~= false,
    _line_mode = opts.line_mode ~= false,
    _history_size = num("history_size", 1000),
    _max = num("max_line_length", 1024),
    _ansi = not is_dumb(opts.term_type),
    _chars = {}, _widths = {}, _cells = {[0] = 0}, _pos = 0,
    _start = 0,      -- cell where the input begins (a column of row 0)
    _cur = 0,        -- cell of the terminal's cursor while input is shown
    _end = 0,        -- cell after the last input character on screen
    _pending = false, -- the terminal waits to wrap at the right margin
    _col = 0,        -- output column since the last CR/LF (may exceed width)
    _prompt = "",    -- output since the last CR/LF (nil: too long)
    _oesc = nil,     -- state of an escape sequence in the output
    _last_cr = false,
    _pend = "",      -- bytes of an incomplete key or character
    _skip_lf = false,
    _skip_csi = false,
    _history = {}, _hidx = 1, _draft = nil,
    _erased = "",
    _keys = {},
    _depth = 0, _out = {}, _input = {}, _events = {},
  }, LineEditor)
  self._W = self._ansi and DEFAULT_WIDTH or NO_WRAP
  self:_set_width(num("width", 0))
  return self
end

-- Output and results collection --------------------------------------------

local function emit(self, s)
  if s ~= "" then self._out[#self._out + 1] = s end
end

local function event(self, ev)
  self._events[#self._events + 1] = ev
end

local function deliver(self, data)
  self._input[#self._input + 1] = data
  event(self, {type = "data", data = data})
end

-- Runs fn inside a collection scope and returns (out, input, events).
-- Nested calls (a key handler changing the mode) merge into the outer one.
local function run(self, fn, ...)
  self._depth = self._depth + 1
  local ok, err = pcall(fn, self, ...)
  self._depth = self._depth - 1
  if not ok then
    if self._depth == 0 then self._out, self._input, self._events = {}, {}, {} end
    error(err, 0)
  end
  if self._depth > 0 then return "", {}, {} end
  local out, input, events = concat(self._out), self._input, self._events
  self._out, self._input, self._events = {}, {}, {}
  return out, input, events
end

-- One bell for a run of refused keys (a long paste into a full line).
function LineEditor:_bell()
  if self._out[#self._out] ~= "\a" then emit(self, "\a") end
end

function LineEditor:_visible() return self._line_mode and self._echo end

-- Cursor and drawing -----------------------------------------------------------

-- Recomputes the cells of characters k+1..n (cells[k] is unchanged).  A
-- wide character that would straddle the right margin starts the next row,
-- as terminals do.
function LineEditor:_relayout(k)
  local cells, widths, W = self._cells, self._widths, self._W
  cells[0] = self._start
  local c = cells[k]
  for j = k + 1, #self._chars do
    local w = widths[j]
    if w == 2 and c % W == W - 1 then c = c + 1 end
    c = c + w
    cells[j] = c
  end
end

-- Moves the terminal's cursor to cell `to`.
function LineEditor:_move(to)
  local from = self._cur
  if from == to then return end
  self:_unpend()
  if self._ansi then
    local W = self._W
    local fr, fc, tr, tc = from // W, from % W, to // W, to % W
    if tr < fr then emit(self, CSI .. (fr - tr) .. "A")
    elseif tr > fr then emit(self, CSI .. (tr - fr) .. "B") end
    if tc < fc then
      local d = fc - tc
      emit(self, d <= 4 and ("\b"):rep(d) or CSI .. d .. "D")
    elseif tc > fc then
      emit(self, CSI .. (tc - fc) .. "C")
    end
  elseif to < from then
    emit(self, ("\b"):rep(from - to))
  else
    -- A dumb terminal moves right by printing what is there again.
    local cells, parts = self._cells, {}
    for k = 1, #self._chars do
      if cells[k - 1] >= from and cells[k] <= to then
        parts[#parts + 1] = self._chars[k]
      end
    end
    emit(self, concat(parts))
  end
  self._cur = to
end

-- Puts the cursor really at the start of the next row when the terminal
-- holds it at the right margin, waiting to wrap.
function LineEditor:_unpend()
  if self._pending then
    emit(self, " \b")
    self._pending = false
  end
end

-- Erases what is on screen from the cursor up to cell old_end.
function LineEditor:_clear_to(old_end)
  local c = self._cur
  if old_end <= c then return end
  self:_unpend()
  if self._ansi then
    local W = self._W
    emit(self, (old_end - 1) // W == c // W and CSI .. "K" or CSI .. "J")
  else
    local d = old_end - c
    emit(self, (" "):rep(d) .. ("\b"):rep(d))
  end
end

-- Redraws the input from character k on (characters 1..k unchanged).
function LineEditor:_redraw_from(k)
  local cells, n = self._cells, #self._chars
  self:_move(cells[k])
  if k < n then
    local chars, widths, W = self._chars, self._widths, self._W
    local parts = {}
    for j = k + 1, n do
      -- A wide character that does not fit wraps to the next row; a space
      -- first blanks the last column, which may still show an old one.
      if widths[j] == 2 and cells[j - 1] % W == W - 1 then
        parts[#parts + 1] = " "
      end
      parts[#parts + 1] = chars[j]
    end
    emit(self, concat(parts))
    self._cur = cells[n]
    -- Drawing ends any wait to wrap, and starts one at the right margin.
    self._pending = self._ansi and cells[n] % self._W == 0 and
                    cells[n] > cells[k]
  end
  self:_clear_to(self._end)
  self._end = cells[n]
end

-- The line changed from character k on; the cursor goes to new_pos.
function LineEditor:_changed(k, new_pos)
  self._pos = new_pos
  if not self:_visible() then return end
  self:_relayout(k)
  self:_redraw_from(k)
  self:_move(self._cells[new_pos])
end

function LineEditor:_goto(pos)
  self._pos = pos
  if self:_visible() then self:_move(self._cells[pos]) end
end

-- Removes the input from the screen (the line itself is kept).
function LineEditor:_erase_display()
  if not self:_visible() then return end
  self:_move(self._start)
  self:_clear_to(self._end)
  self._end = self._start
end

-- Draws the whole input; the cursor must be at the start, nothing shown.
function LineEditor:_draw_display()
  if not self:_visible() then return end
  self:_relayout(0)
  self:_redraw_from(0)
  self:_move(self._cells[self._pos])
end

-- The input now begins where the output left the cursor.  After new
-- output (fresh), output that filled a row leaves the terminal waiting to
-- wrap.
function LineEditor:_set_origin(fresh)
  local W = self._W
  if fresh then
    self._pending = self._ansi and self._col > 0 and self._col % W == 0
  end
  self._start = self._col % W
  self._cur, self._end = self._start, self._start
  self:_relayout(0)
end

function LineEditor:_set_width(cols)
  if self._ansi then
    self._W = (cols and cols >= 2) and cols or DEFAULT_WIDTH
  end
end

-- Editing primitives -------------------------------------------------------

function LineEditor:_set_line(s, pos)
  local units, widths = units_of(s)
  local old = self._chars
  local k = 0
  while k < #old and k < #units and old[k + 1] == units[k + 1] do k = k + 1 end
  self._chars, self._widths = units, widths
  self:_changed(k, pos or #units)
end

function LineEditor:_insert(units, widths)
  local p, chars = self._pos, self._chars
  if #chars + #units > self._max then return self:_bell() end
  for j = 1, #units do
    tinsert(chars, p + j, units[j])
    tinsert(self._widths, p + j, widths[j])
  end
  self:_changed(p, p + #units)
end

-- One typed character (code point cp, or nil for an invalid byte).
function LineEditor:_insert_char(ch, cp)
  local w, p = cp_width(cp), self._pos
  if w == 0 and p > 0 and #self._chars[p] + #ch <= MAX_JOINED then
    self._chars[p] = self._chars[p] .. ch
    return self:_changed(p - 1, p)
  end
  return self:_insert({ch}, {w})
end

-- Removes characters i..j (1-based, inclusive); returns them as a string.
function LineEditor:_remove(i, j)
  local chars, widths = self._chars, self._widths
  local s = concat(chars, "", i, j)
  for _ = i, j do
    tremove(chars, i)
    tremove(widths, i)
  end
  return s
end

function LineEditor:_line() return concat(self._chars) end

-- Key actions (AsyncSSH's keymap, plus Ctrl-W, Ctrl-L, word moves) ----------

local A = {}

function A.end_line(self)
  local line = self:_line()
  if self._line_echo then
    -- Also with echo off, as a terminal's ECHONL.  A cursor already moved
    -- to the start of a row by a wrap needs no new row (as on a terminal:
    -- a full row then CRLF leaves no blank row).
    local cur = self._start
    if self:_visible() then
      self:_move(self._cells[#self._chars])
      cur = self._cur
    end
    local col = self._col - self._start + cur
    if not self._pending and self._ansi and col > 0 and col % self._W == 0 then
      emit(self, "\r")
    else
      emit(self, "\r\n")
    end
    self._pending = false
    self._col, self._prompt, self._oesc = 0, "", nil
  else
    self:_erase_display()
  end
  if self._echo and self._history_size > 0 and line ~= "" then
    local h = self._history
    h[#h + 1] = line
    while #h > self._history_size do tremove(h, 1) end
  end
  self._hidx, self._draft = #self._history + 1, nil
  self._chars, self._widths, self._pos = {}, {}, 0
  self:_set_origin()
  deliver(self, line .. "\n")
end

function A.eof_or_delete(self)
  if #self._chars == 0 then return event(self, {type = "eof"}) end
  return A.erase_right(self)
end

function A.erase_left(self)
  local p = self._pos
  if p == 0 then return self:_bell() end
  self:_remove(p, p)
  self:_changed(p - 1, p - 1)
end

function A.erase_right(self)
  local p = self._pos
  if p == #self._chars then return self:_bell() end
  self:_remove(p + 1, p + 1)
  self:_changed(p, p)
end

function A.erase_line(self)
  if #self._chars == 0 then return end
  self._erased = self:_remove(1, #self._chars)
  self:_changed(0, 0)
end

function A.erase_to_end(self)
  local p = self._pos
  if p == #self._chars then return end
  self._erased = self:_remove(p + 1, #self._chars)
  self:_changed(p, p)
end

function A.erase_word_left(self)
  local p, chars = self._pos, self._chars
  local j = p
  while j > 0 and is_space(chars[j]) do j = j - 1 end
  while j > 0 and not is_space(chars[j]) do j = j - 1 end
  if j == p then return self:_bell() end
  self._erased = self:_remove(j + 1, p)
  self:_changed(j, j)
end

function A.history_prev(self)
  if self._hidx <= 1 then return self:_bell() end
  if self._hidx > #self._history then self._draft = self:_line() end
  self._hidx = self._hidx - 1
  self:_set_line(self._history[self._hidx])
end

function A.history_next(self)
  if self._hidx > #self._history then return self:_bell() end
  self._hidx = self._hidx + 1
  local s = self._history[self._hidx]
  if s == nil then s, self._draft = self._draft or "", nil end
  self:_set_line(s)
end

function A.move_left(self)
  if self._pos == 0 then return self:_bell() end
  self:_goto(self._pos - 1)
end

function A.move_right(self)
  if self._pos == #self._chars then return self:_bell() end
  self:_goto(self._pos + 1)
end

function A.move_to_start(self) self:_goto(0) end

function A.move_to_end(self) self:_goto(#self._chars) end

function A.word_left(self)
  local j, chars = self._pos, self._chars
  while j > 0 and is_space(chars[j]) do j = j - 1 end
  while j > 0 and not is_space(chars[j]) do j = j - 1 end
  self:_goto(j)
end

function A.word_right(self)
  local j, chars, n = self._pos, self._chars, #self._chars
  while j < n and is_space(chars[j + 1]) do j = j + 1 end
  while j < n and not is_space(chars[j + 1]) do j = j + 1 end
  self:_goto(j)
end

function A.redraw(self)
  self:_erase_display()
  self:_draw_display()
end

-- Ctrl-L: clear the screen, then print the prompt and the input again.
function A.clear_screen(self)
  if not self._ansi then return A.redraw(self) end
  emit(self, CSI .. "H" .. CSI .. "2J")
  local prompt = self._prompt or ""
  self._col, self._oesc = 0, nil
  emit(self, prompt)
  self:_track(prompt)
  self:_set_origin(true)
  self:_draw_display()
end

function A.insert_erased(self)
  if self._erased == "" then return end
  self:_insert(units_of(self._erased))
end

function A.send_break(self)
  event(self, {type = "break", msec = 0})
end

function A.ignore() end

local KEYMAP = {}
for action, keys in pairs({
  end_line = {"\r", "\n", "\27OM"},
  eof_or_delete = {"\4"},
  erase_left = {"\8", "\127"},
  erase_right = {"\27[3~"},
  erase_line = {"\21"},
  erase_to_end = {"\11"},
  erase_word_left = {"\23"},
  history_prev = {"\16", "\27[A", "\27OA"},
  history_next = {"\14", "\27[B", "\27OB"},
  move_left = {"\2", "\27[D", "\27OD"},
  move_right = {"\6", "\27[C", "\27OC"},
  move_to_start = {"\1", "\27[H", "\27OH", "\27[1~", "\27[7~"},
  move_to_end = {"\5", "\27[F", "\27OF", "\27[4~", "\27[8~"},
  word_left = {"\27b", "\27[1;5D", "\27[1;3D"},
  word_right = {"\27f", "\27[1;5C", "\27[1;3C"},
  redraw = {"\18"},
  clear_screen = {"\12"},
  insert_erased = {"\25"},
  send_break = {"\3", "\27[33~"},
  ignore = {"\27[200~", "\27[201~"},   -- bracketed paste markers
}) do
  for _, k in ipairs(keys) do KEYMAP[k] = A[action] end
end

-- Key dispatch ---------------------------------------------------------------

-- The built-in meaning of a key: an action, or insertion when printable.
function LineEditor:_default_key(key, cp, printable_key)
  local action = KEYMAP[key]
  if action then return action(self) end
  if printable_key then return self:_insert_char(key, cp) end
  return self:_bell()
end

--[[
A registered handler is called as handler(line, pos), pos counting the
characters before the cursor, and returns (AsyncSSH's register_key):
  new_line, new_pos      replace the input and move the cursor
  signame, negative_pos  deliver a signal event, input unchanged
  true                   do what the key does without the handler
  false or nil           ring the bell
--]]
function LineEditor:_run_handler(h, key, cp, printable_key)
  local ok, r1, r2 = pcall(h, self:_line(), self._pos)
  if not ok then
    event(self, {type = "error", key = key, error = r1})
    return self:_bell()
  end
  if r1 == true then return self:_default_key(key, cp, printable_key) end
  if not r1 then return self:_bell() end
  if type(r1) == "string" and math.type(r2) == "integer" then
    if r2 < 0 then return event(self, {type = "signal", signal = r1}) end
    local units = units_of(r1)
    if #units > self._max then return self:_bell() end
    return self:_set_line(r1, math.min(r2, #units))
  end
  event(self, {type = "error", key = key,
               error = "key handler returned " .. type(r1)})
  return self:_bell()
end

function LineEditor:_key(key, cp, printable_key)
  local h = self._keys[key]
  if h then return self:_run_handler(h, key, cp, printable_key) end
  return self:_default_key(key, cp, printable_key)
end

--[[
Length of the escape sequence at s[i] (s[i] is ESC), or nil when s ends
inside it.  CSI: ESC [ parameters (0x30-0x3F) intermediates (0x20-0x2F)
final (0x40-0x7E) (ECMA-48 5.4); SS3: ESC O x; otherwise ESC x (Alt-x).
A malformed CSI ends before the offending byte; an overlong one is cut at
MAX_ESC bytes (second result true) and the rest of it skipped by _feed.
--]]
local function escape_len(s, i)
  local n = #s
  local b = byte(s, i + 1)
  if b == nil then return nil end
  if b == 0x5B then
    local j = i + 2
    while true do
      local c = byte(s, j)
      if c == nil then return nil end
      if c >= 0x40 and c <= 0x7E then return j - i + 1 end
      if c < 0x20 or c > 0x3F then return j - i end
      if j - i >= MAX_ESC then return j - i, true end
      j = j + 1
    end
  elseif b == 0x4F then
    if i + 2 > n then return nil end
    local c = byte(s, i + 2)
    if c < 0x20 or c >= 0x7F then return 2 end
    return 3
  elseif b < 0x20 or b >= 0x7F then
    return 1   -- a lone ESC
  end
  return 2
end

function LineEditor:_feed(data)
  if not self._line_mode then
    if data ~= "" then deliver(self, data) end
    return
  end
  local buf = self._pend .. data
  self._pend = ""
  local i, n = 1, #buf
  while i <= n and self._line_mode do
    local b = byte(buf, i)
    local skip = self._skip_lf
    self._skip_lf = false
    if self._skip_csi and b >= 0x20 and b <= 0x7E then
      -- The rest of an overlong CSI, up to its final byte.
      if b >= 0x40 then self._skip_csi = false end
      i = i + 1
    elseif b == 10 and skip then
      self._skip_csi = false
      i = i + 1
    elseif b == 27 then
      self._skip_csi = false
      local len, overlong = escape_len(buf, i)
      if len == nil then self._pend = buf:sub(i); return end
      self:_key(buf:sub(i, i + len - 1))
      self._skip_csi = overlong or false
      i = i + len
    elseif b < 0x20 or b == 0x7F then
      self._skip_csi = false
      local key = char(b)
      self:_key(key)
      if b == 13 then self._skip_lf = true end
      i = i + 1
    else
      self._skip_csi = false
      local len, cp = utf8_at(buf, i)
      if len == nil then self._pend = buf:sub(i); return end
      self:_key(buf:sub(i, i + len - 1), cp, printable(cp))
      i = i + len
    end
  end
  -- A key handler switched to raw mode: the rest goes through untouched.
  if i <= n then deliver(self, buf:sub(i)) end
end

-- Output ---------------------------------------------------------------------

-- Follows the terminal's column through output text with no CR or LF.
function LineEditor:_track(s)
  local col, st, W = self._col, self._oesc, self._W
  local i, n = 1, #s
  while i <= n do
    local b = byte(s, i)
    i = i + 1
    if st == "esc" then
      if b == 0x5B then st = "csi"
      elseif b == 0x5D or b == 0x50 or b == 0x5E or b == 0x5F then st = "str"
      else st = nil end
    elseif st == "csi" then
      if b >= 0x40 and b <= 0x7E then st = nil end
    elseif st == "str" then      -- OSC/DCS/PM/APC up to BEL or ST
      if b == 7 then st = nil elseif b == 27 then st = "str_esc" end
    elseif st == "str_esc" then
      if b == 0x5C then st = nil else st = "str" end
    elseif b == 27 then st = "esc"
    elseif b == 8 then if col > 0 then col = col - 1 end
    elseif b == 9 then col = (col // 8 + 1) * 8
    elseif b < 0x20 or b == 0x7F then -- no width
    elseif b < 0x80 then col = col + 1
    else
      local len, cp = utf8_at(s, i - 1)
      len = len or 1
      i = i - 1 + len
      local w = cp and printable(cp) and cp_width(cp) or (cp and 0 or 1)
      if w == 2 and col % W == W - 1 then col = col + 1 end
      col = col + w
    end
  end
  self._col, self._oesc = col, st
end

-- Turns bare LF into CRLF and follows the cursor column and the prompt.
function LineEditor:_output(data)
  if data == "" then return end
  local head = ""
  local last_cr = byte(data, -1) == 13
  if self._last_cr and byte(data, 1) == 10 then head, data = "\n", data:sub(2) end
  self._last_cr = last_cr
  local out = head .. data:gsub("\r?\n", "\r\n")
  emit(self, out)
  local nl = out:find("[\r\n][^\r\n]*$")
  local tail = out
  if nl then
    tail = out:sub(nl + 1)
    self._col, self._prompt, self._oesc = 0, "", nil
  end
  self:_track(tail)
  if self._prompt and #self._prompt + #tail <= MAX_PROMPT then
    self._prompt = self._prompt .. tail
  else
    self._prompt = nil
  end
end

-- Public API -------------------------------------------------------------------

--- ed:feed(data) -> out, input, events
-- Processes bytes received from the client.
function LineEditor:feed(data)
  return run(self, LineEditor._feed, data)
end

--- ed:process_output(data) -> out
-- Converts application output for the terminal ("\n" -> "\r\n"); in line
-- mode, takes the partial input off the screen first and draws it again
-- after the output, so the output does not mix with what is being typed.
function LineEditor:process_output(data)
  return (run(self, function()
    if not self._line_mode then return self:_output(data) end
    self:_erase_display()
    self:_output(data)
    self:_set_origin(true)
    self:_draw_display()
  end))
end

--- ed:set_line_mode(flag) -> out, input, events
-- Off: the partial line (and any incomplete key) is taken off the screen
-- and delivered as data; input then passes through raw.  Call it with
-- false when the channel receives EOF, as AsyncSSH does.
function LineEditor:set_line_mode(flag)
  return run(self, function()
    flag = flag and true or false
    if flag == self._line_mode then return end
    if not flag then
      self:_erase_display()
      local rest = self:_line() .. self._pend
      self._chars, self._widths, self._pos = {}, {}, 0
      self._pend, self._skip_lf, self._skip_csi = "", false, false
      self._hidx, self._draft = #self._history + 1, nil
      self._line_mode = false
      if rest ~= "" then deliver(self, rest) end
    else
      self._line_mode = true
      self:_set_origin(true)
    end
  end)
end

--- ed:set_echo(flag) -> out
-- Off hides the input (for secrets): the line being typed is taken off
-- the screen, and lines entered are not kept in the history.
function LineEditor:set_echo(flag)
  return (run(self, function()
    flag = flag and true or false
    if flag == self._echo then return end
    if not flag then
      self:_erase_display()
      self._echo = false
    else
      self._echo = true
      self:_set_origin()
      self:_draw_display()
    end
  end))
end

--- ed:set_width(cols) -> out
-- The terminal was resized (window-change): redraws the input.
function LineEditor:set_width(cols)
  return (run(self, function()
    self:_set_width(math.tointeger(cols) or 0)
    self:_unpend()
    if not self:_visible() then return end
    self._start = self._start % self._W
    self:_relayout(0)
    self._cur = self._cells[self._pos]
    self._end = self._cells[#self._chars]
    A.redraw(self)
  end))
end

--- ed:redraw() -> out  (what Ctrl-R does)
function LineEditor:redraw()
  return (run(self, A.redraw))
end

--- ed:register_key(key, handler) / ed:unregister_key(key)
-- key: one character ("\t", "?") or an escape sequence ("\27[Z"); see
-- _run_handler for what the handler returns.  Active in line mode only.
function LineEditor:register_key(key, handler)
  if type(key) ~= "string" or key == "" then
    error("bad argument #1 to 'register_key' (non-empty string expected)", 2)
  end
  if type(handler) ~= "function" and not (getmetatable(handler) or {}).__call then
    error("bad argument #2 to 'register_key' (function expected)", 2)
  end
  self._keys[key] = handler
end

function LineEditor:unregister_key(key)
  self._keys[key] = nil
end

--- ed:get_line() -> line, pos   (the input being edited; pos in characters)
function LineEditor:get_line() return self:_line(), self._pos end

function LineEditor:get_line_mode() return self._line_mode end

function LineEditor:get_echo() return self._echo end

--- ed:get_history() -> list of strings, oldest first (a copy)
function LineEditor:get_history()
  return table.move(self._history, 1, #self._history, 1, {})
end

return LineEditor
