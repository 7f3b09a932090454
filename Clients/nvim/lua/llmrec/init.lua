--- LLMRec for Neovim: talks to an `llmrec serve --stdio` daemon (spawned on first use) to open a
--- shopping session, record what the shopper viewed, bought or rejected, talk with the recommender
--- (`session/message`, its answer streamed), and show recommendations and catalog searches in a
--- floating window.
---
--- Daemon errors are reported with `vim.notify` at ERROR level (the daemon's message); nothing
--- here raises a Lua error because of them.
local rpc = require("llmrec.rpc")

local M = {}

--- The daemon's error code for an unknown, closed, expired or evicted session.
local SESSION_NOT_FOUND = -32010

--- Longest title shown in the float, in display cells.
local MAX_TITLE_WIDTH = 60

--- Width at which a conversational answer (and the "understood" line) is wrapped, in display cells.
local ANSWER_WIDTH = 72

--- Configuration after `setup`; nil until then.
local config
--- The daemon connection (an `llmrec.rpc` client), once started.
local client
--- The open session's id.
local session_id
--- The float: its window and buffer, the item behind each line number, how to redraw it, and the
--- `say` turn it shows (nil for a plain list).
local float = { win = nil, buf = nil, items = {}, refresh = nil, turn = nil }
--- The `say` turn whose reply has not arrived yet, or nil: `{ client, id, pieces, cancelled }`
--- (`id` is nil while the session it needs is being opened).
local saying

--- Shows `message` with vim.notify, prefixed with "LLMRec: ".
local function notify(message, level)
  vim.notify("LLMRec: " .. message, level or vim.log.levels.INFO)
end

--- Reports a daemon (or connection) error for `method`. An unknown session is forgotten, so the
--- next command asks for `:LLMRecOpen` instead of repeating the error.
local function report(method, err)
  if err.code == SESSION_NOT_FOUND then
    session_id = nil
  end
  notify(string.format("%s: %s", method, err.message), vim.log.levels.ERROR)
end

--- Configures the plugin. Options (all optional):
--- - `cmd` (string|string[]): the llmrec executable (default "llmrec")
--- - `stdio` (boolean): spawn a daemon of this editor's own over stdio on `data` (default false:
---   use the user's shared daemon, found or started by `llmrec start`, which serves its
---   configuration file; `socket` and `config` are passed to it)
--- - `socket` (string), `config` (string): `--socket` and `--config` for the shared daemon
--- - `data` (string): with `stdio`, the prepared dataset directory, `~` expanded (default: $LLMREC_DATA)
--- - `recommender` (string), `encoder` (string), `lm` (string): with `stdio`, passed to `llmrec serve` as
---   `--recommender`, `--encoder`, `--lm` (`~` expanded in `encoder` and `lm`)
--- - `serve_args` (string[]): more `llmrec serve` arguments, e.g. `{ "--lm-threads", "2" }`
--- - `k` (integer): recommendations shown by `:LLMRecRecommend` without a count (default 10)
--- - `search_limit` (integer): results shown by `:LLMRecSearch` (default 10)
--- - `say_k` (integer): items ranked for `:LLMRecSay` (default 5)
--- - `max_answer_tokens` (integer): longest answer `:LLMRecSay` asks for, in tokens (default 80)
--- - `border` (string|table): the float's border (default "rounded")
--- - `stop_timeout` (integer): ms to wait for the daemon to exit before killing it (default 5000)
--- A daemon started with an earlier configuration is stopped; the next command starts a new one.
---@param opts table|nil
function M.setup(opts)
  config = vim.tbl_extend("force", {
    cmd = "llmrec",
    data = vim.env.LLMREC_DATA,
    k = 10,
    search_limit = 10,
    say_k = 5,
    max_answer_tokens = 80,
    border = "rounded",
    stop_timeout = 5000,
  }, opts or {})
  if client and client:is_alive() then
    M.stop()
  end
  vim.api.nvim_create_autocmd("VimLeavePre", {
    group = vim.api.nvim_create_augroup("llmrec", { clear = true }),
    desc = "Stop the LLMRec daemon",
    callback = function()
      if client then
        client:stop_sync(config.stop_timeout)
      end
    end,
  })
end

