-- hotc for Neovim: starts `hotc lsp --stdio` for C buffers under a project
-- root, keeps the reload status the server sends (hotc/status) for the
-- statusline, refreshes code lenses after each reload, and maps the user
-- commands :HotRun :HotReload :HotRollback :HotRestart :HotForgetState onto the server's
-- hotc.server.* commands (docs/protocol.md). :HotRun starts the program in
-- a :terminal split (the server says what to start); when the workspace has
-- several programs linked with libhotc, vim.ui.select asks which, and the
-- choice is remembered per project root.
--
-- Works on Neovim 0.7 (vim.lsp.start_client + buf_attach_client) and uses
-- vim.lsp.start where present (0.8+).
local M = {}

local defaults = {
  -- the server; `cmd` wins over `server_path` when given
  server_path = 'hotc',
  cmd = nil,
  filetypes = { 'c' },
  -- the nearest directory holding one of these is the project root; without
  -- one, the buffer's own directory
  root_markers = { 'compile_commands.json', '.git' },
  -- sent as initializationOptions and in workspace/didChangeConfiguration
  -- (settings.hotc): marker, compiler, compileCommands, flags, fastCompiler,
  -- compileTimeoutMs, program = {path, args, cwd}, tcp
  settings = {},
  -- keep code lenses shown and fresh (on attach, BufEnter, InsertLeave,
  -- after writes and after each reload)
  codelens = true,
  -- called as on_attach(client, bufnr)
  on_attach = nil,
  -- "Reloaded f() in 21 ms": 'statusline' (status() says it for a few
  -- seconds), 'notify' (vim.notify), or 'off'
  reload_notification = 'statusline',
  -- the height of the :terminal split :HotRun opens
  terminal_height = 12,
  -- draw lenses on a line of their own above each function (up to 0.11;
  -- at the end of the line a diagnostic's text hides them)
  lens_above = true,
  -- extra entries for the client's config (handlers, capabilities, ...)
  lsp = {},
}

M.config = vim.deepcopy(defaults)

-- client id -> { reloads, programs, compiling, last, log = {lines} }
local states = {}
-- root dir -> client id (Neovim 0.7, where vim.lsp.start is missing)
local clients_by_root = {}
local last_client
local augroup

local function notify(msg, level)
  vim.notify('hotc: ' .. msg, level or vim.log.levels.INFO)
end

local function state_for(client_id)
  local s = states[client_id]
  if not s then
    s = { reloads = 0, programs = 0, compiling = false, last = nil, log = {} }
    states[client_id] = s
  end
  return s
end

local function log_line(client_id, line)
  local s = state_for(client_id)
  table.insert(s.log, os.date('%H:%M:%S') .. ' ' .. line)
  if #s.log > 500 then
    table.remove(s.log, 1)
  end
end

-- client.request as a method from 0.11 on, a plain function before
local method_calls = vim.fn.has('nvim-0.11') == 1

local function request(c, method, params, handler, bufnr)
  if method_calls then
    return c:request(method, params, handler, bufnr)
  end
  return c.request(method, params, handler, bufnr)
end

-- The hotc clients attached to bufnr (0: current buffer).
local function buf_clients(bufnr)
  local out = {}
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local all = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr }) or vim.lsp.buf_get_clients(bufnr)
  for _, c in pairs(all) do
    if c.name == 'hotc' then
      table.insert(out, c)
    end
  end
  return out
end

-- The client a command or the statusline is about: the current buffer's,
-- else the last one that reported something.
local function current_client()
  local c = buf_clients(0)[1]
  if c then
    return c
  end
  if last_client then
    return vim.lsp.get_client_by_id(last_client)
  end
  return nil
end

-- Neovim 0.12 rewrote vim.lsp.codelens as a provider per buffer
-- (codelens.enable(), codelens.on_refresh()): no __namespaces, and
-- on_codelens() is a deprecated no-op. Up to 0.11 we draw the lenses
-- ourselves with on_codelens().
local provider_codelens = vim.lsp.codelens.__namespaces == nil and vim.lsp.codelens.enable ~= nil
-- where our lenses are drawn when lens_above is on (Neovim up to 0.11)
local lens_ns = vim.api.nvim_create_namespace('hotc.lenses')

