-- Neovim headless, the whole loop against the real server and a real
-- program linked with the real runtime (tests/editors/fixtures/counter):
-- :HotRun with no settings (the server finds the program) starts it in a
-- :terminal, edit the HOT function, :write, and wait until the program's
-- output changes, the statusline flashes the reload, then the counter goes
-- up, the lens shows the new version, and a compile error shows as a
-- diagnostic; :HotRollback shows in the statusline and the reload log;
-- :HotRestart runs the project's build and starts the program again; the
-- statusline says when it crashed, when it exited and when it was killed.
local here = debug.getinfo(1, 'S').source:sub(2):match('(.*)/')
local H = dofile(here .. '/harness.lua')
local test, wait, ok, eq = H.test, H.wait, H.ok, H.eq

local source = H.read(H.repo .. '/tests/editors/fixtures/counter/main.c')
local value_line, return_line = H.find_line(source, '^HOT int value'), H.find_line(source, 'return 1;')

local dir = H.project({ ['main.c'] = source })
vim.fn.writefile({ H.compile_commands(dir, 'main.c') }, dir .. '/compile_commands.json')
H.build_program(dir, 'main.c', 'counter')
-- no program setting: the program is found in the workspace and started
-- in the root, where it writes out.txt
local out = dir .. '/out.txt'
vim.fn.writefile({ 'all:', '\ttouch built' }, dir .. '/Makefile')

vim.cmd('filetype on')
require('hotc').setup({ server_path = H.hotc })