--- Runs `setup` with the defaults unless it already ran.
local function ensure_setup()
  if not config then
    M.setup({})
  end
end

--- Returns the daemon connection, spawning the daemon when none is alive; requests made while it
--- starts are sent after the handshake. Returns nil (after notifying) when `data` is not set.
local function ensure_client()
  ensure_setup()
  if client and client:is_alive() then
    return client
  end
  if config.stdio and not config.data then
    notify("no dataset: set `data` in require('llmrec').setup() or $LLMREC_DATA", vim.log.levels.ERROR)
    return nil
  end
  client = rpc.new({
    shared = not config.stdio,
    socket = config.socket and vim.fn.expand(config.socket),
    config = config.config and vim.fn.expand(config.config),
    cmd = config.cmd,
    data = config.data and vim.fn.expand(config.data),
    recommender = config.recommender,
    encoder = config.encoder and vim.fn.expand(config.encoder),
    lm = config.lm and vim.fn.expand(config.lm),
    serve_args = config.serve_args,
  })
  session_id = nil
  client:start()
  return client
end

--- Starts the daemon if it is not running; `on_ready(err, result)` (optional) gets the
--- `initialize` result: `{serverInfo, protocolVersion, capabilities, loaded, limits}`.
---@param on_ready fun(err: table|nil, result: table|nil)|nil
function M.start(on_ready)
  local c = ensure_client()
  if c and on_ready then
    c:when_ready(on_ready)
  end
end

--- Stops the daemon (shutdown, exit); `on_stopped(exit_code)` (optional) runs once it is gone.
---@param on_stopped fun(exit_code: integer|nil)|nil
function M.stop(on_stopped)
  local c = client
  client, session_id = nil, nil
  if c then
    c:stop(on_stopped, config.stop_timeout)
  elseif on_stopped then
    vim.schedule(on_stopped)
  end
end

--- The daemon connection (`llmrec.rpc` client) for custom requests, or nil before the first use.
---@return table|nil
function M.client()
  return client
end

--- The open session's id, or nil.
---@return string|nil
function M.session_id()
  return session_id
end

--- Parses a positive integer (an item id or a count), given as a number or a string; nil if it
--- is not one.
local function parse_positive_integer(value)
  local id = tonumber(value)
  if id and id >= 1 and id % 1 == 0 then
    return id
  end
end

--- Returns the daemon connection and the open session's id, or nil after notifying why not.
local function current_session()
  if not (session_id and client and client:is_alive()) then
    notify("no session: run :LLMRecOpen first", vim.log.levels.ERROR)
    return nil
  end
  return client, session_id
end

--- Cancels the in-flight `say`, if any; returns whether there was one.
local function cancel_say()
  local turn = saying
  if not turn or turn.cancelled then
    return false
  end
  turn.cancelled = true
  if turn.id then
    turn.client:cancel(turn.id)
  end
  return true
end

--- Closes the float, if it is open. A `say` still answering in it is cancelled.
function M.close_float()
  if float.turn and float.turn == saying then
    cancel_say()
  end
  if float.win and vim.api.nvim_win_is_valid(float.win) then
    vim.api.nvim_win_close(float.win, true)
  end
  float.win, float.buf, float.items, float.refresh, float.turn = nil, nil, {}, nil, nil
end

--- `text` on one line, cut to at most `width` display cells.
local function fit(text, width)
  text = text:gsub("[%c]", " ")
  if vim.fn.strdisplaywidth(text) <= width then
    return text
  end
  local chars = vim.fn.strchars(text)
  while chars > 0 and vim.fn.strdisplaywidth(text) > width - 1 do
    chars = chars - 1
    text = vim.fn.strcharpart(text, 0, chars)
  end
  return text .. "…"
end

--- `text` broken into lines of at most `width` display cells, at white space where it can be; each
--- line of `text` starts a new one.
local function wrap(text, width)
  local lines = {}
  for paragraph in (text .. "\n"):gmatch("([^\n]*)\n") do
    local line = ""
    for word in paragraph:gsub("%c", " "):gmatch("%S+") do
      while vim.fn.strdisplaywidth(word) > width do
        if line ~= "" then
          table.insert(lines, line)
          line = ""
        end
        local chars = width
        while chars > 1 and vim.fn.strdisplaywidth(vim.fn.strcharpart(word, 0, chars)) > width do
          chars = chars - 1
        end
        table.insert(lines, vim.fn.strcharpart(word, 0, chars))
        word = vim.fn.strcharpart(word, chars)
      end
      if line == "" then
        line = word
      elseif vim.fn.strdisplaywidth(line) + 1 + vim.fn.strdisplaywidth(word) <= width then
        line = line .. " " .. word
      else
        table.insert(lines, line)
        line = word
      end
    end
    table.insert(lines, line)
  end
  return lines