--- Asks the server for bufnr's lenses and shows them. Unlike 0.7's
--- vim.lsp.codelens.refresh(), works for any buffer, is never dropped while
--- another refresh is under way, and clears lenses that went away.
function M.refresh_lenses(bufnr, client)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  local clients = client and { client } or buf_clients(bufnr)
  if provider_codelens then
    vim.lsp.codelens.enable(true, { bufnr = bufnr })
    for _, c in ipairs(clients) do
      vim.lsp.codelens.on_refresh(nil, nil, { client_id = c.id, method = 'workspace/codeLens/refresh' })
    end
    return
  end
  for _, c in ipairs(clients) do
    local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }
    request(c, 'textDocument/codeLens', params, function(err, result, ctx)
      if err then
        return
      end
      local ns = vim.lsp.codelens.__namespaces[c.id]
      if vim.api.nvim_buf_is_loaded(bufnr) then
        vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
      end
      ctx = ctx or {}
      ctx.bufnr = bufnr
      ctx.client_id = c.id
      vim.lsp.codelens.on_codelens(nil, result or {}, ctx)
      if M.config.lens_above and vim.api.nvim_buf_is_loaded(bufnr) then
        -- Neovim draws lenses at the end of the line, where a diagnostic's
        -- virtual text pushes them out of sight: draw them on a line of
        -- their own above the function instead (the lenses stay stored, so
        -- vim.lsp.codelens.run() still works)
        vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
        vim.api.nvim_buf_clear_namespace(bufnr, lens_ns, 0, -1)
        local by_line = {}
        for _, lens in ipairs(result or {}) do
          local l = lens.range.start.line
          if lens.command and lens.command.title then
            by_line[l] = by_line[l] and (by_line[l] .. ' | ' .. lens.command.title) or lens.command.title
          end
        end
        for l, title in pairs(by_line) do
          local indent = (vim.api.nvim_buf_get_lines(bufnr, l, l + 1, false)[1] or ''):match('^%s*') or ''
          pcall(vim.api.nvim_buf_set_extmark, bufnr, lens_ns, l, 0, {
            virt_lines = { { { indent .. title, 'LspCodeLens' } } },
            virt_lines_above = true,
          })
        end
      end
    end, bufnr)
  end
end

local function refresh_client_lenses(client_id)
  if not M.config.codelens then
    return
  end
  local c = vim.lsp.get_client_by_id(client_id)
  if not c then
    return
  end
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.lsp.buf_is_attached(bufnr, client_id) then
      M.refresh_lenses(bufnr, c)
    end
  end
end

local result_words = {
  applied = 'applied',
  refused = 'refused',
  error = 'error',
  compileError = 'compile error',
  rolledBack = 'rolled back',
  nothing = 'nothing to reload',
  notApplied = 'not applied',
  waiting = 'waiting for hot_poll()',
}

local function format_us(us)
  if type(us) ~= 'number' then
    return nil
  end
  if us < 1000 then
    return string.format('%d µs', us)
  elseif us < 1e6 then
    return string.format('%.1f ms', us / 1000)
  end
  return string.format('%.2f s', us / 1e6)
end

-- "v4 applied", "rolled back to v2", "compile error"
local function last_text(last)
  local words = result_words[last.result] or tostring(last.result)
  if type(last.version) ~= 'number' then
    return words
  end
  if last.result == 'applied' then
    return 'v' .. last.version .. ' ' .. words
  elseif last.result == 'rolledBack' then
    return words .. ' to v' .. last.version
  end
  return words
end

local function basename(f)
  return (tostring(f):gsub('^.*/', ''))
end

-- The files of a `last`: every file of a batch (`files`), else `file`.
local function last_files(last)
  local out = {}
  if type(last.files) == 'table' and #last.files > 0 then
    for _, f in ipairs(last.files) do
      table.insert(out, basename(f))
    end
  elseif type(last.file) == 'string' then
    table.insert(out, basename(last.file))
  end
  return out
end

-- The reload log line for a `last`: "main.c, util.c: v4 applied: ..."
local function last_line(last)
  local files = last_files(last)
  local where = #files > 0 and (table.concat(files, ', ') .. ': ') or ''
  return where .. last_text(last) .. ': ' .. tostring(last.message or '')
end

local handlers = {}

