-- hotc for Neovim 0.11's vim.lsp.config / vim.lsp.enable: with editors/nvim
-- on the runtimepath,
--
--   vim.lsp.enable('hotc')
--
-- starts `hotc lsp --stdio` for C buffers with this config (override any
-- field with vim.lsp.config('hotc', {...})). The commands (:HotRun ...) and
-- the statusline come from require('hotc').setup{}, which is still needed
-- for them; this file only replaces its own attaching.
local ok, hotc = pcall(require, 'hotc')

local capabilities = vim.lsp.protocol.make_client_capabilities()
capabilities.workspace = capabilities.workspace or {}
capabilities.workspace.codeLens = { refreshSupport = true }

return {
  cmd = { 'hotc', 'lsp', '--stdio' },
  filetypes = { 'c' },
  root_markers = { 'compile_commands.json', '.git' },
  -- the "hotc" settings (schema/config.schema.json): marker, compiler,
  -- compileCommands, build, program = {path, args, cwd}, tcp, ...
  init_options = {},
  settings = { hotc = {} },
  capabilities = capabilities,
  handlers = ok and hotc.handlers() or nil,
}
