--- Defines the :LLMRec* commands. Nothing else happens at startup: the `llmrec` module is loaded,
--- set up with its defaults unless `require("llmrec").setup()` ran, and the daemon spawned only
--- when a command is first used.
if vim.g.loaded_llmrec then
  return
end
vim.g.loaded_llmrec = true

--- Defines user command `name` running `run(llmrec_module, command_args)`.
local function define(name, nargs, desc, run)
  vim.api.nvim_create_user_command(name, function(args)
    run(require("llmrec"), args)
  end, { nargs = nargs, desc = desc })
end

define("LLMRecOpen", "*", "LLMRec: open a session with a history of item ids", function(llmrec, args)
  llmrec.open(args.fargs)
end)
define("LLMRecWatch", 1, "LLMRec: record that the shopper viewed an item", function(llmrec, args)
  llmrec.observe("viewed", args.args)
end)
define("LLMRecBuy", 1, "LLMRec: record that the shopper bought an item", function(llmrec, args)
  llmrec.observe("bought", args.args)
end)
define("LLMRecReject", 1, "LLMRec: record that the shopper rejected an item", function(llmrec, args)
  llmrec.observe("rejected", args.args)
end)
define("LLMRecRecommend", "?", "LLMRec: show the top [k] recommendations", function(llmrec, args)
  llmrec.recommend(args.args ~= "" and args.args or nil)
end)
define("LLMRecSearch", "+", "LLMRec: search the catalog", function(llmrec, args)
  llmrec.search(args.args)
end)
define("LLMRecSay", "+", "LLMRec: tell the recommender what you want", function(llmrec, args)
  llmrec.say(args.args)
end)
define("LLMRecCancel", 0, "LLMRec: stop the answer of :LLMRecSay", function(llmrec)
  llmrec.cancel()
end)
-- Without -bar, a user command gets "|" in its argument, which separates title and description.
define("LLMRecAdd", "+", "LLMRec: add an item to the catalog: {title} | {description}", function(llmrec, args)
  local title, description = args.args:match("^(.-)|(.*)$")
  llmrec.add(title or args.args, description)
end)
define("LLMRecStatus", 0, "LLMRec: show the daemon's status", function(llmrec)
  llmrec.status()
end)
define("LLMRecStop", 0, "LLMRec: stop the daemon", function(llmrec)
  llmrec.stop()
end)