handlers['hotc/status'] = function(_, params, ctx)
  if type(params) ~= 'table' then
    return
  end
  local s = state_for(ctx.client_id)
  local before = s.reloads
  s.reloads = tonumber(params.reloads) or s.reloads
  s.programs = tonumber(params.programs) or s.programs
  s.compiling = params.compiling == true
  local run_before = s.run and (tostring(s.run.pid) .. s.run.state) or nil
  s.run = type(params.run) == 'table' and params.run or s.run
  if s.run and s.run.state ~= 'running' and run_before ~= tostring(s.run.pid) .. s.run.state then
    local failed = s.run.state == 'crashed' or (tonumber(s.run.status) or 0) ~= 0 or s.run.signal ~= nil
    log_line(ctx.client_id, 'program ' .. tostring(s.run.pid) .. ' ' .. M.run_text(s.run))
    if failed then
      notify(M.run_text(s.run) .. '; :HotRestart to rebuild and start it again', vim.log.levels.WARN)
    end
  end
  if type(params.last) == 'table' then
    local line = last_line(params.last)
    local key = s.reloads .. '|' .. line
    if key ~= s.last_key then
      s.last_key = key
      log_line(ctx.client_id, line)
    end
    s.last = params.last
  end
  last_client = ctx.client_id
  if s.reloads ~= before or type(params.last) == 'table' then
    refresh_client_lenses(ctx.client_id)
  end
  vim.cmd('redrawstatus!')
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'HotcStatus', modeline = false })
end

