--- Headless end-to-end test of the LLMRec plugin; run by tests/run.sh, which sets
--- LLMREC_BIN (the llmrec executable), LLMREC_TEST_DATA (a prepared dataset with at least 4 items),
--- LLMREC_TEST_ENCODER and LLMREC_TEST_LM (the MiniLM encoder directory and the SmolLM2 GGUF file
--- for the tests of streamed answers, skipped when they are missing) and LLMREC_NVIM_PIDFILE (where
--- the last daemon's pid is written, for run.sh to check that quitting Neovim stopped it).
---
--- Prints one "ok" line per test passed ("ok - NAME # SKIP why" for one skipped), stops at the
--- first failure ("not ok" and why), then quits: status 0 when all passed, 1 otherwise.

--- How long to wait for any one asynchronous result, in ms.
local TIMEOUT = 30000

local bin = vim.env.LLMREC_BIN
local data = vim.env.LLMREC_TEST_DATA
local encoder = vim.env.LLMREC_TEST_ENCODER
local lm = vim.env.LLMREC_TEST_LM

--- The daemon's error code for a cancelled request.
local REQUEST_CANCELLED = -32800
--- What the float shows while an answer streams.
local STREAMING_HINT = "(<C-c> or :LLMRecCancel stops)"

local function say(text)
  io.stdout:write(text, "\n")
  io.stdout:flush()
end

--- Every vim.notify call, in order: `{ message, level }`.
local notes = {}
vim.notify = function(message, level)
  table.insert(notes, { message = message, level = level or vim.log.levels.INFO })
end

--- Every message echoed with nvim_echo (the plugin's progress display), in order.
local echoes = {}
vim.api.nvim_echo = function(chunks)
  local text = {}
  for _, chunk in ipairs(chunks) do
    table.insert(text, chunk[1])
  end
  table.insert(echoes, table.concat(text))
end

--- Raises `message` unless `condition` holds.
local function check(condition, message)
  if not condition then
    error(message, 2)
  end
end

--- Ends the current test as skipped, saying why.
local function skip(reason)
  error({ skip = reason }, 2)
end

--- Waits until `condition()` holds; raises after TIMEOUT.
local function wait_for(what, condition)
  if not vim.wait(TIMEOUT, condition, 10) then
    error("timed out waiting for " .. what, 2)
  end
end

--- Runs `action`, then waits for a vim.notify at `level` whose message contains `text`; returns it.
local function expect_notify(level, text, action)
  local first = #notes + 1
  action()
  local found
  wait_for(string.format("a notification containing %q", text), function()
    for i = first, #notes do
      if notes[i].level == level and notes[i].message:find(text, 1, true) then
        found = notes[i].message
        return true
      end
    end
    return false
  end)
  return found
end

--- Sends a request on the plugin's connection and waits for the reply; returns err, result.
local function request(method, params)
  local done, err, result = false, nil, nil
  require("llmrec").client():request(method, params, function(e, r)
    done, err, result = true, e, r
  end)
  wait_for("the reply to " .. method, function()
    return done
  end)
  return err, result
end

--- The open float's window, or nil.
local function float_win()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= "" then
      return win
    end
  end
end

--- The float's lines (empty when no float is open).
local function float_lines()
  local win = float_win()
  return win and vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false) or {}
end

--- The item ids listed in the float, from the "#id" at the end of each line.
local function float_item_ids()
  local ids = {}
  for i, line in ipairs(float_lines()) do
    ids[i] = tonumber(line:match("#(%d+)$"))
  end
  return ids
end

--- Closes any float, runs `action`, and waits for a float to open; returns its lines.
local function expect_float(action)
  require("llmrec").close_float()
  action()
  wait_for("the float", function()
    return float_win() ~= nil
  end)
  return float_lines()
end

--- Types `keys` in the float with its cursor on `line`, and waits for `done()`.
local function type_in_float(keys, line, what, done)
  local win = float_win()
  check(win, "no float to type in")
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_win_set_cursor(win, { line, 0 })
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "x", false)
  wait_for(what, done)
