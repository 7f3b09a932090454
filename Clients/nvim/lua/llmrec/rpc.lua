--- JSON-RPC 2.0 client for `llmrec serve --stdio` (see Protocol/spec.md).
---
--- Messages are framed with LSP `Content-Length` headers. The daemon runs as a child process
--- spawned with `vim.loop`; its stdout is decoded incrementally (a read may hold part of a frame
--- or several frames), responses are paired with their requests by id, and `$/progress` and
--- `session/answerDelta` notifications are forwarded to the request they belong to. Every callback
--- runs on the main loop (through `vim.schedule`), so callbacks may use the whole Neovim API.
---
--- Errors passed to callbacks are tables `{ code = integer|nil, message = string, data = any }`:
--- the daemon's JSON-RPC error object, or `code = nil` for client-side failures (the daemon
--- could not be started, exited, or broke the framing).
local M = {}

local uv = vim.loop

--- The daemon refuses header blocks larger than this; the decoder applies the same bound.
M.MAX_HEADER_BYTES = 8 * 1024

--- The daemon's error code for a request cancelled with `$/cancelRequest` (also given to a request
--- cancelled before it was sent).
M.REQUEST_CANCELLED = -32800

--- How many lines of the daemon's stderr are kept to explain an unexpected exit.
local STDERR_LINES = 20

--- Incremental decoder: bytes in, complete message bodies out.
--- Accepts header names in any case, unknown headers (ignored), `\r\n` or bare `\n` line ends.
---@class llmrec.Decoder
---@field private buffer string
---@field private body_length integer|nil
local Decoder = {}
Decoder.__index = Decoder

--- Makes an empty decoder.
---@return llmrec.Decoder
function M.new_decoder()
  return setmetatable({ buffer = "", body_length = nil }, Decoder)
end

--- Finds the end of the header block (the first empty line) in `buffer`.
--- Returns the header text and the index of the body's first byte, or nil if not buffered yet.
local function header_block(buffer)
  local start = 1
  while true do
    local newline = buffer:find("\n", start, true)
    if not newline then
      return nil
    end
    local line = buffer:sub(start, newline - 1)
    if line == "" or line == "\r" then
      return buffer:sub(1, start - 1), newline + 1
    end
    start = newline + 1
  end
end

--- Reads the body length from a header block; returns nil and a reason when it is malformed.
local function content_length(block)
  if block == "" then
    return nil, "empty header block"
  end
  local length
  for line in block:gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local name, value = line:match("^([^:]*):(.*)$")
    if not name then
      return nil, "header line without ':': " .. line
    end
    if vim.trim(name):lower() == "content-length" then
      value = vim.trim(value)
      if not value:match("^%d+$") then
        return nil, "Content-Length is not a non-negative integer: " .. value
      end
      length = tonumber(value)
    end
  end
  if not length then
    return nil, "header block has no Content-Length"
  end
  return length
end

--- Appends `chunk` and returns every body it completed, oldest first.
--- On a malformed header block returns the bodies completed before it and an error message;
--- the framing is lost and the decoder must not be fed again.
---@param chunk string
---@return string[] bodies
---@return string|nil err
function Decoder:feed(chunk)
  self.buffer = self.buffer .. chunk
  local bodies = {}
  while true do
    if not self.body_length then
      local block, body_start = header_block(self.buffer)
      if not block then
        if #self.buffer > M.MAX_HEADER_BYTES then
          return bodies, "header block exceeds " .. M.MAX_HEADER_BYTES .. " bytes"
        end
        return bodies
      end
      if #block > M.MAX_HEADER_BYTES then
        return bodies, "header block exceeds " .. M.MAX_HEADER_BYTES .. " bytes"
      end
      local length, err = content_length(block)
      if not length then
        return bodies, err
      end
      self.body_length = length
      self.buffer = self.buffer:sub(body_start)
    end
    if #self.buffer < self.body_length then
      return bodies
    end
    table.insert(bodies, self.buffer:sub(1, self.body_length))
    self.buffer = self.buffer:sub(self.body_length + 1)
    self.body_length = nil
  end
end

