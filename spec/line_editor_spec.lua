-- The server-side line editor (lua/luassh/line_editor.lua): pure Lua and
-- sans-I/O, so this spec runs under build/luassh or plain lua5.4.
package.path = "lua/?.lua;" .. package.path
local LineEditor = require "luassh.line_editor"

local ESC, CSI = "\27", "\27["

local function types(events)
  local t = {}
  for i, e in ipairs(events) do t[i] = e.type end
  return t
end

-- Feeds each argument in turn; returns the concatenated output, input and
-- events (the "ordered" view).
local function feed(ed, ...)
  local outs, input, events = {}, {}, {}
  for _, chunk in ipairs({...}) do
    local o, i, e = ed:feed(chunk)
    assert.is_string(o)
    outs[#outs + 1] = o
    table.move(i, 1, #i, #input + 1, input)
    table.move(e, 1, #e, #events + 1, events)
  end
  return table.concat(outs), input, events
end

-- Feeds keys and returns the line being edited and the cursor position.
local function edit(ed, ...)
  feed(ed, ...)
  return ed:get_line()
end

describe("LineEditor in line mode", function()
  it("echoes printable characters and delivers the line with a newline on CR", function()
    local ed = LineEditor.new()
    local out, input, events = feed(ed, "abc")
    assert.equal("abc", out)
    assert.same({}, input)
    assert.same({}, events)
    out, input, events = feed(ed, "\r")
    assert.equal("\r\n", out)
    assert.same({"abc\n"}, input)
    assert.same({{type = "data", data = "abc\n"}}, events)
    assert.equal("", (ed:get_line()))
  end)

  it("ends a line on CR, on LF and once on CRLF, even split across feeds", function()
    local ed = LineEditor.new()
    local _, input = feed(ed, "a\rb\nc\r\nd\r", "\ne\r\r")
    assert.same({"a\n", "b\n", "c\n", "d\n", "e\n", "\n"}, input)
    -- LF right after CR is swallowed only once, and only right after it.
    _, input = feed(ed, "x\r", "y\n")
    assert.same({"x\n", "y\n"}, input)
    -- Keypad Enter (ESC O M).
    _, input = feed(ed, "kp" .. ESC .. "OM")
    assert.same({"kp\n"}, input)
  end)

  it("erases left with DEL and with BS, ringing the bell at the start", function()
    local ed = LineEditor.new()
    feed(ed, "abcd")
    assert.equal("\b" .. CSI .. "K", (feed(ed, "\127")))
    assert.equal("\b" .. CSI .. "K", (feed(ed, "\8")))
    assert.equal("ab", (ed:get_line()))
    feed(ed, "\127\127")
    assert.equal("\a", (feed(ed, "\127")))
    local _, input = feed(ed, "xyz\8\r")
    assert.same({"xy\n"}, input)
  end)

  it("moves with the arrow keys (CSI and SS3) and Ctrl-B/Ctrl-F, and inserts in the middle", function()
    local ed = LineEditor.new()
    feed(ed, "abc")
    assert.equal("\b", (feed(ed, CSI .. "D")))
    assert.equal("\b", (feed(ed, ESC .. "OD")))
    assert.equal("\b", (feed(ed, "\2")))
    assert.equal("\a", (feed(ed, CSI .. "D")))      -- at the start
    assert.equal(CSI .. "1C", (feed(ed, CSI .. "C")))
    assert.equal(CSI .. "1C", (feed(ed, ESC .. "OC")))
    local line, pos = ed:get_line()
    assert.equal("abc", line)
    assert.equal(2, pos)
    -- Insert before "c": redraw the tail, come back.
    assert.equal("Xc\b", (feed(ed, "X")))
    assert.equal(CSI .. "1C", (feed(ed, "\6")))
    assert.equal("\a", (feed(ed, CSI .. "C")))      -- at the end
    local _, input = feed(ed, "\r")
    assert.same({"abXc\n"}, input)
  end)

  it("goes home and to the end with Ctrl-A/Ctrl-E and the Home/End keys", function()
    local ed = LineEditor.new()
    feed(ed, "hello")
    assert.equal(CSI .. "5D", (feed(ed, "\1")))
    assert.equal(0, select(2, ed:get_line()))
    assert.equal(CSI .. "5C", (feed(ed, "\5")))
    for _, home in ipairs({CSI .. "H", ESC .. "OH", CSI .. "1~", CSI .. "7~"}) do
      feed(ed, home)
      assert.equal(0, select(2, ed:get_line()))
      feed(ed, "\5")
    end
    for _, e in ipairs({CSI .. "F", ESC .. "OF", CSI .. "4~", CSI .. "8~"}) do
      feed(ed, "\1", e)
      assert.equal(5, select(2, ed:get_line()))
    end
    feed(ed, "\1")
    assert.equal(">hello", (edit(ed, ">")))
  end)

  it("deletes right with Delete and with Ctrl-D inside a line", function()
    local ed = LineEditor.new()
    feed(ed, "abcd", "\1")
    assert.equal("bcd" .. CSI .. "K" .. "\b\b\b", (feed(ed, CSI .. "3~")))
    assert.equal("bcd", (ed:get_line()))
    local _, _, events = feed(ed, "\4")
    assert.same({}, events)
    assert.equal("cd", (ed:get_line()))
    assert.equal(CSI .. "2C\a", (feed(ed, "\5\4")))  -- Ctrl-D at the end: bell
    assert.equal("cd", (ed:get_line()))
  end)

  it("reports EOF for Ctrl-D on an empty line and keeps working after it", function()
    local ed = LineEditor.new()
    local out, input, events = feed(ed, "\4")
    assert.equal("", out)
    assert.same({}, input)
    assert.same({{type = "eof"}}, events)
    _, input = feed(ed, "more\r")
    assert.same({"more\n"}, input)
  end)

  it("reports a break for Ctrl-C (and F19), keeping the line as AsyncSSH does", function()
    local ed = LineEditor.new()
    local out, input, events = feed(ed, "ab\3")
    assert.equal("ab", out)
    assert.same({}, input)
    assert.same({{type = "break", msec = 0}}, events)
    assert.equal("ab", (ed:get_line()))
    _, _, events = feed(ed, CSI .. "33~")
    assert.same({"break"}, types(events))
  end)

  it("keeps data, breaks and EOF in the order typed", function()
    local ed = LineEditor.new()
    local _, input, events = feed(ed, "1\r\3" .. "2\r\4")
    assert.same({"1\n", "2\n"}, input)
    assert.same({"data", "break", "data", "eof"}, types(events))
    assert.equal("1\n", events[1].data)
    assert.equal("2\n", events[3].data)
  end)

  it("erases the line with Ctrl-U and puts it back with Ctrl-Y", function()
    local ed = LineEditor.new()
    feed(ed, "abcdef")
    assert.equal(CSI .. "6D" .. CSI .. "K", (feed(ed, "\21")))
    assert.equal("", (ed:get_line()))
    assert.equal("", (feed(ed, "\21")))            -- nothing to erase
    assert.equal("abcdefabcdef", (edit(ed, "\25\25")))
    local _, input = feed(ed, "\21xyz\r")
    assert.same({"xyz\n"}, input)
  end)

  it("erases to the end with Ctrl-K", function()
    local ed = LineEditor.new()
    feed(ed, "abcdef", "\2\2\2")
    assert.equal(CSI .. "K", (feed(ed, "\11")))
    assert.equal("abc", (ed:get_line()))
    assert.equal("abcdef", (edit(ed, "\25")))
  end)

  it("erases the word before the cursor with Ctrl-W", function()
    local ed = LineEditor.new()
    feed(ed, "ls -l  /tmp  ")
    assert.equal("ls -l  ", (edit(ed, "\23")))
    assert.equal("ls ", (edit(ed, "\23")))
    assert.equal("", (edit(ed, "\23")))
    assert.equal("\a", (feed(ed, "\23")))
    -- In the middle of a line, only what is left of the cursor goes.
    feed(ed, "one two three", "\1", CSI .. "C", CSI .. "C", CSI .. "C", CSI .. "C")
    local line, pos = edit(ed, "\23")
    assert.equal("two three", line)
    assert.equal(0, pos)
  end)

  it("moves by words with Alt-b/Alt-f and Ctrl-arrows", function()
    local ed = LineEditor.new()
    feed(ed, "alpha beta gamma")
    feed(ed, ESC .. "b")
    assert.equal(11, select(2, ed:get_line()))
    feed(ed, CSI .. "1;5D")
    assert.equal(6, select(2, ed:get_line()))
    feed(ed, ESC .. "f")
    assert.equal(10, select(2, ed:get_line()))
    feed(ed, CSI .. "1;5C")
    assert.equal(16, select(2, ed:get_line()))
  end)

  it("recalls history with up/down (CSI, SS3, Ctrl-P/Ctrl-N) and keeps the draft", function()
    local ed = LineEditor.new()
    feed(ed, "first\r", "second\r", "\r")        -- empty lines are not kept
    assert.same({"first", "second"}, ed:get_history())
    feed(ed, "dra")
    local out = feed(ed, CSI .. "A")
    assert.equal("\b\b\b" .. "second", out)
    assert.equal("first", (edit(ed, ESC .. "OA")))
    assert.equal("\a", (feed(ed, "\16")))          -- at the top
    assert.equal("first", (edit(ed, "")))
    assert.equal("second", (edit(ed, CSI .. "B")))
    assert.equal("dra", (edit(ed, "\14")))         -- back to the draft
    assert.equal("\a", (feed(ed, ESC .. "OB")))    -- at the bottom
    -- Editing a recalled line delivers the edit, and adds it to the history.
    local _, input = feed(ed, "\21", "\16", "\127", "d!\r")
    assert.same({"second!\n"}, input)
    assert.same({"first", "second", "second!"}, ed:get_history())
  end)

  it("keeps at most history_size lines, and none with history_size 0", function()
    local ed = LineEditor.new{history_size = 2}
    feed(ed, "a\rb\rc\r")
    assert.same({"b", "c"}, ed:get_history())
    local ed0 = LineEditor.new{history_size = 0}
    feed(ed0, "a\r")
    assert.same({}, ed0:get_history())
    assert.equal("\a", (feed(ed0, CSI .. "A")))
  end)

  it("waits for escape sequences split across feeds", function()
    local ed = LineEditor.new()
    feed(ed, "abc")
    assert.equal("", (feed(ed, ESC)))
    assert.equal("", (feed(ed, "[")))
    assert.equal("\b", (feed(ed, "D")))
    assert.equal("", (feed(ed, ESC .. "[3")))
    assert.equal(CSI .. "K", (feed(ed, "~")))
    assert.equal("ab", (ed:get_line()))
    assert.equal("", (feed(ed, ESC)))
    assert.equal("", (feed(ed, "O")))
    assert.equal("\b", (feed(ed, "D")))
    -- CR, then LF in the next feed: one line.
    local _, input = feed(ed, "\r")
    assert.same({"ab\n"}, input)
    _, input = feed(ed, "\n")
    assert.same({}, input)
  end)

  it("swallows unknown escape sequences whole, with a bell", function()
    local ed = LineEditor.new()
    assert.equal("\a", (feed(ed, CSI .. "2~")))           -- Insert
    assert.equal("\a", (feed(ed, CSI .. "1;2", "A")))     -- Shift-Up
    assert.equal("\a", (feed(ed, CSI .. "Z")))            -- Shift-Tab
    assert.equal("\a", (feed(ed, ESC .. "x")))            -- Alt-x
    assert.equal("\a", (feed(ed, ESC .. ESC .. "z")))     -- lone ESC, Alt-z: one bell
    assert.equal("", (ed:get_line()))
    -- A CSI broken by a control character ends before it.
    local _, input = feed(ed, CSI .. "12\r")
    assert.same({"\n"}, input)
    -- Overlong parameter strings are dropped, not buffered forever.
    assert.equal("\a", (feed(ed, CSI .. ("1"):rep(100))))
    assert.equal("", (feed(ed, ("2"):rep(50), "m")))
    assert.equal("q", (feed(ed, "q")))
    assert.equal("", (ed:get_line():gsub("q", "")))
  end)

  it("rings the bell for control characters it does not know", function()
    local ed = LineEditor.new()
    assert.equal("\a", (feed(ed, "\7\t\0")))          -- a run of bells rings once
    assert.equal("\aa\a", (feed(ed, "\7a\0")))
    feed(ed, "\21")
    assert.equal("", (ed:get_line()))
    -- C1 controls (U+0080..U+009F) are not printable either.
    assert.equal("\a", (feed(ed, "\194\133")))
  end)

  it("ignores bracketed-paste markers around pasted text", function()
    local ed = LineEditor.new()
    local out = feed(ed, CSI .. "200~pasted" .. CSI .. "201~")
    assert.equal("pasted", out)
  end)

  it("redraws the line with Ctrl-R and clears the screen with Ctrl-L", function()
    local ed = LineEditor.new()
    ed:process_output("> ")
    feed(ed, "ab")
    assert.equal("\b\b" .. CSI .. "K" .. "ab", (feed(ed, "\18")))
    assert.equal(CSI .. "H" .. CSI .. "2J" .. "> ab", (feed(ed, "\12")))
    feed(ed, "\2")
    assert.equal(CSI .. "H" .. CSI .. "2J" .. "> ab\b", (feed(ed, "\12")))
    local _, input = feed(ed, "\r")
    assert.same({"ab\n"}, input)
  end)
end)

describe("LineEditor and UTF-8", function()
  it("treats a multi-byte character as one column", function()
    local ed = LineEditor.new()
    assert.equal("é€", (feed(ed, "é€")))
    local line, pos = ed:get_line()
    assert.equal("é€", line)
    assert.equal(2, pos)
    assert.equal("\b" .. CSI .. "K", (feed(ed, "\127")))
    assert.equal("\b", (feed(ed, CSI .. "D")))
    assert.equal("ñé\b", (feed(ed, "ñ")))
    local _, input = feed(ed, "\r")
    assert.same({"ñé\n"}, input)
  end)

  it("waits for the rest of a character split across feeds", function()
    local ed = LineEditor.new()
    assert.equal("", (feed(ed, "\226")))
    assert.equal("", (feed(ed, "\130")))
    assert.equal("€", (feed(ed, "\172")))
    assert.equal("\240\159\152\128", (feed(ed, "\240\159", "\152\128")))
    assert.equal("€😀", (ed:get_line()))
    assert.equal(2, select(2, ed:get_line()))
  end)

  it("gives East Asian wide characters two columns", function()
    local ed = LineEditor.new()
    feed(ed, "日本")
    assert.equal("\b\b", (feed(ed, CSI .. "D")))
    assert.equal("\b\b" .. "本" .. CSI .. "K" .. "\b\b", (feed(ed, "\127")))
    assert.equal(1, LineEditor.char_width(0x41))
    assert.equal(2, LineEditor.char_width(0x65E5))
    assert.equal(2, LineEditor.char_width(0x1F600))
    assert.equal(0, LineEditor.char_width(0x301))
  end)

  it("joins combining marks to the character before them", function()
    local ed = LineEditor.new()
    feed(ed, "e")
    assert.equal("\b" .. "e\204\129", (feed(ed, "\204\129")))  -- U+0301
    local line, pos = ed:get_line()
    assert.equal("e\204\129", line)
    assert.equal(1, pos)
    assert.equal("\b" .. CSI .. "K", (feed(ed, "\127")))
    assert.equal("", (ed:get_line()))
  end)

  it("keeps invalid bytes as they are, one column each", function()
    local ed = LineEditor.new()
    local _, input = feed(ed, "a\255b\192\128c\237\160\128\r")
    assert.same({"a\255b\192\128c\237\160\128\n"}, input)
    feed(ed, "x\255")
    assert.equal("\b" .. CSI .. "K", (feed(ed, "\127")))
    assert.equal("x", (ed:get_line()))
    -- A lead byte followed by a non-continuation byte.
    feed(ed, "\195(")
    assert.equal("x\195(", (ed:get_line()))
    assert.equal(3, select(2, ed:get_line()))
  end)
end)

describe("LineEditor echo", function()
  it("echoes nothing with echo off but the newline, and keeps no history", function()
    local ed = LineEditor.new()
    ed:set_echo(false)
    assert.is_false(ed:get_echo())
    local out, input = feed(ed, "s3cr3t", "\127", "\2", "X", "\r")
    assert.equal("\r\n", out)
    assert.same({"s3crX3\n"}, input)
    assert.same({}, ed:get_history())
    -- Bells still ring (they tell nothing about the secret).
    assert.equal("\a", (feed(ed, "\127")))
  end)

  it("takes the partial line off the screen when echo goes off, and draws it when on", function()
    local ed = LineEditor.new()
    ed:process_output("pw: ")
    feed(ed, "abc", "\2")
    local out = ed:set_echo(false)
    assert.equal("\b\b" .. CSI .. "K", out)
    assert.equal("", (feed(ed, "d")))
    out = ed:set_echo(true)
    assert.equal("abdc\b", out)
    assert.equal("", (ed:set_echo(true)))          -- no change, no output
  end)

  it("erases a completed line instead of echoing it with line_echo=false", function()
    local ed = LineEditor.new{line_echo = false}
    ed:process_output("> ")
    feed(ed, "hi")
    local out, input = feed(ed, "\r")
    assert.equal("\b\b" .. CSI .. "K", out)
    assert.same({"hi\n"}, input)
    -- The application's own echo goes where the input began.
    assert.equal("me: hi\r\n", (ed:process_output("me: hi\n")))
  end)
end)

describe("LineEditor raw mode", function()
  it("passes bytes through untouched and unechoed", function()
    local ed = LineEditor.new()
    assert.equal("", (ed:set_line_mode(false)))
    assert.is_false(ed:get_line_mode())
    local raw = "a\r\n\3\4\127" .. CSI .. "A\255"
    local out, input, events = feed(ed, raw)
    assert.equal("", out)
    assert.same({raw}, input)
    assert.same({{type = "data", data = raw}}, events)
  end)

  it("delivers the partial line and any half key when line mode goes off", function()
    local ed = LineEditor.new()
    feed(ed, "abc", ESC .. "[")
    local out, input = ed:set_line_mode(false)
    assert.equal("\b\b\b" .. CSI .. "K", out)
    assert.same({"abc" .. ESC .. "["}, input)
    -- ...and the rest of the key arrives raw.
    assert.same({"D"}, select(2, feed(ed, "D")))
    -- Back to line mode: editing starts afresh.
    assert.equal("", (ed:set_line_mode(true)))
    local _, lines = feed(ed, "ok\r")
    assert.same({"ok\n"}, lines)
  end)

  it("keeps a half character when line mode goes off", function()
    local ed = LineEditor.new()
    feed(ed, "\226\130")
    local _, input = ed:set_line_mode(false)
    assert.same({"\226\130"}, input)
    assert.same({"\172"}, select(2, feed(ed, "\172")))
  end)

  it("lets a key handler switch modes in the middle of a feed", function()
    local ed = LineEditor.new()
    ed:register_key("!", function()
      ed:set_line_mode(false)
      return "", 0
    end)
    local _, input, events = feed(ed, "ab!cd\r")
    assert.same({"ab", "cd\r"}, input)
    assert.same({"data", "data"}, types(events))
  end)
end)

describe("LineEditor limits", function()
  it("rings the bell for input past max_line_length", function()
    local ed = LineEditor.new{max_line_length = 5}
    assert.equal("abcde\a", (feed(ed, "abcdefg")))
    assert.equal("abcde", (ed:get_line()))
    feed(ed, "\21")
    assert.equal("x\a", (feed(ed, "x\25")))        -- yank would overflow
    assert.equal("x", (ed:get_line()))
    local _, input = feed(ed, "yz\r")
    assert.same({"xyz\n"}, input)
  end)

  it("takes a large paste quickly and bounds the line", function()
    local ed = LineEditor.new()
    local t0 = os.clock()
    local out = feed(ed, ("x"):rep(1500))
    assert.equal(1024, #ed:get_line())
    assert.equal(1024 + 1, #out)                    -- 1024 echoed, one bell
    feed(ed, "\21", ("x"):rep(1000), "\1")
    feed(ed, ("y"):rep(20))                          -- inserts at the start
    local line, pos = ed:get_line()
    assert.equal(("y"):rep(20) .. ("x"):rep(1000), line)
    assert.equal(20, pos)
    assert.is_true(os.clock() - t0 < 2)
  end)

  it("rejects bad options", function()
    assert.has_error(function() LineEditor.new{history_size = -1} end)
    assert.has_error(function() LineEditor.new{max_line_length = "x"} end)
    assert.has_error(function() LineEditor.new{width = 1.5} end)
  end)
end)

describe("LineEditor output", function()
  it("turns bare LF into CRLF, without doubling CR, even across writes", function()
    local ed = LineEditor.new()
    assert.equal("a\r\nb\r\n", (ed:process_output("a\nb\r\n")))
    assert.equal("x\r", (ed:process_output("x\r")))
    assert.equal("\n", (ed:process_output("\n")))
    assert.equal("\r\n\r\n", (ed:process_output("\n\n")))
    ed:set_line_mode(false)
    assert.equal("raw\r\n", (ed:process_output("raw\n")))
  end)

  it("moves the partial input out of the way of output and draws it after", function()
    local ed = LineEditor.new()
    ed:process_output("> ")
    feed(ed, "hel")
    local out = ed:process_output("bob: hi\n")
    assert.equal("\b\b\b" .. CSI .. "K" .. "bob: hi\r\n" .. "hel", out)
    -- The input now begins at column 0, the cursor is at its end.
    assert.equal("\b\b\b", (feed(ed, "\1")))
    out = ed:process_output("x")
    assert.equal(CSI .. "K" .. "x" .. "hel" .. "\b\b\b", out)
    local _, input = feed(ed, "\r")
    assert.same({"hel\n"}, input)
  end)

  it("writes output as it is when nothing is being typed or echo is off", function()
    local ed = LineEditor.new()
    assert.equal("plain\r\n", (ed:process_output("plain\n")))
    ed:set_echo(false)
    feed(ed, "hidden")
    assert.equal("note\r\n", (ed:process_output("note\n")))
    local _, input = feed(ed, "\r")
    assert.same({"hidden\n"}, input)
  end)

  it("counts columns past escape sequences, tabs and backspaces in the prompt", function()
    local ed = LineEditor.new{width = 20}
    ed:process_output(CSI .. "1;31m" .. "red" .. CSI .. "0m" .. "\t" .. "ab\b" .. ESC .. "]0;title\7")
    -- Column 9 (8 after the tab, +2, -1): 11 characters fill the row, and
    -- moving back first puts the cursor really on the next row.
    assert.equal(("z"):rep(11), (feed(ed, ("z"):rep(11))))
    assert.equal(" \b" .. CSI .. "1A" .. CSI .. "9C", (feed(ed, "\1")))
  end)

  it("follows the seed's line-editing example", function()
    local ed = LineEditor.new{term_type = "xterm-256color", width = 80}
    assert.equal("Welcome to my SSH server, ron!\r\n\r\n",
                 (ed:process_output("Welcome to my SSH server, ron!\n\n")))
    ed:set_echo(false)
    ed:process_output("Tell me a secret: ")
    local out, input = feed(ed, "hunter2\r")
    assert.equal("\r\n", out)
    assert.same({"hunter2\n"}, input)
    ed:set_line_mode(false)
    assert.equal("\r\nYour secret is safe with me! Press any key to exit...",
                 (ed:process_output("\nYour secret is safe with me! Press any key to exit...")))
    out, input = feed(ed, "q")
    assert.equal("", out)
    assert.same({"q"}, input)
  end)
end)

describe("LineEditor return values", function()
  it("returns (out, input, events) from feed and set_line_mode, and only out from the rest", function()
    local ed = LineEditor.new()
    assert.equal(3, select("#", ed:feed("")))
    local out, input, events = ed:feed("")
    assert.equal("", out)
    assert.same({}, input)
    assert.same({}, events)
    assert.equal(3, select("#", ed:set_line_mode(true)))
    assert.equal(1, select("#", ed:process_output("x")))
    assert.equal(1, select("#", ed:set_echo(true)))
    assert.equal(1, select("#", ed:set_width(100)))
    assert.equal(1, select("#", ed:redraw()))
    feed(ed, "ab")
    assert.equal("\b\b" .. CSI .. "K" .. "ab", ed:redraw())
  end)
end)

describe("LineEditor output tracking", function()
  it("follows an escape sequence split across two writes", function()
    local ed = LineEditor.new{width = 10}
    ed:process_output("12345" .. ESC .. "]0;a long")
    ed:process_output(" window title" .. ESC .. "\\" .. CSI)
    ed:process_output("32mok")
    -- Column 7: the third character typed fills the row.
    assert.equal("abc", (feed(ed, "abc")))
    assert.equal(" \b" .. CSI .. "1A" .. CSI .. "9C", (feed(ed, CSI .. "D")))
  end)

  it("redraws in place for Ctrl-L on a dumb terminal", function()
    local ed = LineEditor.new{term_type = "dumb"}
    ed:process_output("$ ")
    feed(ed, "ls")
    assert.equal("\b\b  \b\bls", (feed(ed, "\12")))
  end)
end)

describe("LineEditor wrapping on an ANSI terminal", function()
  it("wraps at the right margin as the terminal does", function()
    local ed = LineEditor.new{width = 10}
    assert.equal("0123456789", (feed(ed, "0123456789")))
    assert.equal("ab", (feed(ed, "ab")))
    -- Home: one row up, two columns left.
    assert.equal(CSI .. "1A" .. "\b\b", (feed(ed, "\1")))
    assert.equal(CSI .. "1B" .. CSI .. "2C", (feed(ed, "\5")))
    -- Erase back across the row boundary.
    feed(ed, "\127\127")
    assert.equal(CSI .. "1A" .. CSI .. "9C" .. CSI .. "K", (feed(ed, "\127")))
    -- Ctrl-U from the first row erases to the end of the screen when the
    -- input spans rows.
    feed(ed, "xyz")
    assert.equal(CSI .. "1A" .. "\b\b" .. CSI .. "J", (feed(ed, "\21")))
  end)

  it("moves a wide character that does not fit to the next row", function()
    local ed = LineEditor.new{width = 10}
    feed(ed, ("*"):rep(9), "日")
    -- The wide character takes columns 0-1 of the second row.
    assert.equal(CSI .. "1A" .. CSI .. "7C", (feed(ed, CSI .. "D")))
    assert.equal(CSI .. "1B" .. CSI .. "7D", (feed(ed, CSI .. "C")))
  end)

  it("starts input after a prompt that wrapped", function()
    local ed = LineEditor.new{width = 10}
    -- 15 columns of prompt: the input begins at column 5 of the second row.
    ed:process_output(("p"):rep(15))
    assert.equal("abcde", (feed(ed, "abcde")))
    assert.equal(" \b" .. CSI .. "1A" .. CSI .. "5C", (feed(ed, "\1")))
  end)

  it("keeps the terminal's pending wrap after output that fills the row", function()
    local ed = LineEditor.new{width = 10}
    assert.equal(("p"):rep(10), (ed:process_output(("p"):rep(10))))
    assert.equal("a", (feed(ed, "a")))
    assert.equal("\b", (feed(ed, "\1")))
    -- A full row then a newline makes no blank row, as on a terminal.
    ed = LineEditor.new{width = 10}
    ed:process_output(("p"):rep(10))
    assert.equal("\r\n", (ed:process_output("\n")))
    -- Nor does Enter after input that fills the row, moved or not.
    ed = LineEditor.new{width = 10}
    assert.equal("0123456789\r\n", (feed(ed, "0123456789\r")))
    assert.equal("0123456789" .. " \b" .. CSI .. "1A" .. CSI .. "9C" ..
                 CSI .. "1B" .. CSI .. "9D" .. "\r",
                 (feed(ed, "0123456789", CSI .. "D", CSI .. "C", "\r")))
  end)

  it("redraws for a new width", function()
    local ed = LineEditor.new{width = 10}
    feed(ed, "abcdefghijkl")
    local out = ed:set_width(40)
    assert.equal(CSI .. "12D" .. CSI .. "K" .. "abcdefghijkl", out)
    assert.equal(CSI .. "12D", (feed(ed, "\1")))
  end)
end)

describe("LineEditor on a dumb terminal", function()
  it("uses only backspaces, spaces and reprinted characters", function()
    local ed = LineEditor.new{term_type = "dumb"}
    feed(ed, "abc")
    assert.equal("\b \b", (feed(ed, "\127")))
    assert.equal("\b\b", (feed(ed, "\1")))
    assert.equal("a", (feed(ed, CSI .. "C")))
    assert.equal("b", (feed(ed, "\5")))
    assert.equal("\b\b  \b\b", (feed(ed, "\21")))
    feed(ed, ("x"):rep(100))                          -- no wrap handling
    assert.equal(("\b"):rep(100), (feed(ed, "\1")))
  end)
end)

describe("LineEditor:register_key", function()
  it("lets a handler rewrite the line and move the cursor (Tab completion)", function()
    local ed = LineEditor.new()
    local seen
    ed:register_key("\t", function(line, pos)
      seen = {line, pos}
      if line == "he" then return "hello ", 6 end
      return false
    end)
    feed(ed, "he")
    assert.equal("llo ", (feed(ed, "\t")))
    assert.same({"he", 2}, seen)
    assert.equal("\a", (feed(ed, "\t")))
    local _, input = feed(ed, "\r")
    assert.same({"hello \n"}, input)
  end)

  it("falls back to the key's own meaning when the handler returns true", function()
    local ed = LineEditor.new()
    local calls = 0
    ed:register_key("?", function(_, pos) calls = calls + 1; return pos > 0 end)
    ed:register_key(CSI .. "D", function() return true end)
    assert.equal("\a", (feed(ed, "?")))
    assert.equal("a?", (feed(ed, "a?")))
    assert.equal("\b", (feed(ed, CSI .. "D")))
    assert.equal(2, calls)
    ed:unregister_key("?")
    assert.equal("??\b", (feed(ed, "?")))
    assert.equal("a??", (ed:get_line()))
  end)

  it("delivers a signal for a hot key, leaving the line alone", function()
    local ed = LineEditor.new()
    ed:register_key("\26", function() return "TSTP", -1 end)
    feed(ed, "abc")
    local out, input, events = feed(ed, "\26")
    assert.equal("", out)
    assert.same({}, input)
    assert.same({{type = "signal", signal = "TSTP"}}, events)
    assert.equal("abc", (ed:get_line()))
  end)

  it("reports a handler's error as an event and rings the bell", function()
    local ed = LineEditor.new()
    ed:register_key("\t", function() error("boom", 0) end)
    local out, _, events = feed(ed, "\t")
    assert.equal("\a", out)
    assert.same({{type = "error", key = "\t", error = "boom"}}, events)
    ed:register_key("\t", function() return 42 end)
    _, _, events = feed(ed, "\t")
    assert.equal("error", events[1].type)
  end)

  it("refuses a line longer than max_line_length from a handler", function()
    local ed = LineEditor.new{max_line_length = 3}
    ed:register_key("\t", function() return "toolong", 7 end)
    assert.equal("\a", (feed(ed, "\t")))
    assert.equal("", (ed:get_line()))
  end)

  it("checks its arguments", function()
    local ed = LineEditor.new()
    assert.has_error(function() ed:register_key("", function() end) end)
    assert.has_error(function() ed:register_key("\t", "nope") end)
  end)
end)

-- Plays random editing sessions into tmux (a real terminal emulator) and
-- checks that the screen shows exactly the output, the prompt and the line
-- being edited, wrapped at the terminal width, with the cursor where the
-- editor says it is.
describe("LineEditor in a real terminal (tmux)", function()
  local function have_tmux()
    return os.execute("command -v tmux >/dev/null 2>&1") == true
  end

  local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

  -- Runs the bytes through a fresh tmux pane: returns its rows and cursor.
  local function render(bytes, W, H)
    local file = os.tmpname()
    local sock = file .. ".tmux"
    local f = assert(io.open(file, "wb"))
    f:write(bytes)
    f:close()
    local tm = "tmux -S " .. sock .. " -f /dev/null "
    assert(os.execute(tm .. "new-session -d -x " .. W .. " -y " .. H .. " " ..
      sh_quote("stty raw -echo; cat " .. file .. "; tmux -S " .. sock ..
               " wait-for -S done; sleep 60")))
    assert(os.execute("timeout 10 " .. tm .. "wait-for done"))
    local p = io.popen(tm .. "capture-pane -p")
    local screen = p:read("a")
    p:close()
    p = io.popen(tm .. "display-message -p '#{cursor_x} #{cursor_y}'")
    local cx, cy = p:read("a"):match("(%d+) (%d+)")
    p:close()
    os.execute(tm .. "kill-server 2>/dev/null")
    os.remove(file)
    os.remove(sock)
    local rows = {}
    for row in (screen .. "\n"):gmatch("(.-)\n") do rows[#rows + 1] = row:gsub("%s+$", "") end
    return rows, tonumber(cx), tonumber(cy)
  end

  -- Lays text out as a W-column terminal does (a wide character that does
  -- not fit starts the next row); returns the rows, and the cursor after
  -- the whole text (a full last row puts it at the start of the next).
  local function layout(text, W)
    local grid, row, col = {{}}, 1, 0
    for _, cp in utf8.codes(text) do
      if cp == 10 then
        row, col = row + 1, 0
        grid[row] = {}
      else
        local w = LineEditor.char_width(cp)
        if col + w > W then row, col = row + 1, 0; grid[row] = {} end
        grid[row][col + 1] = utf8.char(cp)
        if w == 2 then grid[row][col + 2] = "" end
        col = col + w
      end
    end
    local rows = {}
    for r, cells in ipairs(grid) do
      local parts = {}
      for c = 1, W do parts[c] = cells[c] or " " end
      rows[r] = table.concat(parts):gsub("%s+$", "")
    end
    if col >= W then row, col = row + 1, 0 end
    return rows, col, row - 1
  end

  local KEYS = {
    {"a", 8}, {"b", 4}, {" ", 3}, {"é", 2}, {"日", 2}, {"本", 1},
    {"\127", 3}, {"\27[D", 3}, {"\27[C", 2}, {"\1", 1}, {"\5", 1},
    {"\27[3~", 1}, {"\21", 1}, {"\11", 1}, {"\23", 1}, {"\25", 1},
    {"\27[A", 1}, {"\27[B", 1}, {"\18", 1}, {"ENTER", 1}, {"MSG", 1},
    {"CLEAR", 0.3}, {"\27b", 0.5}, {"\27f", 0.5},
  }
  local total = 0
  for _, k in ipairs(KEYS) do total = total + k[2] end
  local function pick()
    local r = math.random() * total
    for _, k in ipairs(KEYS) do
      r = r - k[2]
      if r <= 0 then return k[1] end
    end
    return "a"
  end

  it("keeps the screen and the cursor right through random sessions", function()
    if not have_tmux() then pending("tmux is not installed") return end
    for seed = 1, tonumber(os.getenv("LUASSH_LE_SEEDS")) or 12 do
      math.randomseed(seed)
      local W = ({9, 12, 17})[seed % 3 + 1]
      -- Every fourth session erases entered lines (line_echo=false).
      local line_echo = seed % 4 ~= 0
      local ed = LineEditor.new{width = W, max_line_length = 40, term_type = "screen",
                                line_echo = line_echo}
      local bytes = {ed:process_output("$ ")}
      local committed, prompt = "$ ", "$ "
      local msgs, enters = 0, 0
      for _ = 1, 70 do
        local k = pick()
        if k == "ENTER" and enters < 4 then
          enters = enters + 1
          if line_echo then
            committed = committed .. ed:get_line() .. "\n"
            prompt = ""
          end
          bytes[#bytes + 1] = (ed:feed("\r"))
        elseif k == "MSG" and msgs < 4 then
          msgs = msgs + 1
          local m = msgs % 2 == 0 and ("msg" .. msgs .. "\n") or ("p" .. msgs .. "> ")
          committed = committed .. m:gsub("\r", "")
          prompt = m:find("\n") and m:match("[^\n]*$") or prompt .. m
          bytes[#bytes + 1] = ed:process_output(m)
        elseif k == "CLEAR" then
          committed = prompt
          bytes[#bytes + 1] = (ed:feed("\12"))
        elseif k ~= "ENTER" and k ~= "MSG" then
          bytes[#bytes + 1] = (ed:feed(k))
        end
      end
      local line, pos = ed:get_line()
      local rows, cx, cy = render(table.concat(bytes), W, 40)
      -- tmux shows a pending wrap as column W: the start of the next row
      -- as far as the editor (and the next character drawn) is concerned.
      if cx == W then cx, cy = 0, cy + 1 end
      local want = layout(committed .. line, W)
      -- The cursor: after the committed text and the first pos characters.
      local prefix, n = committed, 0
      for _, c in utf8.codes(line) do
        if n == pos then break end
        prefix = prefix .. utf8.char(c)
        n = n + 1
      end
      local _, px, py = layout(prefix, W)
      for r = 1, math.max(#want, 1) do
        assert.equal(want[r] or "", rows[r] or "",
                     string.format("seed %d width %d row %d of %q", seed, W, r, committed .. line))
      end
      for r = #want + 1, #rows do
        assert.equal("", rows[r], string.format("seed %d: stray row %d", seed, r))
      end
      assert.same({px, py}, {cx, cy},
                  string.format("seed %d width %d cursor for pos %d of %q", seed, W, pos, committed .. line))
    end
  end)
end)
