-- A tiny test harness for Neovim headless tests: test(name, fn) records,
-- run() runs them in order, prints one line each and the closing
-- "N passed, N failed" line, and quits with status 1 on any failure.
-- wait() waits for a condition with vim.wait, letting the LSP client work.
local H = {}

local tests = {}
local repo = os.getenv('HOTC_REPO') or vim.fn.getcwd()
H.repo = repo
H.hotc = vim.fn.fnamemodify(os.getenv('HOTC') or (repo .. '/build/hotc'), ':p')
H.build = vim.fn.fnamemodify(os.getenv('HOTC_BUILD_DIR') or vim.fn.fnamemodify(H.hotc, ':h'), ':p'):gsub('/$', '')
H.timeout = tonumber(os.getenv('HOTC_TEST_TIMEOUT_MS') or '') or 60000

local function out(line)
  io.stdout:write(line .. '\n')
  io.stdout:flush()
end
H.out = out

function H.test(name, fn)
  table.insert(tests, { name = name, fn = fn })
end

--- Waits until cond() returns something truthy and returns it; fails with
--- `what` (and describe(), when given, for the state at the time).
function H.wait(what, cond, ms, describe)
  local value
  local ok = vim.wait(ms or H.timeout, function()
    local good, v = pcall(cond)
    value = good and v or nil
    return value ~= nil and value ~= false
  end, 50)
  if not ok then
    error(string.format('timed out waiting for %s%s', what, describe and ('; ' .. describe()) or ''), 2)
  end
  return value
end

function H.ok(v, msg)
  if not v then
    error(msg or 'assertion failed', 2)
  end
  return v
end

function H.eq(a, b, msg)
  if not vim.deep_equal(a, b) then
    error(string.format('%s: expected %s, got %s', msg or 'not equal', vim.inspect(b), vim.inspect(a)), 2)
  end
end

--- A fresh directory with the given files (name -> text).
function H.project(files)
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  for name, text in pairs(files) do
    local path = dir .. '/' .. name
    vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p')
    local f = assert(io.open(path, 'w'))
    f:write(text)
    f:close()
  end
  return dir
end

function H.read(path)
  local f = io.open(path, 'r')
  if not f then
    return nil
  end
  local s = f:read('*a')
  f:close()
  return s
end

--- The 0-based number of the first line of `source` that matches `pattern`.
function H.find_line(source, pattern)
  for i, l in ipairs(vim.split(source, '\n', { plain = true })) do
    if l:match(pattern) then
      return i - 1
    end
  end
end

--- The title of the hotc lens on 0-based `line` of the current buffer, or nil.
function H.lens_at(line)
  for _, x in ipairs(require('hotc').lenses(0)) do
    if x[1] == line then
      return x[2]
    end
  end
end

function H.compile_commands(dir, file)
  return vim.fn.json_encode({
    {
      directory = dir,
      file = file,
      arguments = { 'cc', '-std=c11', '-g', '-O1', '-I' .. repo .. '/runtime', '-c', file, '-o', (file:gsub('%.c$', '.o')) },
    },
  })
end

--- Builds dir/file into dir/exe with the flags of the build's hotc.pc.
function H.build_program(dir, file, exe)
  local flags = vim.fn.system({ 'env', 'PKG_CONFIG_PATH=' .. H.build .. '/pkgconfig', 'pkg-config', '--cflags', '--libs', 'hotc' })
  assert(vim.v.shell_error == 0, 'pkg-config hotc failed: ' .. flags)
  local cmd = { 'cc', '-std=c11', '-g', '-O0', '-o', dir .. '/' .. exe, dir .. '/' .. file }
  vim.list_extend(cmd, vim.split(vim.trim(flags), '%s+'))
  local res = vim.fn.system(cmd)
  assert(vim.v.shell_error == 0, 'cannot build the program: ' .. res)
end

local cleanups = {}

--- Runs fn after the tests, passed or not.
function H.finally(fn)
  table.insert(cleanups, fn)
end

function H.run()
  local passed, failed = 0, 0
  for _, t in ipairs(tests) do
    local ok, err = xpcall(t.fn, debug.traceback)
    if ok then
      passed = passed + 1
      out('ok - ' .. t.name)
    else
      failed = failed + 1
      out('not ok - ' .. t.name)
      for line in tostring(err):gmatch('[^\n]+') do
        out('    ' .. line)
      end
    end
  end
  for _, fn in ipairs(cleanups) do
    pcall(fn)
  end
  out(string.format('%d passed, %d failed', passed, failed))
  if failed > 0 then
    vim.cmd('cquit 1')
  else
    vim.cmd('qall!')
  end
end

return H
