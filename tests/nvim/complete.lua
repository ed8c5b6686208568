-- Drive Neovim's built-in LSP client against `pycc lsp`, headless, as a person would.
--
--   PYCC_NVIM_FILE=/tmp/x/app.py PYCC_NVIM_OUT=/tmp/x/out.json \
--     nvim --headless -n -u tests/nvim/init.lua -c 'luafile tests/nvim/complete.lua'
--
-- tests/nvim/init.lua is the README's configuration: opening the (empty) Python file
-- starts `pycc lsp` (the first `pycc` on PATH). The script types two lines in Insert
-- mode key by key (the client sends incremental didChange), then:
--   1. asks textDocument/completion at the cursor and records the items;
--   2. completes with <C-x><C-o> (the omnifunc the configuration set), records the
--      popup's words, accepts the first one with <C-y>, and records the line;
--   3. opens a second Python file and records how many servers run (the
--      configuration must reuse one).
-- Results go to PYCC_NVIM_OUT as JSON; Neovim always quits, with 1 on a failure.

local out_path = os.getenv("PYCC_NVIM_OUT")
local result = { steps = {} }

local function save()
  local f = io.open(out_path, "w")
  f:write(vim.fn.json_encode(result))
  f:close()
end

local function finish(code)
  save()
  vim.cmd((code == 0) and "qall!" or "cquit! " .. code)
end

local function step(name, ok, detail)
  table.insert(result.steps, name .. (detail and (": " .. detail) or ""))
  save() -- progress is on disk even if Neovim is killed
  if not ok then
    result.error = name .. (detail and (": " .. detail) or "")
    finish(1)
  end
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("PYCC_NVIM_FILE")))
  local bufnr = vim.api.nvim_get_current_buf()
  step("filetype", vim.bo.filetype == "python", vim.bo.filetype)
  local client_id
  vim.wait(60000, function() -- buf_get_clients lists a client once it is initialized
    client_id = next(vim.lsp.buf_get_clients(bufnr))
    return client_id ~= nil
  end, 20)
  step("client attached by the configuration", client_id ~= nil)
  local ready = vim.wait(60000, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized == true
  end, 50)
  step("initialized", ready)
  result.nvim = tostring(vim.version().major) .. "." .. vim.version().minor .. "." .. vim.version().patch

  local function keys(text, mode)
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(text, true, false, true), mode or "xt", false)
  end
  keys("iimport argparse<CR>parser = argparse.Arg<Esc>")
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  step("typed", lines[2] == "parser = argparse.Arg", vim.inspect(lines))

  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = 1, character = #lines[2] },
  }
  local responses = vim.lsp.buf_request_sync(bufnr, "textDocument/completion", params, 30000)
  local response = responses and responses[client_id]
  step("completion answered", response ~= nil and response.err == nil, vim.inspect(response and response.err))
  result.is_incomplete = response.result.isIncomplete
  result.items = {}
  for _, item in ipairs(response.result.items or response.result) do
    table.insert(result.items, {
      label = item.label, detail = item.detail, sort_text = item.sortText,
      new_text = item.textEdit and item.textEdit.newText,
      start = item.textEdit and item.textEdit.range.start.character,
      ["end"] = item.textEdit and item.textEdit.range["end"].character,
    })
  end

  -- The built-in completion popup: <C-x><C-o> with vim.lsp.omnifunc, answered asynchronously.
  step("omnifunc set", vim.bo[bufnr].omnifunc == "v:lua.vim.lsp.omnifunc", vim.bo[bufnr].omnifunc)
  vim.o.completeopt = "menuone,noinsert" -- the first item is selected, <C-y> accepts it
  local waited = 0
  local function accept_when_shown() -- runs from a timer inside the Insert mode below
    local entries = vim.fn.complete_info({ "items" }).items
    if #entries > 0 or waited > 30000 then
      result.popup = {}
      for _, entry in ipairs(entries) do
        table.insert(result.popup, entry.word)
      end
      keys((#entries > 0) and "<C-y><Esc>" or "<Esc>", "n")
    else
      waited = waited + 20
      vim.defer_fn(accept_when_shown, 20)
    end
  end
  vim.defer_fn(accept_when_shown, 20)
  keys("A<C-x><C-o>", "nx!") -- returns when the timer leaves Insert mode
  step("popup shown", #result.popup > 0)
  result.accepted_line = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]

  vim.cmd("write")
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fn.fnamemodify(os.getenv("PYCC_NVIM_FILE"), ":h") .. "/second.py"))
  vim.wait(30000, function() return next(vim.lsp.buf_get_clients(0)) ~= nil end, 20)
  result.second_buffer_client = next(vim.lsp.buf_get_clients(0)) or false
  result.first_buffer_client = client_id
  result.servers = #vim.lsp.get_active_clients()

  vim.lsp.stop_client(client_id)
  vim.wait(10000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
end)
if not ok then
  result.error = tostring(err)
  finish(1)
end
finish(0)