local function last_value()
  local s = H.read(out)
  if not s then
    return nil
  end
  local lines = vim.split(vim.trim(s), '\n', { plain = true })
  return lines[#lines]
end

local function lens_on_value()
  return H.lens_at(value_line)
end

local function set_return(text)
  vim.api.nvim_buf_set_lines(0, return_line, return_line + 1, false, { '    ' .. text })
  vim.cmd('silent write')
end

local function describe()
  return 'status: ' .. require('hotc').status() .. '; out: ' .. tostring(last_value()) .. '; diagnostics: '
    .. vim.inspect(vim.diagnostic.get(0))
end

test(':HotRun without settings finds the program, runs it in a :terminal, and it attaches', function()
  vim.cmd('edit ' .. dir .. '/main.c')
  wait('the hotc client', function()
    for _, c in pairs(vim.lsp.buf_get_clients(0)) do
      if c.name == 'hotc' and c.initialized then
        return c
      end
    end
  end)
  wait('the lens on value()', lens_on_value)
  vim.cmd('HotRun')
  wait('the program to print 1', function()
    return last_value() == '1'
  end, nil, describe)
  wait('the statusline to see the program', function()
    local s = require('hotc').state(0)
    return s and s.programs >= 1
  end, nil, describe)
  local t = require('hotc').terminal()
  ok(t and t.job and vim.api.nvim_buf_is_valid(t.buf), 'a terminal for the program: ' .. vim.inspect(t))
  eq(vim.bo[t.buf].buftype, 'terminal', 'the program runs in a :terminal')
  eq(require('hotc').state(0).run.state, 'running', 'the status says running')
end)

test(':write of an edited HOT function changes the running program, the counter and the lens', function()
  local before_lens = lens_on_value()
  local before = require('hotc').state(0).reloads
  set_return('return 2;')
  wait('the program to print 2', function()
    return last_value() == '2'
  end, nil, describe)
  local flash = wait('the statusline to say the reload', function()
    local st = require('hotc').status()
    return st:find('Reloaded value%(%) in') and st
  end, nil, describe)
  -- µ is two bytes: a Lua set matches one byte, so [mµ]? never matched µs
  -- (a reload under a millisecond failed the test)
  -- the time from the save (the compile included: milliseconds at least),
  -- not the program's own part of it (microseconds)
  ok(flash:match('^hotc · Reloaded value%(%) in [%d.]+ m?s$'), 'the flash: ' .. flash)
  local status = wait('the statusline counter to go up', function()
    local s = require('hotc').state(0)
    local st = require('hotc').status()
    return s.reloads > before and s.last and s.last.result == 'applied' and st:match('^hotc %d+×') and st
  end, nil, describe)
  ok(status:match('^hotc %d+× · v%d+ applied'), 'statusline: ' .. status)
  local version = require('hotc').state(0).last.version
  local want = version and ('v' .. version) or nil
  wait('the lens to show the new version', function()
    local l = lens_on_value()
    if want then
      return l and l:find(want, 1, true)
    end
    return l and l ~= before_lens
  end, nil, function()
    return string.format('lens: %s, want %s', tostring(lens_on_value()), tostring(want))
  end)
end)

test('a compile error is a diagnostic; the program keeps running the old code', function()
  set_return('return 3 +;')
  local d = wait('an error diagnostic on the broken line', function()
    for _, x in ipairs(vim.diagnostic.get(0, { severity = vim.diagnostic.severity.ERROR })) do
      if x.lnum == return_line then
        return x
      end
    end
  end, nil, describe)
  ok(#d.message > 0, 'a message')
  wait('the statusline to say compile error', function()
    return require('hotc').status():find('compile error', 1, true)
  end, nil, describe)
  eq(last_value(), '2', 'the program still runs the last good code')
end)

test('fixing it clears the diagnostic and reloads', function()
  set_return('return 4;')
  wait('the program to print 4', function()
    return last_value() == '4'
  end, nil, describe)
  wait('no error diagnostics', function()
    return #vim.diagnostic.get(0, { severity = vim.diagnostic.severity.ERROR }) == 0
  end, nil, describe)
  -- the program may print before the server has its answer: wait for the status
  wait('the statusline to say applied', function()
    local s = require('hotc').state(0)
    return not s.compiling and s.last and s.last.result == 'applied'
  end, nil, describe)
end)

test(':HotRollback returns to the previous version and the statusline says so', function()
  local s = require('hotc').state(0)
  local before_version = s.last and s.last.version
  local before_reloads = s.reloads
  vim.cmd('HotRollback')
  wait('the program to print 2 again', function()
    return last_value() == '2'
  end, nil, describe)
  local status = wait('the statusline to show the rollback', function()
    local st = require('hotc').status()
    return st:find('rolled back to v', 1, true) and st
  end, nil, describe)
  ok(status:match('^hotc %d+× · rolled back to v%d+$'), 'statusline: ' .. status)
  local last = require('hotc').state(0).last
  eq(last.result, 'rolledBack', 'last.result')
  ok(status:find('v' .. last.version, 1, true), 'the version in the statusline: ' .. status)
  if type(before_version) == 'number' then
    ok(last.version < before_version, string.format('rolled back from v%d to v%d', before_version, last.version))
  end
  eq(require('hotc').state(0).reloads, before_reloads, 'a rollback is not a reload')
  local want = 'running v' .. last.version .. ' · rolled back from v'
  wait('the lens on value() to show the rollback', function()
    local t = lens_on_value()
    return t and t:sub(1, #want) == want
  end, nil, function()
    return 'lens: ' .. tostring(lens_on_value())
  end)
end)

test('the reload log has the reloads, their counter and the rollback', function()
  local log = require('hotc').state(0).log
  local function has(pattern)
    for _, l in ipairs(log) do
      if l:find(pattern) then
        return true
      end
    end
  end
  ok(#log >= 2, 'log lines: ' .. vim.inspect(log))
  ok(has('reload %d+: main%.c v%d+ %[value%]: pid %d+ applied'), 'a hotc/reloaded line: ' .. vim.inspect(log))
  ok(has('main%.c: v%d+ applied: '), 'an applied save: ' .. vim.inspect(log))
  ok(has('compile error: '), 'the compile error: ' .. vim.inspect(log))
  ok(has('rolled back to v%d+: '), 'the rollback: ' .. vim.inspect(log))
end)

local function run_state()
  local s = require('hotc').state(0)
  return s and s.run or {}
end

test(':HotRestart runs the build and starts the program again in a new terminal', function()
  local before = run_state().pid
  local old = require('hotc').terminal()
  vim.cmd('HotRestart')
  wait('the build to run', function()
    return vim.loop.fs_stat(dir .. '/built') ~= nil
  end, nil, describe)
  wait('a new program to attach', function()
    local r = run_state()
    return r.state == 'running' and r.pid ~= before
  end, nil, describe)
  local t = require('hotc').terminal()
  ok(t.buf ~= old.buf and t.job, 'a new terminal: ' .. vim.inspect(t))
  ok(not vim.api.nvim_buf_is_valid(old.buf), 'the old terminal is gone')
end)

test('a crash in reloaded code shows in the statusline', function()
  set_return('return *(volatile int *)0;')
  local st = wait('the statusline to say it crashed', function()
    local s = require('hotc').status()
    return s:find('crashed') and s
  end, nil, describe)
  ok(st:find('^hotc · crashed in value%(%)'), 'statusline: ' .. st)
  set_return('return 1;')
end)

test('after an exit the statusline says so, not the last reload', function()
  vim.cmd('HotRestart')
  wait('the program to run again', function()
    return run_state().state == 'running'
  end, nil, describe)
  vim.fn.writefile({}, out .. '.stop')
  local st = wait('the statusline to say it exited', function()
    local s = require('hotc').status()
    return s:find('exited') and s
  end, nil, describe)
  eq(st, 'hotc · exited (status 0)', 'statusline')
end)

test('a program killed in its terminal: the statusline says by what', function()
  vim.fn.delete(out .. '.stop')
  local before = run_state().pid
  vim.cmd('HotRestart')
  wait('the program to run again', function()
    local r = run_state()
    return r.state == 'running' and r.pid ~= before and r.pid
  end, nil, describe)
  vim.loop.kill(run_state().pid, 15)
  local st = wait('the statusline to say it was killed', function()
    local s = require('hotc').status()
    return s:find('killed') and s
  end, nil, describe)
  eq(st, 'hotc · killed by SIGTERM', 'statusline')
end)

H.finally(function()
  vim.fn.writefile({}, out .. '.stop')
end)
H.run()
