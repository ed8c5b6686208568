-- The README's Neovim configurations, verbatim: tests/test_lsp_nvim.py starts Neovim
-- with this file as its init.lua. The first branch is for Neovim 0.7 (Debian 12's),
-- the second for 0.8 and later, where vim.lsp.start exists.
if vim.lsp.start == nil then
  -- Neovim 0.7: one pycc server for all Python buffers
  local pycc_client
  vim.api.nvim_create_autocmd("FileType", {
    pattern = "python",
    callback = function(args)
      if not (pycc_client and vim.lsp.get_client_by_id(pycc_client)) then
        pycc_client = vim.lsp.start_client({ name = "pycc", cmd = { "pycc", "lsp" }, root_dir = vim.fn.getcwd() })
      end
      vim.lsp.buf_attach_client(args.buf, pycc_client)
      vim.bo[args.buf].omnifunc = "v:lua.vim.lsp.omnifunc" -- complete with <C-x><C-o>
    end,
  })
else
  -- Neovim 0.8+: vim.lsp.start reuses the server for buffers of the same root
  vim.api.nvim_create_autocmd("FileType", {
    pattern = "python",
    callback = function(args)
      vim.lsp.start({ name = "pycc", cmd = { "pycc", "lsp" }, root_dir = vim.fn.getcwd() })
      vim.bo[args.buf].omnifunc = "v:lua.vim.lsp.omnifunc" -- complete with <C-x><C-o>
    end,
  })
end
