-- Neovim headless, against the real server, no program running: the plugin
-- attaches to a C buffer under its project root, shows lenses, analysis
-- diagnostics, the statusline component, the user commands, :checkhealth
-- hotc, and the help file's tags. Run by tests/editors/nvim/run.sh.
local here = debug.getinfo(1, 'S').source:sub(2):match('(.*)/')
local H = dofile(here .. '/harness.lua')
local test, wait, ok, eq = H.test, H.wait, H.ok, H.eq

local source = H.read(H.repo .. '/tests/editors/fixtures/counter/main.c')
local lines = vim.split(source, '\n', { plain = true })
local value_line, main_line = H.find_line(source, '^HOT int value'), H.find_line(source, '^int main')

local dir = H.project({ ['src/main.c'] = source })
vim.fn.writefile({ H.compile_commands(dir .. '/src', 'main.c') }, dir .. '/compile_commands.json')

vim.cmd('filetype on')
require('hotc').setup({ server_path = H.hotc })

local function hotc_client()
  for _, c in pairs(vim.lsp.buf_get_clients(0)) do
    if c.name == 'hotc' then
      return c
    end
  end
end

test('the plugin attaches a C buffer to hotc at its project root', function()
  vim.cmd('edit ' .. dir .. '/src/main.c')
  eq(vim.bo.filetype, 'c', 'filetype')
  local c = wait('a hotc client on the buffer', function()
    local c = hotc_client()
    return c and c.initialized and c
  end)
  eq(c.config.root_dir, dir, 'root is where compile_commands.json is')
  ok(c.server_capabilities.codeLensProvider, 'the server offers lenses')
  eq(require('hotc').root_dir(dir .. '/src/main.c'), dir, 'root_dir()')
end)

test('a second C buffer of the same root shares the client', function()
  local other = dir .. '/src/other.c'
  vim.fn.writefile({ 'int other(void) { return 0; }' }, other)
  vim.cmd('edit ' .. other)
  local c = wait('a hotc client on other.c', hotc_client)
  vim.cmd('edit ' .. dir .. '/src/main.c')
  eq(hotc_client().id, c.id, 'one client per root')
  local n = 0
  for _, cl in pairs(vim.lsp.get_active_clients()) do
    if cl.name == 'hotc' then
      n = n + 1
    end
  end
  eq(n, 1, 'hotc clients running')
end)

test('lenses above the HOT function and main', function()
  local lenses = wait('lenses on value() and main()', function()
    local l = require('hotc').lenses(0)
    local lines_seen = {}
    for _, x in ipairs(l) do
      lines_seen[x[1]] = x[2]
    end
    return lines_seen[value_line] and lines_seen[main_line] and l
  end, nil, function()
    return vim.inspect(require('hotc').lenses(0))
  end)
  for _, x in ipairs(lenses) do
    if x[1] == main_line then
      ok(x[2]:lower():find('run'), 'the main lens says run: ' .. x[2])
    end
    ok(#x[2] > 0, 'a lens title on line ' .. x[1])
  end
  -- shown on a line of their own above the function, where a diagnostic's
  -- virtual text at the end of the line cannot hide them
  local ns = vim.api.nvim_create_namespace('hotc.lenses')
  local marks = wait('the lens drawn above value()', function()
    local m = vim.api.nvim_buf_get_extmarks(0, ns, { value_line, 0 }, { value_line, -1 }, { details = true })
    return #m > 0 and m
  end)
  local d = marks[1][4]
  ok(d.virt_lines and d.virt_lines_above, 'a virtual line above value(): ' .. vim.inspect(d))
  ok(d.virt_lines[1][1][1]:find('%S'), 'with the lens title: ' .. vim.inspect(d.virt_lines))
  local eol = vim.lsp.codelens.__namespaces and vim.lsp.codelens.__namespaces[hotc_client().id]
  if eol then
    eq(#vim.api.nvim_buf_get_extmarks(0, eol, { value_line, 0 }, { value_line, -1 }, {}), 0,
      'no lens at the end of the line, where diagnostics would clip it')
  end
end)

test('statusline component', function()
  local s = require('hotc').status()
  ok(s:match('^hotc'), 'status() starts with hotc: ' .. s)
end)

test('HOT on a variable is an error diagnostic, gone when fixed', function()
  local buf = vim.api.nvim_get_current_buf()
  local before = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  vim.api.nvim_buf_set_lines(buf, 10, 10, false, { 'HOT int counter;' })
  local d = wait('an error diagnostic on line 11', function()
    for _, x in ipairs(vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })) do
      if x.lnum == 10 then
        return x
      end
    end
  end, nil, function()
    return vim.inspect(vim.diagnostic.get(buf))
  end)
  ok(#d.message > 0, 'a message')
  vim.api.nvim_buf_set_lines(buf, 10, 11, false, {})
  wait('the error gone', function()
    return #vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR }) == 0
  end)
  eq(vim.api.nvim_buf_get_lines(buf, 0, -1, false), before, 'buffer restored')
end)

test('lenses follow a rename of the HOT function', function()
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, value_line, value_line + 1, false, { 'int value(void)' })
  vim.cmd('doautocmd InsertLeave')
  wait('no lens on value() once it is not HOT', function()
    return H.lens_at(value_line) == nil
  end)
  vim.api.nvim_buf_set_lines(buf, value_line, value_line + 1, false, { lines[value_line + 1] })
  vim.cmd('doautocmd InsertLeave')
  wait('the lens back', function()
    return H.lens_at(value_line) ~= nil
  end)
end)

test('user commands exist', function()
  for _, name in ipairs({ 'HotRun', 'HotReload', 'HotRollback', 'HotRestart', 'HotForgetState', 'HotLog' }) do
    eq(vim.fn.exists(':' .. name), 2, ':' .. name)
  end
end)

test(':HotRollback with nothing to roll back leaves Neovim and the server working', function()
  local done = false
  require('hotc').execute('hotc.server.rollback', {}, function()
    done = true
  end)
  wait('an answer to hotc.server.rollback', function()
    return done
  end)
  ok(hotc_client(), 'still attached')
end)

test(':checkhealth hotc', function()
  vim.cmd('checkhealth hotc')
  H.out('') -- after its "Running healthchecks..." message
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  ok(text:find('hotc 0%.') or text:find('hotc %d'), 'reports the server version:\n' .. text)
  ok(not text:find('ERROR'), 'no errors:\n' .. text)
  ok(text:find('client %d+ running'), 'sees the running client:\n' .. text)
  vim.cmd('tabclose')
end)

test('doc/hotc.txt has its tags', function()
  local doc = vim.fn.tempname()
  vim.fn.mkdir(doc, 'p')
  vim.fn.writefile(vim.fn.readfile(H.repo .. '/editors/nvim/doc/hotc.txt'), doc .. '/hotc.txt')
  vim.cmd('helptags ' .. doc)
  local tags = H.read(doc .. '/tags')
  for _, t in ipairs({ 'hotc.txt', 'hotc-setup', ':HotRun', ':HotReload', ':HotRollback', ':HotRestart', ':HotForgetState', 'hotc-statusline', 'hotc-health' }) do
    ok(tags:find(t, 1, true), 'tag ' .. t)
  end
end)

H.run()
