-- :checkhealth hotc — is Neovim new enough, is the server there and does it
-- run, is a server attached to this buffer.
local M = {}

local function reporter()
  local h = vim.health or require('health')
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    info = h.info or h.report_info,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
  }
end

function M.check()
  local r = reporter()
  local hotc = require('hotc')

  r.start('hotc: Neovim')
  if vim.fn.has('nvim-0.7') == 1 then
    r.ok('Neovim ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) .. ' (0.7 or newer)')
  else
    r.error('Neovim 0.7 or newer is needed')
  end
  if vim.lsp.start then
    r.info('vim.lsp.start is available: one client per project root')
  else
    r.info('Neovim 0.7: clients are started with vim.lsp.start_client, one per project root')
  end

  r.start('hotc: server')
  local cmd = hotc.config.cmd or { hotc.config.server_path, 'lsp', '--stdio' }
  local exe = cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    r.error(string.format("'%s' is not executable", exe), {
      'build it with `make` in the hotc repository and put build/ on PATH,',
      "or set server_path in require('hotc').setup{}",
    })
  else
    local out = vim.fn.system({ exe, '--version' })
    if vim.v.shell_error == 0 then
      r.ok(string.format('%s: %s', vim.fn.exepath(exe), vim.trim(out)))
    else
      r.error(string.format("'%s --version' failed: %s", exe, vim.trim(out)))
    end
  end
  r.info('command: ' .. table.concat(cmd, ' '))

  r.start('hotc: this buffer')
  local name = vim.api.nvim_buf_get_name(0)
  if name ~= '' then
    r.info('project root: ' .. hotc.root_dir(name))
  end
  local state = hotc.state(0)
  local attached = false
  local clients = vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  for _, c in pairs(clients) do
    if c.name == 'hotc' then
      attached = true
      r.ok(string.format('hotc client %d running for %s', c.id, tostring(c.config.root_dir)))
    end
  end
  if not attached then
    r.warn('no hotc server is running: open a C file after setup()')
  end
  if state then
    r.info(string.format('%d reloads, %d programs attached', state.reloads, state.programs))
  end
end

return M