end

local function contains(list, value)
  return vim.tbl_contains(list, value)
end

--- `text` with each run of white space made one space, and none at either end.
local function squash(text)
  return vim.trim((text:gsub("%s+", " ")))
end

--- The item ids of the float's item lines, in order, and the line number of the first one.
local function listed_ids()
  local ids, first
  ids = {}
  for i, line in ipairs(float_lines()) do
    local id = tonumber(line:match("^%s*%d+%. .-  %-?%d+%.%d+  #(%d+)$"))
    if id then
      table.insert(ids, id)
      first = first or i
    end
  end
  return ids, first
end

--- The item ids of a session/message result, in order.
local function result_ids(result)
  local ids = {}
  for i, item in ipairs(result.items) do
    ids[i] = item.itemId
  end
  return ids
end

--- Starts `require("llmrec").say(text, ...)`; returns a function that waits for its on_done and
--- returns err, result (`wait()`), or tells whether it ran yet (`wait(false)`).
local function start_say(text)
  local done, err, result = false, nil, nil
  require("llmrec").say(text, function(e, r)
    done, err, result = true, e, r
  end)
  return function(block)
    if block == false then
      return done
    end
    wait_for("the reply to session/message", function()
      return done
    end)
    return err, result
  end
end

--- Checks the float of a finished `say`: the understood line(s) before the items, and the items of
--- `result` in its order. Returns the line number of the first item.
local function check_say_float(result)
  local lines = float_lines()
  local ids, first = listed_ids()
  check(#ids >= 1 and vim.deep_equal(ids, result_ids(result)), "listed " .. vim.inspect(lines))
  local header = squash(table.concat(vim.list_slice(lines, 1, first - 1), " "))
  local understood = header:match("understood: .*$")
  check(understood, "no understood line: " .. vim.inspect(lines))
  for _, part in ipairs({ { "wanted facets: ", "wantedFacets" }, { "excluded facets: ", "excludedFacets" } }) do
    local facets = result.understood[part[2]]
    local shown = part[1] .. (#facets > 0 and table.concat(facets, ", ") or "none") .. ";"
    check(understood:find(shown, 1, true), string.format("%q not shown: %s", shown, understood))
  end
  check(not header:find(STREAMING_HINT, 1, true), "the streaming hint stayed: " .. vim.inspect(lines))
  return first
end

--- Why the tests with an LM cannot run, or nil when they can.
local function lm_assets_missing()
  for _, path in ipairs({ encoder or "", lm or "" }) do
    if path == "" or not vim.loop.fs_stat(path) then
      return "no MiniLM/SmolLM2 assets at " .. (path ~= "" and path or "(LLMREC_TEST_ENCODER/LLMREC_TEST_LM unset)")
    end
  end
end

--- The `session/answerDelta` notifications the daemon sent on the current connection, recorded
--- once `record_deltas()` ran.
local deltas = {}
local function record_deltas()
  local client = require("llmrec").client()
  local dispatch = client._dispatch
  client._dispatch = function(self, message)
    if type(message) == "table" and message.method == "session/answerDelta" then
      table.insert(deltas, message.params)
    end
    return dispatch(self, message)
  end
end

local tests = {}
local function test(name, body)
  table.insert(tests, { name = name, body = body })
end

-- State shared by the tests, in order.
local catalog_size, k, first_top

test("framing: byte-by-byte reads, several frames per read, header variants", function()
  local rpc = require("llmrec.rpc")
  local one = rpc.encode({ jsonrpc = "2.0", id = 1, result = { title = "crème brûlée" } })
  local length = tonumber(one:match("^Content%-Length: (%d+)\r\n\r\n"))
  check(length == #one - #"Content-Length: " - #tostring(length) - 4, "Content-Length is not the body's byte count")

  local decoder, bodies = rpc.new_decoder(), {}
  for i = 1, #one do
    local got, err = decoder:feed(one:sub(i, i))
    check(not err, tostring(err))
    vim.list_extend(bodies, got)
  end
  check(#bodies == 1 and vim.json.decode(bodies[1]).result.title == "crème brûlée", "byte-by-byte decode")

  local two = rpc.encode({ id = 2 }) .. "content-length: 9\nX-Other: y\n\n{\"id\": 3}"
  local three = rpc.encode({ id = 4 })
  local got = decoder:feed(two .. three:sub(1, 10))
  check(#got == 2 and vim.json.decode(got[2]).id == 3, "two frames in one read, the third partial")
  got = decoder:feed(three:sub(11))
  check(#got == 1 and vim.json.decode(got[1]).id == 4, "the rest of the third frame")

  local _, err = rpc.new_decoder():feed("Content-Length: x\r\n\r\n{}")
  check(err and err:find("Content-Length", 1, true), "a non-numeric Content-Length is a framing error")
  _, err = rpc.new_decoder():feed("no colon here\r\n\r\n{}")
  check(err and err:find("without ':'", 1, true), "a header line without ':' is a framing error")
end)

test("the plugin file defines the commands and loads nothing else", function()
  vim.cmd("runtime plugin/llmrec.lua")
  local names = { "Open", "Watch", "Buy", "Reject", "Recommend", "Search", "Say", "Cancel", "Add", "Status", "Stop" }
  for _, name in ipairs(names) do
    check(vim.fn.exists(":LLMRec" .. name) == 2, ":LLMRec" .. name .. " is not defined")
  end
  check(package.loaded["llmrec"] == nil, "the llmrec module was loaded at startup")
end)

test("setup, start and initialize", function()
  local llmrec = require("llmrec")
  llmrec.setup({ cmd = bin, stdio = true, data = data })
  local done, err, result = false, nil, nil
  llmrec.start(function(e, r)
    done, err, result = true, e, r
  end)
  wait_for("initialize", function()
    return done
  end)
  check(not err, "initialize failed: " .. vim.inspect(err))
  check(result.serverInfo.name == "llmrec", "serverInfo: " .. vim.inspect(result.serverInfo))
  catalog_size = result.loaded.catalogSize
  check(catalog_size >= 4, "the test needs a catalog of at least 4 items, not " .. catalog_size)
  -- History {1} and two rejections leave catalog_size - 3 candidates: enough for k every time.
  k = math.min(5, catalog_size - 3)
end)

test(":LLMRecOpen opens a session with a history", function()
  local llmrec = require("llmrec")
  expect_notify(vim.log.levels.INFO, "opened (history: 1 items)", function()
    vim.cmd("LLMRecOpen 1")
  end)
  local err, session = request("session/get", { sessionId = llmrec.session_id() })
  check(not err, vim.inspect(err))
  check(vim.deep_equal(session.history, { 1 }), "history: " .. vim.inspect(session.history))
end)

test(":LLMRecRecommend shows k items in the float, echoing its progress", function()
  local first_echo = #echoes + 1
  local lines = expect_float(function()
    vim.cmd("LLMRecRecommend " .. k)
  end)
  check(echoes[first_echo] and echoes[first_echo]:find("LLMRec: recommending", 1, true), "no progress echoed")
  check(#lines == k, string.format("%d lines, expected %d: %s", #lines, k, vim.inspect(lines)))
  check(lines[1]:match("^1%. .-  %-?%d+%.%d+  #%d+$"), "line format: " .. lines[1])
  first_top = float_item_ids()[1]
  check(first_top and first_top ~= 1, "the top item is not a new item: " .. lines[1])
end)

test(":LLMRecReject, then the recommendations never list the rejected item", function()
  local llmrec = require("llmrec")
  expect_notify(vim.log.levels.INFO, "rejected #" .. first_top, function()
    vim.cmd("LLMRecReject " .. first_top)
  end)
  local _, session = request("session/get", { sessionId = llmrec.session_id() })
  check(contains(session.rejected, first_top), "rejected: " .. vim.inspect(session.rejected))
  local lines = expect_float(function()
    vim.cmd("LLMRecRecommend " .. k)
  end)
  check(#lines == k, string.format("%d lines, expected %d: %s", #lines, k, vim.inspect(lines)))
  local ids = float_item_ids()
  check(not contains(ids, first_top), "the rejected item is listed: " .. vim.inspect(lines))
  check(not contains(ids, 1), "an item of the history is listed: " .. vim.inspect(lines))
end)

test("r in the float rejects the item and refreshes the list", function()
  local rejected_by_key = float_item_ids()[1]
  type_in_float("r", 1, "the refreshed float", function()
    local ids = float_item_ids()
    return #ids > 0 and not contains(ids, rejected_by_key)
  end)
  local ids = float_item_ids()
  check(#ids == k, string.format("%d lines after r, expected %d", #ids, k))
  check(not contains(ids, first_top), "the first rejected item came back: " .. vim.inspect(float_lines()))
end)

test("<CR> in the float marks the item viewed, q closes the float", function()
  local llmrec = require("llmrec")
  local viewed = float_item_ids()[1]
  local first = #notes + 1
  type_in_float("<CR>", 1, "the viewed notification", function()
    for i = first, #notes do
      if notes[i].message:find("viewed #" .. viewed, 1, true) then
        return true
      end
    end
    return false
  end)
  local _, session = request("session/get", { sessionId = llmrec.session_id() })
  check(session.history[#session.history] == viewed, "history: " .. vim.inspect(session.history))
  type_in_float("q", 1, "the float to close", function()
    return float_win() == nil
  end)
end)

test(":LLMRecSearch lists the catalog matches in the float", function()
  local _, got = request("catalog/get", { itemIds = { 1 } })
  local title = got.items[1].title
  local lines = expect_float(function()
    vim.cmd("LLMRecSearch " .. title)
  end)
  check(#lines >= 1 and #lines <= 10, "search lines: " .. vim.inspect(lines))
  check(float_item_ids()[1] == 1, string.format("searching %q did not list item 1 first: %s", title, lines[1]))
end)

test(":LLMRecSay without an LM: the understood line, then the ranked items with the list's keys", function()
  local llmrec = require("llmrec")
  expect_notify(vim.log.levels.INFO, "opened (history: 1 items)", function()
    vim.cmd("LLMRecOpen 1")
  end)
  llmrec.close_float()
  local err, result = start_say("something for Skin Care, but no perfume please")()
  check(not err, vim.inspect(err))
  check(result.answer == nil, "an answer from a daemon without an LM: " .. vim.inspect(result.answer))
  check(contains(result.understood.wantedFacets, "Skin Care"), "understood: " .. vim.inspect(result.understood))
  local first = check_say_float(result)
  check(float_lines()[1]:find("^understood: wanted facets: Skin Care"), "first line: " .. float_lines()[1])

  local viewed = listed_ids()[1]
  local note = #notes + 1
  type_in_float("<CR>", first, "the viewed notification", function()
    for i = note, #notes do
      if notes[i].message:find("viewed #" .. viewed, 1, true) then
        return true
      end
    end
    return false
  end)
  local rejected = listed_ids()[1]
  type_in_float("r", first, "the re-ranked float", function()
    return not contains(listed_ids(), rejected)
  end)
  check(float_lines()[1]:find("^understood: "), "r dropped the understood line: " .. vim.inspect(float_lines()))
  local _, session = request("session/get", { sessionId = llmrec.session_id() })
  check(contains(session.rejected, rejected), "rejected: " .. vim.inspect(session.rejected))
end)

test("q closes the float of :LLMRecSay; :LLMRecCancel with nothing in flight says so", function()
  type_in_float("q", 1, "the float to close", function()
    return float_win() == nil
  end)
  expect_notify(vim.log.levels.INFO, "nothing to cancel", function()
    vim.cmd("LLMRecCancel")
  end)
end)

test("recommendation progress is forwarded to on_progress", function()
  local llmrec = require("llmrec")
  local kinds, done = {}, false
  llmrec.client():request("session/recommend", { sessionId = llmrec.session_id(), k = 1 }, function()
    done = true
  end, {
    on_progress = function(value)
      table.insert(kinds, value.kind)
    end,
  })
  wait_for("the recommendation", function()
    return done
  end)
  check(kinds[1] == "begin" and kinds[#kinds] == "end", "progress kinds: " .. vim.inspect(kinds))
end)

test(":LLMRecStatus notifies the daemon's status", function()
  local message = expect_notify(vim.log.levels.INFO, "recommender", function()
    vim.cmd("LLMRecStatus")
  end)
  check(message:find("requests: %d+ served"), "status: " .. message)
end)

test("an unknown session is a notified error, not a Lua error", function()
  local llmrec = require("llmrec")
  local err = request("session/close", { sessionId = llmrec.session_id() })
  check(not err, vim.inspect(err))
  local message = expect_notify(vim.log.levels.ERROR, "session/recommend", function()
    check(pcall(vim.cmd, "LLMRecRecommend"), "the command raised a Lua error")
  end)
  check(message:find("not found"), "message: " .. message)
  check(llmrec.session_id() == nil, "the unknown session was not forgotten")
  expect_notify(vim.log.levels.ERROR, "no session", function()
    check(pcall(vim.cmd, "LLMRecWatch 1"), "the command raised a Lua error")
  end)
end)

test("other errors are notified: an unknown item, a bad argument", function()
  expect_notify(vim.log.levels.ERROR, "session/open: unknown item", function()
    check(pcall(vim.cmd, "LLMRecOpen " .. (catalog_size + 1)), "the command raised a Lua error")
  end)
  expect_notify(vim.log.levels.ERROR, "not an item id: abc", function()
    check(pcall(vim.cmd, "LLMRecOpen abc"), "the command raised a Lua error")
  end)
end)

test(":LLMRecSay opens a session when none is open", function()
  local llmrec = require("llmrec")
  check(llmrec.session_id() == nil, "a session is open")
  llmrec.close_float()
  expect_notify(vim.log.levels.INFO, "opened (history: 0 items)", function()
    vim.cmd("LLMRecSay I would like Skin Care products")
  end)
  wait_for("the items of :LLMRecSay", function()
    return #listed_ids() > 0
  end)
  check(float_lines()[1]:find("^understood: "), "float: " .. vim.inspect(float_lines()))
end)

test(":LLMRecAdd without an encoder is a notified error (catalog/add, -32012)", function()
  expect_notify(vim.log.levels.ERROR, "catalog/add: model not loaded", function()
    check(pcall(vim.cmd, "LLMRecAdd Vitamin C Serum | brightening"), "the command raised a Lua error")
  end)
end)

test("stop: shutdown and exit, status 0", function()
  local llmrec = require("llmrec")
  local client = llmrec.client()
  local done, code = false, nil
  llmrec.stop(function(status)
    done, code = true, status
  end)
  wait_for("the daemon to exit", function()
    return done
  end)
  check(code == 0, "exit status " .. tostring(code))
  check(client.state == "stopped", "client state " .. client.state)
end)

test("a daemon that cannot start is a notified error", function()
  local llmrec = require("llmrec")
  llmrec.setup({ cmd = "/nonexistent/llmrec", stdio = true, data = data })
  expect_notify(vim.log.levels.ERROR, "cannot start /nonexistent/llmrec", function()
    vim.cmd("LLMRecStatus")
  end)
  llmrec.setup({ cmd = bin, stdio = true, data = "/nonexistent/dataset" })
  expect_notify(vim.log.levels.ERROR, "exited (status", function()
    vim.cmd("LLMRecStatus")
  end)
end)

test("with an LM, :LLMRecSay streams the answer into the float, then lists the items", function()
  local missing = lm_assets_missing()
  if missing then
    skip(missing)
  end
  local llmrec = require("llmrec")
  llmrec.setup({ cmd = bin, stdio = true, data = data, encoder = encoder, lm = lm })
  local started, err, server = false, nil, nil
  llmrec.start(function(e, r)
    started, err, server = true, e, r
  end)
  wait_for("initialize with an LM", function()
    return started
  end)
  check(not err, "initialize: " .. vim.inspect(err))
  check(server.loaded.encoder, "no encoder loaded: " .. vim.inspect(server.loaded))
  record_deltas()

  llmrec.close_float()
  local wait = start_say("I would like something for Skin Care, no perfume")
  local buf = vim.api.nvim_win_get_buf(float_win())
  local snapshots = {}
  vim.api.nvim_buf_attach(buf, false, {
    on_lines = function(_, b)
      if not wait(false) then
        table.insert(snapshots, table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), " "))
      end
    end,
  })
  local result
  err, result = wait()
  check(not err, vim.inspect(err))
  local answer = result.answer
  check(answer and answer.text ~= "" and answer.finished, "answer: " .. vim.inspect(answer))

  check(#deltas >= 1, "no session/answerDelta arrived")
  local pieces = {}
  for i, delta in ipairs(deltas) do
    check(delta.index == i - 1 and delta.requestId == deltas[1].requestId, "delta " .. i .. ": " .. vim.inspect(delta))
    check(delta.sessionId == result.sessionId, "delta for another session: " .. vim.inspect(delta))
    table.insert(pieces, delta.text)
  end
  check(vim.trim(table.concat(pieces)) == answer.text, "the deltas joined are not answer.text")

  local streaming = vim.tbl_filter(function(text)
    return text:find(STREAMING_HINT, 1, true) ~= nil
  end, snapshots)
  check(#streaming == #deltas, string.format("%d float updates while streaming, %d deltas", #streaming, #deltas))
  for i, text in ipairs(streaming) do
    local so_far = squash(table.concat(pieces, "", 1, i))
    check(squash(text):find(so_far, 1, true), string.format("update %d lacks %q: %s", i, so_far, text))
  end

  check(squash(table.concat(float_lines(), " ")):find(squash(answer.text), 1, true), "the float lacks answer.text")
  check_say_float(result)
end)

test("with an LM, <C-c> in the float stops a streaming answer (-32800), keeping what came", function()
  local missing = lm_assets_missing()
  if missing then
    skip(missing)
  end
  local first_delta = #deltas + 1
  local wait = start_say("Tell me more about the cleanser, in detail")
  wait_for("the first piece of the answer", function()
    return #deltas >= first_delta or wait(false)
  end)
  check(not wait(false), "the reply came before any piece of the answer")
  local win = float_win()
  local note = #notes + 1
  type_in_float("<C-c>", 1, "the cancelled reply", function()
    return wait(false)
  end)
  local err = wait()
  check(err and err.code == REQUEST_CANCELLED, "reply: " .. vim.inspect(err))
  check(float_win() == win, "the float was closed")
  local lines = float_lines()
  check(lines[#lines] == "(cancelled)", "float: " .. vim.inspect(lines))
  local received = {}
  for i = first_delta, #deltas do
    table.insert(received, deltas[i].text)
  end
  check(#received >= 1, "no pieces")
  local text = squash(table.concat(lines, " "))
  check(text:find(squash(table.concat(received)), 1, true), "the float lacks the pieces received: " .. text)
  wait_for("the cancelled notification", function()
    for i = note, #notes do
      if notes[i].level == vim.log.levels.WARN and notes[i].message:find("cancelled", 1, true) then
        return true
      end
    end
    return false
  end)
end)

test("with an LM, :LLMRecCancel stops a say before its answer; the next say answers in full", function()
  local missing = lm_assets_missing()
  if missing then
    skip(missing)
  end
  local wait = start_say("Something different, please")
  vim.cmd("LLMRecCancel")
  local err = wait()
  check(err and err.code == REQUEST_CANCELLED, "reply: " .. vim.inspect(err))
  local lines = float_lines()
  check(lines[#lines] == "(cancelled)", "float: " .. vim.inspect(lines))

  local first_delta = #deltas + 1
  local result
  err, result = start_say("Then something for dry skin")()
  check(not err, vim.inspect(err))
  check(result.answer and result.answer.finished, "answer: " .. vim.inspect(result.answer))
  local pieces = {}
  for i = first_delta, #deltas do
    table.insert(pieces, deltas[i].text)
  end
  check(vim.trim(table.concat(pieces)) == result.answer.text, "the deltas joined are not answer.text")
  local shown = squash(table.concat(float_lines(), " "))
  check(shown:find(squash(result.answer.text), 1, true), "the float lacks the answer")
end)

test("with an encoder, :LLMRecAdd {title} | {description} adds a catalog item", function()
  local missing = lm_assets_missing()
  if missing then
    skip(missing)
  end
  local llmrec = require("llmrec")
  local id = catalog_size + 1
  expect_notify(vim.log.levels.INFO, string.format("added #%d Vitamin C Serum (catalog: %d items)", id, id), function()
    vim.cmd("LLMRecAdd Vitamin C Serum | A brightening serum for dull skin")
  end)
  local err, got = request("catalog/get", { itemIds = { id } })
  check(not err, vim.inspect(err))
  check(got.items[1].description == "A brightening serum for dull skin", "item: " .. vim.inspect(got.items[1]))
  local done, code = false, nil
  llmrec.stop(function(status)
    done, code = true, status
  end)
  wait_for("the daemon with an LM to exit", function()
    return done
  end)
  check(code == 0, "exit status " .. tostring(code))
end)

test("by default the plugin uses the user's shared daemon, started on demand, and leaves it running", function()
  local llmrec = require("llmrec")
  local function shared_status()
    llmrec.setup({ cmd = bin })
    local done, err = false, nil
    llmrec.start(function(e)
      done, err = true, e
    end)
    wait_for("initialize with the shared daemon", function()
      return done
    end)
    check(not err, "initialize failed: " .. vim.inspect(err))
    local status_err, status = request("server/status", vim.empty_dict())
    check(not status_err, vim.inspect(status_err))
    check(llmrec.client():pid() == nil, "the plugin did not spawn a daemon of its own")
    local stopped = false
    llmrec.stop(function()
      stopped = true
    end)
    wait_for("the connection to close", function()
      return stopped
    end)
    return status
  end
  local first = shared_status()
  local second = shared_status()
  check(first.processId == second.processId, "both connections reached one daemon")
  check(second.connectionsAccepted > first.connectionsAccepted, "the daemon counted the second connection")
  check(vim.fn.system({ bin, "status" }):find("llmrec daemon " .. first.processId, 1, true) ~= nil, "the shared daemon still runs")
end)

test("a running daemon is left for VimLeavePre to stop", function()
  local llmrec = require("llmrec")
  llmrec.setup({ cmd = bin, stdio = true, data = data })
  local done, err = false, nil
  llmrec.start(function(e)
    done, err = true, e
  end)
  wait_for("initialize", function()
    return done
  end)
  check(not err, vim.inspect(err))
  local file = assert(io.open(vim.env.LLMREC_NVIM_PIDFILE, "w"))
  file:write(llmrec.client():pid(), "\n")
  file:close()
end)

-- The tests share one daemon and one session, so the first failure ends the run.
local passed, skipped = 0, 0
for _, t in ipairs(tests) do
  local ok, err = pcall(t.body)
  if not ok and type(err) == "table" and err.skip then
    say("ok - " .. t.name .. " # SKIP " .. err.skip)
    skipped = skipped + 1
  elseif not ok then
    say("not ok - " .. t.name .. ": " .. tostring(err))
    break
  else
    say("ok - " .. t.name)
  end
  passed = passed + 1
end
say(string.format("%d of %d tests passed (%d skipped)", passed, #tests, skipped))
if passed < #tests then
  vim.cmd("cquit 1")
else
  vim.cmd("qall!")
end
