--- LLMRec for Neovim: talks to an `llmrec serve --stdio` daemon (spawned on first use) to open a
--- shopping session, record what the shopper viewed, bought or rejected, and show
--- recommendations and catalog searches in a floating window.
---
--- Daemon errors are reported with `vim.notify` at ERROR level (the daemon's message); nothing
--- here raises a Lua error because of them.
local rpc = require("llmrec.rpc")

local M = {}

--- The daemon's error code for an unknown, closed, expired or evicted session.
local SESSION_NOT_FOUND = -32010

--- Longest title shown in the float, in display cells.
local MAX_TITLE_WIDTH = 60

--- Configuration after `setup`; nil until then.
local config
--- The daemon connection (an `llmrec.rpc` client), once started.
local client
--- The open session's id.
local session_id
--- The float: its window and buffer, the item behind each line, and how to redraw it.
local float = { win = nil, buf = nil, items = {}, refresh = nil }

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
--- - `data` (string): prepared dataset directory, `~` expanded (default: $LLMREC_DATA)
--- - `recommender` (string), `encoder` (string): passed to `llmrec serve`
--- - `k` (integer): recommendations shown by `:LLMRecRecommend` without a count (default 10)
--- - `search_limit` (integer): results shown by `:LLMRecSearch` (default 10)
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
  if not config.data then
    notify("no dataset: set `data` in require('llmrec').setup() or $LLMREC_DATA", vim.log.levels.ERROR)
    return nil
  end
  client = rpc.new({
    cmd = config.cmd,
    data = vim.fn.expand(config.data),
    recommender = config.recommender,
    encoder = config.encoder and vim.fn.expand(config.encoder),
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

--- Closes the float, if it is open.
function M.close_float()
  if float.win and vim.api.nvim_win_is_valid(float.win) then
    vim.api.nvim_win_close(float.win, true)
  end
  float.win, float.buf, float.items, float.refresh = nil, nil, {}, nil
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

--- Makes the float's scratch buffer and its keys: <CR> viewed, r rejected (and refresh), q close.
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
  return buf
end

--- Shows `items` (`{id, title, score}` each) in the float, reusing it when open and focusing it.
--- `refresh` redraws the same list (after `r`).
local function show_list(items, refresh)
  local lines = #items > 0 and list_lines(items) or { "(no items)" }
  if not (float.win and vim.api.nvim_win_is_valid(float.win)) then
    float.buf = make_float_buffer()
    float.win = nil
  end
  vim.api.nvim_buf_set_option(float.buf, "modifiable", true)
  vim.api.nvim_buf_set_lines(float.buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(float.buf, "modifiable", false)
  float.items, float.refresh = items, refresh

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
    vim.api.nvim_set_current_win(float.win)
  else
    win_config.style = "minimal"
    float.win = vim.api.nvim_open_win(float.buf, true, win_config)
    vim.api.nvim_win_set_option(float.win, "cursorline", true)
  end
  vim.api.nvim_win_set_cursor(float.win, { 1, 0 })
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
  if session_id then
    c:request("session/close", { sessionId = session_id }, function() end)
    session_id = nil
  end
  c:request("session/open", { history = history }, function(err, result)
    if err then
      return report("session/open", err)
    end
    session_id = result.sessionId
    notify(string.format("session %s opened (history: %d items)", result.sessionId, result.historyLength))
    if on_done then
      on_done(result.sessionId)
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