end

--- `text` padded with spaces to `width` display cells.
local function pad(text, width)
  return text .. string.rep(" ", width - vim.fn.strdisplaywidth(text))
end

--- One line per item: "rank. title  score  #itemId", columns aligned.
local function list_lines(items)
  local titles, scores = {}, {}
  local title_width, score_width = 0, 0
  for i, item in ipairs(items) do
    titles[i] = fit(item.title or "", MAX_TITLE_WIDTH)
    scores[i] = string.format("%.4f", item.score)
    title_width = math.max(title_width, vim.fn.strdisplaywidth(titles[i]))
    score_width = math.max(score_width, #scores[i])
  end
  local rank_width = #tostring(#items)
  local lines = {}
  for i, item in ipairs(items) do
    lines[i] = string.format(
      "%" .. rank_width .. "d. %s  %" .. score_width .. "s  #%d",
      i,
      pad(titles[i], title_width),
      scores[i],
      item.id
    )
  end
  return lines
end

--- The item on the float's cursor line, or nil.
local function item_at_cursor()
  if not (float.win and vim.api.nvim_win_is_valid(float.win)) then
    return nil
  end
  return float.items[vim.api.nvim_win_get_cursor(float.win)[1]]
end

--- Makes the float's scratch buffer and its keys: <CR> viewed, r rejected (and refresh), q close,
--- <C-c> cancels an answer still streaming.
local function make_float_buffer()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  vim.api.nvim_buf_set_option(buf, "filetype", "llmrec")
  local function map(lhs, desc, action)
    vim.keymap.set("n", lhs, action, { buffer = buf, nowait = true, silent = true, desc = desc })
  end
  map("<CR>", "LLMRec: mark the item viewed", function()
    local item = item_at_cursor()
    if item then
      M.observe("viewed", item.id)
    end
  end)
  map("r", "LLMRec: reject the item and refresh", function()
    local item = item_at_cursor()
    local refresh = float.refresh
    if item then
      M.observe("rejected", item.id, refresh)
    end
  end)
  map("q", "LLMRec: close", M.close_float)
  map("<C-c>", "LLMRec: cancel the answer", function()
    cancel_say()
  end)
  return buf
end

--- Puts `lines` in the float, opening it or reusing it when open, and sizes it to them.
--- `items` maps a line number to the item (`{id, title, score}`) on it, `refresh` redraws the same
--- list (after `r`), `turn` is the `say` turn shown (nil for none). With `cursor` (a line number)
--- the float is focused and the cursor put there; without, the focus and cursor stay where they are.
local function show(lines, items, refresh, turn, cursor)
  if not (float.win and vim.api.nvim_win_is_valid(float.win)) then
    float.buf = make_float_buffer()
    float.win = nil
    cursor = cursor or 1
  end
  vim.api.nvim_buf_set_option(float.buf, "modifiable", true)
  vim.api.nvim_buf_set_lines(float.buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(float.buf, "modifiable", false)
  float.items, float.refresh, float.turn = items, refresh, turn

  local width = 1
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  width = math.min(width, math.max(vim.o.columns - 4, 1))
  local height = math.min(#lines, math.max(vim.o.lines - 4, 1))
  local win_config = {
    relative = "editor",
    width = width,
    height = height,
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    border = config.border,
  }
  if float.win then
    vim.api.nvim_win_set_config(float.win, win_config)
  else
    win_config.style = "minimal"
    float.win = vim.api.nvim_open_win(float.buf, true, win_config)
    vim.api.nvim_win_set_option(float.win, "cursorline", true)
  end
  if cursor then
    vim.api.nvim_set_current_win(float.win)
    vim.api.nvim_win_set_cursor(float.win, { cursor, 0 })
  end
end

--- Shows `items` (`{id, title, score}` each) in the float, reusing it when open and focusing it.
--- `refresh` redraws the same list (after `r`). An answer still streaming there is cancelled.
local function show_list(items, refresh)
  if float.turn and float.turn == saying then
    cancel_say()
  end
  show(#items > 0 and list_lines(items) or { "(no items)" }, items, refresh, nil, 1)
end

--- Opens a session on `c` whose history is `history` (item ids), closing the previous session and
--- notifying the outcome; `on_done(session_id, err)` gets the new session's id, or nil and the
--- error when it failed.
local function open_session(c, history, on_done)
  if session_id then
    c:request("session/close", { sessionId = session_id }, function() end)
    session_id = nil
  end
  c:request("session/open", { history = history }, function(err, result)
    if err then
      report("session/open", err)
      return on_done(nil, err)
    end
    session_id = result.sessionId
    notify(string.format("session %s opened (history: %d items)", result.sessionId, result.historyLength))
    on_done(result.sessionId)
  end)
end

--- Opens a session whose history is `item_ids` (numbers or numeric strings, oldest first),
--- closing the previous session. `on_done(session_id)` (optional) runs once it is open.
---@param item_ids (integer|string)[]|nil
---@param on_done fun(session_id: string)|nil
function M.open(item_ids, on_done)
  local history = {}
  for _, value in ipairs(item_ids or {}) do
    local id = parse_positive_integer(value)
    if not id then
      notify("not an item id: " .. tostring(value), vim.log.levels.ERROR)
      return
    end
    table.insert(history, id)
  end
  local c = ensure_client()
  if not c then
    return
  end
  open_session(c, history, function(sid)
    if sid and on_done then
      on_done(sid)
    end
  end)
end

--- Records that the shopper `kind`ed (one of "viewed", "bought", "rejected") item `item_id` in
--- the open session. `on_done()` (optional) runs after the daemon acknowledged it.
---@param kind string
---@param item_id integer|string
---@param on_done fun()|nil
function M.observe(kind, item_id, on_done)
  if kind ~= "viewed" and kind ~= "bought" and kind ~= "rejected" then
    notify("unknown event kind: " .. tostring(kind), vim.log.levels.ERROR)
    return
  end
  local id = parse_positive_integer(item_id)
  if not id then
    notify("not an item id: " .. tostring(item_id), vim.log.levels.ERROR)
    return
  end
  local c, sid = current_session()
  if not c then
    return
  end
  c:request("session/observe", { sessionId = sid, events = { { itemId = id, kind = kind } } }, function(err, result)
    if err then
      return report("session/observe", err)
    end
    notify(
      string.format("%s #%d (history: %d, rejected: %d)", kind, id, result.historyLength, result.rejectedCount)
    )
    if on_done then
      on_done()
    end
  end)
end

--- Echoes a `$/progress` value of a recommendation in the command line.
local function show_progress(value)
  local text = "LLMRec: recommending"
  if value.message or value.title then
    text = text .. " (" .. (value.message or value.title) .. ")"
  end
  if value.percentage then
    text = string.format("%s %d%%", text, value.percentage)
  end
  vim.api.nvim_echo({ { text } }, false, {})
end

--- Shows the open session's top `k` recommendations (default: the `k` option) in the float.
---@param k integer|string|nil
function M.recommend(k)
  ensure_setup()
  local count = k == nil and config.k or parse_positive_integer(k)
  if not count then
    notify("not a count: " .. tostring(k), vim.log.levels.ERROR)
    return
  end
  local c, sid = current_session()
  if not c then
    return
  end
  c:request("session/recommend", { sessionId = sid, k = count }, function(err, result)
    if err then
      return report("session/recommend", err)
    end
    local items = {}
    for i, entry in ipairs(result.items) do
      items[i] = { id = entry.itemId, title = entry.title, score = entry.score }
    end
    show_list(items, function()
      M.recommend(count)
    end)
  end, { on_progress = show_progress })
end

--- Shows the catalog items that best match `query` (catalog/search) in the float.
---@param query string
function M.search(query)
  if type(query) ~= "string" or vim.trim(query) == "" then
    notify("search: give a query", vim.log.levels.ERROR)
    return
  end
  local c = ensure_client()
  if not c then
    return
  end
  c:request("catalog/search", { query = query, limit = config.search_limit }, function(err, result)
    if err then
      return report("catalog/search", err)
    end
    local items = {}
    for i, entry in ipairs(result.items) do
      items[i] = { id = entry.item.itemId, title = entry.item.title, score = entry.score }
    end
    show_list(items, function()
      M.search(query)
    end)
  end)
end

--- The width at which answers are wrapped in the float.
local function answer_width()
  return math.max(math.min(ANSWER_WIDTH, vim.o.columns - 4), 10)
end

--- Whether the float is open and shows `turn`.
local function float_shows(turn)
  return float.turn == turn and float.win ~= nil and vim.api.nvim_win_is_valid(float.win)
end

--- Shows a `say` turn still waiting for its reply: the answer so far, then how to stop it. With
--- `focus`, the float is focused.
local function show_streaming(turn, focus)
  local text = vim.trim(table.concat(turn.pieces))
  local lines = text ~= "" and wrap(text, answer_width()) or {}
  table.insert(lines, (text == "" and "thinking" or "answering") .. "… (<C-c> or :LLMRecCancel stops)")
  show(lines, {}, nil, turn, focus and 1 or nil)
end

--- The line saying what the daemon understood of a message (`understood` of session/message).
local function understood_line(understood)
  local function list(values)
    return #values > 0 and table.concat(values, ", ") or "none"
  end
  local parts = {
    "wanted facets: " .. list(understood.wantedFacets or {}),
    "excluded facets: " .. list(understood.excludedFacets or {}),
  }
  if #(understood.preferences or {}) > 0 then
    table.insert(parts, "likes: " .. list(understood.preferences))
  end
  if #(understood.exclusions or {}) > 0 then
    table.insert(parts, "not: " .. list(understood.exclusions))
  end
  if understood.reference then
    table.insert(parts, "reference: " .. understood.reference)
  end
  return "understood: " .. table.concat(parts, "; ")
end

--- `{id, title, score}` items from the daemon's `RankedItem`s (or `{itemId, title, score}` ones).
local function list_items(ranked)
  local items = {}
  for i, entry in ipairs(ranked) do
    items[i] = { id = entry.itemId, title = entry.title, score = entry.score }
  end
  return items
end

--- Shows a `say` turn's reply: `header` (the answer and the understood line), then `items` with
--- the list's keys; `r` re-ranks the session (session/recommend) under the same header. The cursor
--- goes to the first item when the float is the current window.
local function show_reply(turn, header, items)
  local lines, by_line = vim.deepcopy(header), {}
  for i, line in ipairs(list_lines(items)) do
    table.insert(lines, line)
    by_line[#lines] = items[i]
  end
  if #items == 0 then
    table.insert(lines, "(no items)")
  end
  local function refresh()
    local c, sid = current_session()
    if not c then
      return
    end
    c:request("session/recommend", { sessionId = sid, k = config.say_k }, function(err, result)
      if err then
        return report("session/recommend", err)
      end
      if float_shows(turn) then
        show_reply(turn, header, list_items(result.items))
      end
    end)
  end
  local focused = float.win ~= nil and vim.api.nvim_get_current_win() == float.win
  show(lines, by_line, refresh, turn, focused and #header + 1 or nil)
end

--- Says `text` to the recommender in the open session (session/message), opening a session with
--- an empty history when none is open. The float shows the answer as it streams, then what the
--- daemon understood and the ranked items, with the list's keys (and <C-c> to stop the answer).
--- A `say` still in flight is cancelled first. `on_done(err, result)` (optional) runs when the
--- turn is over: `err` is the daemon's error (code -32800 when cancelled), `result` the
--- session/message result.
---@param text string
---@param on_done fun(err: table|nil, result: table|nil)|nil
function M.say(text, on_done)
  ensure_setup()
  on_done = on_done or function() end
  if type(text) ~= "string" or vim.trim(text) == "" then
    notify("say: give a message", vim.log.levels.ERROR)
    return
  end
  local c = ensure_client()
  if not c then
    return
  end
  cancel_say()
  local turn = { client = c, pieces = {}, cancelled = false }
  saying = turn
  show_streaming(turn, true)

  local function on_reply(err, result)
    if saying == turn then
      saying = nil
    end
    if err and err.code == rpc.REQUEST_CANCELLED then
      notify("session/message: cancelled", vim.log.levels.WARN)
      if float_shows(turn) then
        local text_so_far = vim.trim(table.concat(turn.pieces))
        local lines = text_so_far ~= "" and wrap(text_so_far, answer_width()) or {}
        table.insert(lines, "(cancelled)")
        show(lines, {}, nil, turn, nil)
      end
    elseif err then
      report("session/message", err)
      if float.turn == turn then
        M.close_float()
      end
    elseif float_shows(turn) then
      local header = {}
      if result.answer and vim.trim(result.answer.text) ~= "" then
        header = wrap(vim.trim(result.answer.text), answer_width())
        table.insert(header, "")
      end
      vim.list_extend(header, wrap(understood_line(result.understood), answer_width()))
      show_reply(turn, header, list_items(result.items))
    end
    on_done(err, result)
  end

  local function on_answer_delta(params)
    table.insert(turn.pieces, params.text or "")
    if float_shows(turn) then
      show_streaming(turn, false)
    elseif float.turn == turn then
      -- The float was closed some other way than q: nobody watches the answer any more.
      cancel_say()
    end
  end

  local function send(sid, open_err)
    if not sid then
      return on_reply(open_err)
    end
    if turn.cancelled then
      return on_reply({ code = rpc.REQUEST_CANCELLED, message = "request cancelled" })
    end
    turn.id = c:request("session/message", {
      sessionId = sid,
      text = text,
      k = config.say_k,
      maxAnswerTokens = config.max_answer_tokens,
    }, on_reply, { on_answer_delta = on_answer_delta })
  end
  if session_id then
    send(session_id)
  else
    open_session(c, {}, send)
  end
end

--- Cancels the `say` in flight (`$/cancelRequest`): its answer stops where it is. Notifies and
--- returns false when there is none.
---@return boolean
function M.cancel()
  if cancel_say() then
    return true
  end
  notify("nothing to cancel")
  return false
end

--- Adds an item known by its text to the catalog (catalog/add; the daemon needs an encoder).
--- `on_done(item)` (optional) gets the added `Item` (`{itemId, originalId, title, description,
--- metadata}`).
---@param title string
---@param description string|nil
---@param on_done fun(item: table)|nil
function M.add(title, description, on_done)
  if type(title) ~= "string" or vim.trim(title) == "" then
    notify("add: give a title", vim.log.levels.ERROR)
    return
  end
  local c = ensure_client()
  if not c then
    return
  end
  local item = { title = vim.trim(title) }
  if description and vim.trim(description) ~= "" then
    item.description = vim.trim(description)
  end
  c:request("catalog/add", { items = { item } }, function(err, result)
    if err then
      return report("catalog/add", err)
    end
    local added = result.items[1]
    notify(string.format("added #%d %s (catalog: %d items)", added.itemId, added.title, result.catalogSize))
    if on_done then
      on_done(added)
    end
  end)
end

--- Notifies what the daemon serves and how it is doing (server/status).
function M.status()
  local c = ensure_client()
  if not c then
    return
  end
  c:request("server/status", nil, function(err, status)
    if err then
      return report("server/status", err)
    end
    local loaded = c.server.loaded
    local requests, latency = status.requests, status.latencyMs
    notify(table.concat({
      string.format(
        "%s %s, dataset %s (%d items, %d users), recommender %s%s",
        c.server.serverInfo.name,
        c.server.serverInfo.version,
        loaded.dataset,
        loaded.catalogSize,
        loaded.users,
        loaded.recommender,
        loaded.encoder and (", encoder " .. loaded.encoder) or ""
      ),
      string.format(
        "uptime %.0f s, %d sessions, %d connections, %.1f MiB resident",
        status.uptimeSeconds,
        status.sessions,
        status.connections,
        status.residentMemoryBytes / 1048576
      ),
      string.format(
        "requests: %d served, %d failed, %d cancelled; latency p50 %.2f ms, p99 %.2f ms",
        requests.served,
        requests.failed,
        requests.cancelled,
        latency.p50,
        latency.p99
      ),
      "session: " .. (session_id or "none"),
    }, "\n"))
  end)
end

return M