handlers['hotc/reloaded'] = function(_, params, ctx)
  if type(params) ~= 'table' then
    return
  end
  local progs = {}
  for _, p in ipairs(params.programs or {}) do
    local t = type(p.timings) == 'table' and format_us(p.timings.totalUs)
    table.insert(
      progs,
      string.format('pid %s %s%s%s', tostring(p.pid), tostring(p.status), p.reason and (' (' .. p.reason .. ')') or '', t and (' in ' .. t) or '')
    )
  end
  local fns = {}
  for _, f in ipairs(params.functions or {}) do
    table.insert(fns, type(f) == 'table' and tostring(f.name) or tostring(f))
  end
  local applied
  for _, p in ipairs(params.programs or {}) do
    if p.status == 'applied' then
      applied = applied or p
    end
  end
  if applied and M.config.reload_notification ~= 'off' then
    local names = {}
    for _, f in ipairs(fns) do
      table.insert(names, f .. '()')
    end
    -- from the save to the program's answer (the lens's figure); an older
    -- server's runtime part otherwise
    local t = (params.totalUs and format_us(params.totalUs))
      or (type(applied.timings) == 'table' and format_us(applied.timings.totalUs))
    local text = 'Reloaded ' .. (#names > 2 and (#names .. ' functions') or table.concat(names, ', ')) .. (t and (' in ' .. t) or '')
    local s = state_for(ctx.client_id)
    if M.config.reload_notification == 'notify' then
      notify(text)
    else
      s.flash, s.flash_until = text, vim.loop.now() + 4000
      vim.defer_fn(function()
        vim.cmd('redrawstatus!')
      end, 4100)
    end
  end
  log_line(
    ctx.client_id,
    string.format(
      '%s%s v%s [%s]: %s',
      type(params.reloads) == 'number' and ('reload ' .. params.reloads .. ': ') or '',
      vim.fn.fnamemodify(vim.uri_to_fname(params.uri or 'file:///?'), ':t'),
      tostring(params.version),
      table.concat(fns, ', '),
      #progs > 0 and table.concat(progs, '; ') or 'no program attached'
    )
  )
  refresh_client_lenses(ctx.client_id)
end

-- Neovim 0.7 does not handle this request; newer versions do, but ours also
-- refreshes buffers that are not current.
handlers['workspace/codeLens/refresh'] = function(_, _, ctx)
  refresh_client_lenses(ctx.client_id)
  return vim.NIL
end

--- "exited (status 3)", "crashed in value() (SIGSEGV) at prog.c:12", "running".
function M.run_text(r)
  if r.state == 'running' then
    return 'running'
  elseif r.state == 'exited' then
    if r.signalName or r.signal then
      return 'killed by ' .. tostring(r.signalName or ('signal ' .. tostring(r.signal)))
    end
    return r.status ~= nil and ('exited (status ' .. tostring(r.status) .. ')') or 'exited'
  end
  local at = r.file and (' at ' .. basename(r.file) .. (r.line and (':' .. r.line) or '')) or ''
  return 'crashed' .. (r['function'] and (' in ' .. r['function'] .. '()') or '') .. (r.signalName and (' (' .. r.signalName .. ')') or '') .. at
end

--- The statusline component: "hotc 3× · v4 applied", "hotc 4× · rolled
--- back to v2", "Reloaded value() in 21 ms" for a few seconds after a
--- reload, "hotc · exited (status 3)" once the program is gone, a marker
--- while compiling; "" when the buffer has no hotc server.
function M.status()
  local c = current_client()
  if not c then
    return ''
  end
  local s = states[c.id]
  if not s then
    return 'hotc'
  end
  if s.flash and vim.loop.now() < (s.flash_until or 0) then
    return 'hotc · ' .. s.flash
  end
  if s.run and s.run.state ~= 'running' and s.programs == 0 then
    return 'hotc · ' .. M.run_text(s.run)
  end
  local text = string.format('hotc %d×', s.reloads)
  if s.last then
    text = text .. ' · ' .. last_text(s.last)
  end
  if s.compiling then
    text = text .. ' …'
  end
  return text
end

--- The raw state behind status(), for scripts and tests: {reloads, programs,
--- compiling, last, log}.
function M.state(bufnr)
  local c = buf_clients(bufnr or 0)[1] or current_client()
  return c and state_for(c.id) or nil
end

--- The lenses shown in bufnr: a list of {line (0-based), title}.
function M.lenses(bufnr)
  local out = {}
  local lenses = {}
  if provider_codelens then
    for _, x in ipairs(vim.lsp.codelens.get({ bufnr = bufnr or 0 })) do
      table.insert(lenses, x.lens)
    end
  else
    lenses = vim.lsp.codelens.get(bufnr or 0)
  end
  for _, lens in ipairs(lenses) do
    table.insert(out, { lens.range.start.line, lens.command and lens.command.title or '' })
  end
  table.sort(out, function(a, b)
    return a[1] < b[1]
  end)
  return out
end

--- Sends workspace/executeCommand for a server command; calls done(err,
--- result) when given, else reports errors with vim.notify.
function M.execute(command, arguments, done)
  local c = current_client()
  if not c then
    notify('no hotc server for this buffer', vim.log.levels.WARN)
    return
  end
  request(c, 'workspace/executeCommand', { command = command, arguments = arguments or {} }, function(err, result)
    if done then
      done(err, result)
    elseif err then
      notify(command:gsub('^hotc%.server%.', '') .. ' failed: ' .. tostring(err.message or err), vim.log.levels.ERROR)
    end
    refresh_client_lenses(c.id)
  end, vim.api.nvim_get_current_buf())
end

-- The program's :terminal: { buf, job }, for restart to replace.
local program_term

--- Starts `launch` ({program, args, cwd, env, title}, the server's answer) in a
--- :terminal split at the bottom, replacing the previous one (which stops
--- its program).
function M.start_in_terminal(launch)
  if program_term and program_term.job then
    pcall(vim.fn.jobstop, program_term.job)
  end
  if program_term and program_term.buf and vim.api.nvim_buf_is_valid(program_term.buf) then
    pcall(vim.api.nvim_buf_delete, program_term.buf, { force = true })
  end
  local cmd = { launch.program }
  for _, a in ipairs(launch.args or {}) do
    table.insert(cmd, a)
  end
  local from = vim.api.nvim_get_current_win()
  local c = current_client()
  local cwd = launch.cwd or (c and c.config.root_dir) or nil
  vim.cmd('botright ' .. tostring(M.config.terminal_height) .. 'new')
  local buf = vim.api.nvim_get_current_buf()
  local job = vim.fn.termopen(cmd, {
    cwd = cwd,
    env = launch.env,
    on_exit = function(_, code)
      if program_term and program_term.buf == buf then
        program_term.job = nil
        program_term.code = code
      end
    end,
  })
  program_term = { buf = buf, job = job }
  pcall(vim.api.nvim_buf_set_name, buf, 'hotc://' .. (launch.title or vim.fn.fnamemodify(launch.program, ':t')))
  if vim.api.nvim_win_is_valid(from) then
    vim.api.nvim_set_current_win(from)
  end
  return buf, job
end

--- The program's terminal {buf, job, code}, or nil (for tests).
function M.terminal()
  return program_term
end

local function picks_file()
  return vim.fn.stdpath('data') .. '/hotc-programs.json'
end

-- The program picked for `root` earlier, or nil.
local function picked_program(root)
  local ok, lines = pcall(vim.fn.readfile, picks_file())
  if not ok or not root then
    return nil
  end
  local ok2, t = pcall(vim.fn.json_decode, table.concat(lines, '\n'))
  return ok2 and type(t) == 'table' and t[root] or nil
end

local function remember_program(root, path)
  local ok, lines = pcall(vim.fn.readfile, picks_file())
  local t = {}
  if ok then
    local ok2, v = pcall(vim.fn.json_decode, table.concat(lines, '\n'))
    t = ok2 and type(v) == 'table' and v or {}
  end
  t[root] = path
  vim.fn.mkdir(vim.fn.fnamemodify(picks_file(), ':h'), 'p')
  vim.fn.writefile({ vim.fn.json_encode(t) }, picks_file())
end

local function run_answer(root, err, result, retry)
  if err then
    notify('run failed: ' .. tostring(err.message or err), vim.log.levels.ERROR)
    return
  end
  if type(result) ~= 'table' then
    return
  end
  if type(result.candidates) == 'table' and #result.candidates > 0 then
    vim.ui.select(result.candidates, { prompt = 'hotc: which program linked with libhotc?' }, function(choice)
      if choice then
        remember_program(root, choice)
        retry(choice)
      end
    end)
  elseif type(result.launch) == 'table' then
    M.start_in_terminal(result.launch)
  end
end

--- The program to run: the `program` setting, else the one picked earlier
--- for this root: {program, args, cwd} or nil.
local function known_program(root)
  local p = M.config.settings.program
  if type(p) == 'table' and p.path then
    return { program = p.path, args = p.args, cwd = p.cwd }
  end
  local picked = picked_program(root)
  return picked and { program = picked } or nil
end

local function current_root()
  local c = current_client()
  return c and c.config.root_dir or nil
end

function M.run()
  local root = current_root()
  local function go(arg)
    M.execute('hotc.server.run', { arg }, function(err, result)
      run_answer(root, err, result, function(choice)
        go({ program = choice, terminal = true })
      end)
    end)
  end
  local known = known_program(root)
  if known then
    known.terminal = true
    go(known)
  elseif vim.bo.filetype == 'c' then
    go({ file = vim.uri_from_bufnr(0), terminal = true })
  else
    go({ terminal = true })
  end
end

function M.reload()
  if vim.bo.filetype == 'c' then
    M.execute('hotc.server.reload', { vim.uri_from_bufnr(0) })
  else
    M.execute('hotc.server.reload', {})
  end
end

function M.rollback()
  M.execute('hotc.server.rollback', {})
end

--- Forgets the state the server saved for the workspace's programs (the
--- next start begins fresh).
function M.forget_state()
  M.execute('hotc.server.forgetState', {}, function(err, result)
    if err then
      notify('forgetState failed: ' .. tostring(err.message or err), vim.log.levels.ERROR)
    elseif result and result.forgotten then
      notify(('forgot the saved state of %d program(s)'):format(#result.forgotten), vim.log.levels.INFO)
    end
  end)
end

--- Rebuilds (the server runs the project's build; errors become
--- diagnostics) and starts the program again in its terminal.
function M.restart()
  local root = current_root()
  local arg = known_program(root) or {}
  arg.terminal = true
  M.execute('hotc.server.restart', { arg }, function(err, result)
    if err then
      notify('restart failed: ' .. tostring(err.message or err), vim.log.levels.ERROR)
    elseif type(result) == 'table' and type(result.launch) == 'table' then
      M.start_in_terminal(result.launch)
    end
  end)
end

--- Shows the reload log in a scratch buffer.
function M.show_log()
  local s = M.state() or { log = {} }
  vim.cmd('botright new')
  local b = vim.api.nvim_get_current_buf()
  vim.bo[b].buftype = 'nofile'
  vim.bo[b].bufhidden = 'wipe'
  vim.api.nvim_buf_set_lines(b, 0, -1, false, #s.log > 0 and s.log or { 'hotc: no reloads yet' })
  vim.bo[b].modifiable = false
end

local function exists(path)
  return vim.loop.fs_stat(path) ~= nil
end

--- The project root of a file: the nearest directory upwards holding one of
--- config.root_markers, else the file's directory.
function M.root_dir(fname)
  local dir = vim.fn.fnamemodify(fname, ':p:h')
  local d = dir
  while d and d ~= '' do
    for _, m in ipairs(M.config.root_markers) do
      if exists(d .. '/' .. m) then
        return d
      end
    end
    local parent = vim.fn.fnamemodify(d, ':h')
    if parent == d then
      break
    end
    d = parent
  end
  return dir
end

local function server_cmd()
  if M.config.cmd then
    return M.config.cmd
  end
  return { M.config.server_path, 'lsp', '--stdio' }
end

--- The handlers of hotc's notifications (hotc/status, hotc/reloaded,
--- workspace/codeLens/refresh), for a config of one's own (lsp/hotc.lua).
function M.handlers()
  return vim.tbl_extend('force', {}, handlers)
end

local function client_config(root)
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.workspace = capabilities.workspace or {}
  capabilities.workspace.codeLens = { refreshSupport = true }
  local cfg = {
    name = 'hotc',
    cmd = server_cmd(),
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = M.config.settings,
    settings = { hotc = M.config.settings },
    capabilities = capabilities,
    handlers = vim.tbl_extend('force', {}, handlers),
    on_attach = function(client, bufnr)
      if M.config.codelens then
        M.refresh_lenses(bufnr, client)
      end
      if M.config.on_attach then
        M.config.on_attach(client, bufnr)
      end
    end,
    on_exit = function(code, signal, client_id)
      for r, id in pairs(clients_by_root) do
        if id == client_id then
          clients_by_root[r] = nil
        end
      end
      if code ~= 0 then
        vim.schedule(function()
          notify(string.format('the server exited (code %s, signal %s)', tostring(code), tostring(signal)), vim.log.levels.WARN)
        end)
      end
    end,
  }
  return vim.tbl_deep_extend('force', cfg, M.config.lsp or {})
end

--- Attaches bufnr (0: current) to the hotc server of its root, starting
--- the server when needed. Returns the client id, or nil.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local fname = vim.api.nvim_buf_get_name(bufnr)
  if fname == '' or vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  if vim.fn.executable(server_cmd()[1]) ~= 1 then
    if not M._warned then
      M._warned = true
      notify(string.format("'%s' is not executable; set server_path in require('hotc').setup{}", server_cmd()[1]), vim.log.levels.ERROR)
    end
    return nil
  end
  local root = M.root_dir(fname)
  if vim.lsp.start then
    return vim.lsp.start(client_config(root), { bufnr = bufnr })
  end
  local id = clients_by_root[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(client_config(root))
    if not id then
      return nil
    end
    clients_by_root[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

-- The run lens names the server's command: run it the editor's way (in a
-- :terminal, with the pick), not as a bare workspace/executeCommand.
local function define_lens_commands()
  vim.lsp.commands['hotc.server.run'] = function()
    M.run()
  end
  vim.lsp.commands['hotc.server.restart'] = function()
    M.restart()
  end
end

local function define_commands()
  local cmds = {
    HotRun = { M.run, 'run the program with hot reload' },
    HotReload = { M.reload, "rebuild and push this file's HOT functions now" },
    HotRollback = { M.rollback, 'roll every attached program back one version' },
    HotRestart = { M.restart, 'rebuild, then start the program of :HotRun again' },
    HotForgetState = { M.forget_state, "forget the programs' saved state" },
    HotLog = { M.show_log, 'show the reload log' },
  }
  for name, def in pairs(cmds) do
    vim.api.nvim_create_user_command(name, function()
      def[1]()
    end, { desc = 'hotc: ' .. def[2] })
  end
end

--- Configures the plugin (see :help hotc-setup), attaches the C buffers
--- already open and those opened later.
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  M._warned = false
  define_commands()
  define_lens_commands()
  augroup = vim.api.nvim_create_augroup('hotc', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = augroup,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  if M.config.codelens then
    vim.api.nvim_create_autocmd({ 'BufEnter', 'InsertLeave', 'BufWritePost' }, {
      group = augroup,
      callback = function(args)
        if #buf_clients(args.buf) > 0 then
          M.refresh_lenses(args.buf)
        end
      end,
    })
  end
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(M.config.filetypes, vim.bo[b].filetype) then
      M.attach(b)
    end
  end
end

return M