--- Frames one JSON-RPC message (a Lua table) as `Content-Length` header plus compact JSON body.
---@param message table
---@return string
function M.encode(message)
  local body = vim.json.encode(message)
  return string.format("Content-Length: %d\r\n\r\n", #body) .. body
end

--- A connection to one daemon process.
--- `state` is "new", "starting" (initialize sent), "running", "stopping" or "stopped".
---@class llmrec.Client
---@field state string
---@field server table|nil the daemon's `initialize` result once running
---@field exit_code integer|nil the daemon's exit status once stopped
local Client = {}
Client.__index = Client

--- Makes a client; nothing runs until `start`.
---
--- `opts`:
--- - `cmd` (string|string[]): the llmrec executable, or a command list ending in it (default "llmrec")
--- - `shared` (boolean|nil): talk to the user's shared daemon over its Unix socket instead of
---   spawning one: `llmrec start` (with `socket` and `config` when given) finds it, starting it when
---   none answers; `stop` then ends only this connection. `data` and the serve options are unused.
--- - `socket` (string|nil), `config` (string|nil): `--socket` and `--config` for `llmrec start`
--- - `data` (string, required without `shared`): prepared dataset directory
--- - `recommender` (string|nil), `encoder` (string|nil), `lm` (string|nil): passed as
---   `--recommender`/`--encoder`/`--lm`
--- - `serve_args` (string[]|nil): more arguments for `llmrec serve`, after the ones above
--- - `on_notification` (function(method, params)|nil): daemon notifications other than `$/progress`
---   and the `session/answerDelta` of a request made with `on_answer_delta`
---@param opts table
---@return llmrec.Client
function M.new(opts)
  return setmetatable({
    opts = opts,
    state = "new",
    next_id = 1,
    pending = {},
    progress = {},
    queue = {},
    ready_waiters = {},
    stderr_tail = {},
    decoder = M.new_decoder(),
  }, Client)
end

--- The argv of `llmrec serve` for these options.
local function serve_command(opts)
  local argv = type(opts.cmd) == "table" and vim.deepcopy(opts.cmd) or { opts.cmd or "llmrec" }
  vim.list_extend(argv, { "serve", "--stdio", "--data", opts.data })
  if opts.recommender then
    vim.list_extend(argv, { "--recommender", opts.recommender })
  end
  if opts.encoder then
    vim.list_extend(argv, { "--encoder", opts.encoder })
  end
  if opts.lm then
    vim.list_extend(argv, { "--lm", opts.lm })
  end
  vim.list_extend(argv, opts.serve_args or {})
  return argv
end

--- Runs `llmrec start`, connects to the socket it prints and calls `on_connected()`; failures
--- finish the client with the reason.
function Client:_connect_shared(on_connected)
  local argv = type(self.opts.cmd) == "table" and vim.deepcopy(self.opts.cmd) or { self.opts.cmd or "llmrec" }
  table.insert(argv, "start")
  if self.opts.socket then
    vim.list_extend(argv, { "--socket", self.opts.socket })
  end
  if self.opts.config then
    vim.list_extend(argv, { "--config", self.opts.config })
  end
  local output, errors = {}, {}
  local stdout, stderr = uv.new_pipe(false), uv.new_pipe(false)
  local handle, spawn_err = uv.spawn(argv[1], { args = vim.list_slice(argv, 2), stdio = { nil, stdout, stderr } }, function(code)
    vim.schedule(function()
      local path = vim.trim(table.concat(output)):match("([^\n]+)$")
      if code ~= 0 or not path then
        self:_finish("cannot start the shared llmrec daemon: " .. vim.trim(table.concat(errors)))
        return
      end
      local pipe = uv.new_pipe(false)
      pipe:connect(path, function(err)
        vim.schedule(function()
          if err then
            pipe:close()
            self:_finish(string.format("cannot connect to %s: %s", path, err))
            return
          end
          self.stdin, self.stdout = pipe, pipe
          on_connected()
        end)
      end)
    end)
  end)
  if not handle then
    stdout:close()
    stderr:close()
    vim.schedule(function()
      self:_finish(string.format("cannot start %s: %s", argv[1], spawn_err))
    end)
    return
  end
  stdout:read_start(function(_, chunk)
    if chunk then
      table.insert(output, chunk)
    else
      stdout:close()
    end
  end)
  stderr:read_start(function(_, chunk)
    if chunk then
      table.insert(errors, chunk)
    else
      stderr:close()
    end
  end)
end

--- Spawns the daemon (or, with `shared`, connects to the shared one) and sends `initialize`, then
--- `initialized` once it is answered. Requests made before then are queued and sent after the
--- handshake (or failed with its error); `when_ready` tells when it is done. Only valid in state "new".
function Client:start()
  assert(self.state == "new", "llmrec.rpc: start() on a client in state " .. self.state)
  self.state = "starting"
  local initialize_id = self:_register(function(err, result)
    if err then
      self:_fail_queue(err)
      self:_kill()
    else
      self.server = result
      self.state = "running"
      self:notify("initialized", vim.empty_dict())
      for _, message in ipairs(self.queue) do
        self:_write(message)
      end
      self.queue = {}
    end
    local waiters = self.ready_waiters
    self.ready_waiters = {}
    for _, waiter in ipairs(waiters) do
      waiter(err, result)
    end
  end)
  local handshake = {
    jsonrpc = "2.0",
    id = initialize_id,
    method = "initialize",
    params = { processId = vim.fn.getpid(), clientInfo = { name = "llmrec.nvim" } },
  }
  if self.opts.shared then
    self:_connect_shared(function()
      self.stdout:read_start(function(err, chunk)
        vim.schedule(function()
          self:_on_stdout(err, chunk)
        end)
      end)
      self:_write(handshake)
    end)
    return
  end
  local argv = serve_command(self.opts)
  self.stdin, self.stdout, self.stderr = uv.new_pipe(false), uv.new_pipe(false), uv.new_pipe(false)
  local handle, spawn_err = uv.spawn(argv[1], {
    args = vim.list_slice(argv, 2),
    stdio = { self.stdin, self.stdout, self.stderr },
  }, function(code, signal)
    vim.schedule(function()
      self:_on_process_exit(code, signal)
    end)
  end)
  if not handle then
    for _, pipe in ipairs({ self.stdin, self.stdout, self.stderr }) do
      pipe:close()
    end
    vim.schedule(function()
      self:_finish(string.format("cannot start %s: %s", argv[1], spawn_err))
    end)
    return
  end
  self.handle = handle
  self.stdout:read_start(function(err, chunk)
    vim.schedule(function()
      self:_on_stdout(err, chunk)
    end)
  end)
  self.stderr:read_start(function(_, chunk)
    if chunk then
      vim.schedule(function()
        self:_on_stderr(chunk)
      end)
    end
  end)
  self:_write(handshake)
end

--- Calls `callback(err, result)` with the `initialize` result once the handshake has succeeded,
--- or with the error that ended it. If it is already over, the callback runs on the next tick.
---@param callback fun(err: table|nil, result: table|nil)
function Client:when_ready(callback)
  if self.state == "new" or self.state == "starting" then
    table.insert(self.ready_waiters, callback)
    return
  end
  vim.schedule(function()
    if self.state == "running" then
      callback(nil, self.server)
    else
      callback({ message = self.stop_reason or "the llmrec daemon is not running" })
    end
  end)
end

--- Sends a request; `callback(err, result)` gets the daemon's error or result. Before `start`
--- or after the daemon stopped, the callback gets a client-side error.
---
--- `opts.on_progress(value)` receives the `$/progress` values of this request: a fresh
--- `workDoneToken` is added to `params` for it. `opts.on_answer_delta(params)` receives the
--- `session/answerDelta` notifications whose `requestId` is this request's id (`{requestId,
--- sessionId, index, text}`), in the order they arrive, all before `callback`. Returns the request id.
---@param method string
---@param params table|nil
---@param callback fun(err: table|nil, result: any)
---@param opts table|nil
---@return integer
function Client:request(method, params, callback, opts)
  opts = opts or {}
  if opts.on_progress then
    params = vim.tbl_extend("force", params or {}, { workDoneToken = "llmrec.nvim-" .. self.next_id })
    self.progress[params.workDoneToken] = opts.on_progress
  end
  if self.state == "starting" then
    local id = self:_register(callback, params, opts.on_answer_delta)
    table.insert(self.queue, { jsonrpc = "2.0", id = id, method = method, params = params })
    return id
  end
  return self:_request_now(method, params, callback, opts.on_answer_delta)
end

--- Cancels request `id`. One still queued behind the handshake is dropped, and its callback gets
--- `{code = REQUEST_CANCELLED}` on the next tick; one already sent gets `$/cancelRequest`, which the
--- daemon answers with `-32800` (or not at all, when its reply was already on the way: the
--- callback then gets the result). Returns false when `id` is not waiting for a reply.
---@param id integer
---@return boolean
function Client:cancel(id)
  if not self.pending[id] then
    return false
  end
  for i, message in ipairs(self.queue) do
    if message.id == id then
      table.remove(self.queue, i)
      vim.schedule(function()
        self:_complete(id, { code = M.REQUEST_CANCELLED, message = "request cancelled" })
      end)
      return true
    end
  end
  self:notify("$/cancelRequest", { id = id })
  return true
end

--- Sends a notification (no reply). Dropped unless the daemon is running or stopping.
---@param method string
---@param params table|nil
function Client:notify(method, params)
  if self.state == "running" or self.state == "stopping" then
    self:_write({ jsonrpc = "2.0", method = method, params = params })
  end
end

--- Stops the daemon: `shutdown`, then `exit`, then end of stdin; the process is killed if it has
--- not exited `timeout_ms` (default 5000) later. `on_stopped(exit_code)` runs once it is gone.
--- With `shared`, the same ends this connection only (the shared daemon serves on).
---@param on_stopped fun(exit_code: integer|nil)|nil
---@param timeout_ms integer|nil
function Client:stop(on_stopped, timeout_ms)
  if on_stopped then
    self.on_stopped = self.on_stopped or {}
    table.insert(self.on_stopped, on_stopped)
  end
  if self.state == "stopped" then
    self:_run_stopped_callbacks()
    return
  end
  if self.state == "stopping" then
    return
  end
  if self.state == "new" then
    self:_finish("the llmrec daemon was never started")
    return
  end
  local was_running = self.state == "running"
  self.state = "stopping"
  self.kill_timer = uv.new_timer()
  self.kill_timer:start(timeout_ms or 5000, 0, function()
    vim.schedule(function()
      self:_kill()
    end)
  end)
  if was_running then
    self:_request_now("shutdown", nil, function()
      self:notify("exit")
      self:_close_stdin()
    end)
  else
    self:_close_stdin()
  end
end

--- `stop`, waiting for the daemon to exit (for VimLeavePre). Returns its exit status.
---@param timeout_ms integer|nil
---@return integer|nil
function Client:stop_sync(timeout_ms)
  timeout_ms = timeout_ms or 5000
  self:stop(nil, timeout_ms)
  vim.wait(timeout_ms + 1000, function()
    return self.state == "stopped"
  end, 10)
  return self.exit_code
end

--- The daemon's process id, or nil when it is not running.
---@return integer|nil
function Client:pid()
  if self.handle and not self.handle:is_closing() then
    return self.handle:get_pid()
  end
end

--- True while requests can be made (starting or running).
---@return boolean
function Client:is_alive()
  return self.state == "starting" or self.state == "running"
end

--- Allocates the next request id and remembers its callback (and progress token and answer delta
--- handler, if any).
function Client:_register(callback, params, on_answer_delta)
  local id = self.next_id
  self.next_id = id + 1
  self.pending[id] = {
    callback = callback,
    token = params and params.workDoneToken,
    on_answer_delta = on_answer_delta,
  }
  return id
end

--- Registers and writes a request at once (not queued behind the handshake).
function Client:_request_now(method, params, callback, on_answer_delta)
  local id = self:_register(callback, params, on_answer_delta)
  if self.state == "new" or self.state == "stopped" then
    vim.schedule(function()
      self:_complete(id, { message = self.stop_reason or "the llmrec daemon is not running" })
    end)
  else
    self:_write({ jsonrpc = "2.0", id = id, method = method, params = params })
  end
  return id
end

--- Frames and writes a message to the daemon's stdin (dropped once stdin is closed).
function Client:_write(message)
  if self.stdin and not self.stdin:is_closing() then
    self.stdin:write(M.encode(message))
  end
end

--- Ends the daemon's stdin, which the daemon treats as `exit` (with `shared`: ends the writing
--- half of the connection; the daemon then closes it).
function Client:_close_stdin()
  if self.opts.shared then
    if self.stdin and not self.stdin:is_closing() then
      self.stdin:shutdown()
    end
    return
  end
  if self.stdin and not self.stdin:is_closing() then
    self.stdin:shutdown(function()
      self.stdin:close()
    end)
  end
end

--- Kills the daemon process, if it still runs (with `shared`: drops the connection).
function Client:_kill()
  if self.opts.shared then
    self.stdout_done = true
    self:_maybe_finish()
    return
  end
  if self.handle and not self.handle:is_closing() then
    self.handle:kill("sigkill")
  end
end

--- Calls and forgets the callback of request `id`.
function Client:_complete(id, err, result)
  local entry = self.pending[id]
  if not entry then
    return
  end
  self.pending[id] = nil
  if entry.token then
    self.progress[entry.token] = nil
  end
  entry.callback(err, result)
end

--- Fails the requests queued behind the handshake with `err`.
function Client:_fail_queue(err)
  local queued = self.queue
  self.queue = {}
  for _, message in ipairs(queued) do
    self:_complete(message.id, err)
  end
end

--- The `on_answer_delta` handler of the request a `session/answerDelta` notification belongs to.
function Client:_answer_delta_handler(params)
  local entry = type(params) == "table" and self.pending[params.requestId]
  return entry and entry.on_answer_delta
end

--- Routes one decoded message: a response to its callback, `$/progress` and `session/answerDelta`
--- to their request's handler, any other notification to `opts.on_notification`. Unmatched
--- responses are ignored.
function Client:_dispatch(message)
  if type(message) ~= "table" then
    return
  end
  if message.method then
    local delta_handler = message.method == "session/answerDelta" and self:_answer_delta_handler(message.params)
    if message.method == "$/progress" then
      local params = message.params or {}
      local handler = self.progress[params.token]
      if handler then
        handler(params.value or {})
      end
    elseif delta_handler then
      delta_handler(message.params)
    elseif self.opts.on_notification then
      self.opts.on_notification(message.method, message.params)
    end
  elseif message.id ~= nil then
    if message.error then
      self:_complete(message.id, {
        code = message.error.code,
        message = message.error.message or "unknown error",
        data = message.error.data,
      })
    else
      self:_complete(message.id, nil, message.result)
    end
  end
end

--- Feeds a stdout chunk to the decoder (nil chunk: end of file). A framing or JSON error loses
--- the stream: the daemon is killed and every waiting request fails with the reason.
function Client:_on_stdout(err, chunk)
  if err or not chunk then
    self.stdout_done = true
    self:_maybe_finish()
    return
  end
  if self.protocol_error then
    return
  end
  local bodies, framing_err = self.decoder:feed(chunk)
  for _, body in ipairs(bodies) do
    local ok, message = pcall(vim.json.decode, body, { luanil = { object = true, array = true } })
    if not ok then
      framing_err = "the daemon sent a body that is not JSON: " .. tostring(message)
      break
    end
    self:_dispatch(message)
  end
  if framing_err then
    self.protocol_error = "protocol error: " .. framing_err
    self:_kill()
  end
end

--- Keeps the last lines of the daemon's stderr, to explain an unexpected exit.
function Client:_on_stderr(chunk)
  for line in chunk:gmatch("[^\n]+") do
    table.insert(self.stderr_tail, line)
    if #self.stderr_tail > STDERR_LINES then
      table.remove(self.stderr_tail, 1)
    end
  end
end

--- Records the exit status of the daemon process.
function Client:_on_process_exit(code, signal)
  self.exit_code = code
  self.exit_signal = signal
  self.handle:close()
  self:_maybe_finish()
end

--- Finishes once both the process has exited and its stdout has been read to the end, so no
--- reply written before the exit is lost.
function Client:_maybe_finish()
  if self.opts.shared then
    if not self.stdout_done or self.state == "stopped" then
      return
    end
    if self.stdout and not self.stdout:is_closing() then
      self.stdout:close()
    end
    self:_finish(self.protocol_error or "the llmrec daemon closed the connection")
    return
  end
  if self.exit_code == nil or not self.stdout_done then
    return
  end
  local reason = self.protocol_error
  if not reason then
    reason = string.format("the llmrec daemon exited (status %d", self.exit_code)
    if self.exit_signal and self.exit_signal ~= 0 then
      reason = reason .. ", signal " .. self.exit_signal
    end
    reason = reason .. ")"
    if #self.stderr_tail > 0 then
      reason = reason .. ": " .. self.stderr_tail[#self.stderr_tail]
    end
  end
  for _, pipe in ipairs({ self.stdin, self.stdout, self.stderr }) do
    if not pipe:is_closing() then
      pipe:close()
    end
  end
  self:_finish(reason)
end

--- Moves to "stopped": every request and `when_ready` callback still waiting fails with `reason`.
function Client:_finish(reason)
  self.state = "stopped"
  self.stop_reason = reason
  if self.kill_timer then
    self.kill_timer:stop()
    self.kill_timer:close()
    self.kill_timer = nil
  end
  local ids = vim.tbl_keys(self.pending)
  table.sort(ids)
  for _, id in ipairs(ids) do
    self:_complete(id, { message = reason })
  end
  self.queue = {}
  local waiters = self.ready_waiters
  self.ready_waiters = {}
  for _, waiter in ipairs(waiters) do
    waiter({ message = reason })
  end
  self:_run_stopped_callbacks()
end

--- Runs (once) the callbacks given to `stop`.
function Client:_run_stopped_callbacks()
  local callbacks = self.on_stopped or {}
  self.on_stopped = nil
  for _, callback in ipairs(callbacks) do
    callback(self.exit_code)
  end
end

return M
