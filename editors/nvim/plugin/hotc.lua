-- hotc does nothing until require('hotc').setup{} is called; this only
-- guards against being loaded on a Neovim too old for it.
if vim.g.loaded_hotc then
  return
end
vim.g.loaded_hotc = 1
if vim.fn.has('nvim-0.7') ~= 1 then
  vim.api.nvim_err_writeln('hotc: Neovim 0.7 or newer is needed')
end
