// The hotc extension: starts `hotc lsp --stdio` for C files, shows the
// server's diagnostics and lenses (vscode-languageclient does that), keeps a
// status bar item with the reload counter, decides which saves reach the
// server (hotc.reloadOnSave), and maps the client commands hotc.* onto the
// server's hotc.server.* commands. The program runs in an integrated
// terminal (the server says what to start: {launch}); when the workspace has
// several programs linked with libhotc the user picks one, remembered per
// workspace. See docs/protocol.md for the contract.
import * as vscode from 'vscode';
import {
  CodeLensRequest,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { HotReloaded, HotStatus, Launch, RunState, lastLine, reloadedFlash, reloadedLine, runText, statusView } from './status';

const SERVER_RUN = 'hotc.server.run';
const SERVER_RELOAD = 'hotc.server.reload';
const SERVER_ROLLBACK = 'hotc.server.rollback';
const SERVER_RESTART = 'hotc.server.restart';
const SERVER_FORGET_STATE = 'hotc.server.forgetState';

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let reloadLog: vscode.OutputChannel;
/** the server's own output channel, one for the extension's life (client restarts reuse it) */
let serverLog: vscode.OutputChannel;
let lastLogged = '';
let extensionContext: vscode.ExtensionContext;
/** the terminal the program runs in, and the last status (for the flash to return to) */
let programTerminal: vscode.Terminal | undefined;
let lastStatus: HotStatus | undefined;
let flashUntil = 0;
let flashTimer: NodeJS.Timeout | undefined;
let lastRun: string | undefined;
const PICKED_PROGRAM = 'hotc.program.picked';
/** why each document is being saved, from onWillSaveTextDocument */
const saveReasons = new Map<string, vscode.TextDocumentSaveReason>();

function config() {
  return vscode.workspace.getConfiguration('hotc');
}

/** The part of the settings the server reads (schema/config.schema.json). */
function serverSettings(): Record<string, unknown> {
  const c = config();
  const s: Record<string, unknown> = { marker: c.get<string>('marker') || 'HOT' };
  const compiler = c.get<string>('compiler');
  if (compiler) s.compiler = compiler;
  const cc = c.get<string>('compileCommands');
  if (cc) s.compileCommands = cc;
  const program = c.get<{ path?: string; args?: string[]; cwd?: string } | null>('program');
  if (program && program.path) s.program = program;
  const build = c.get<string>('build');
  if (build) s.build = build;
  return s;
}

function log(line: string) {
  const t = new Date().toTimeString().slice(0, 8);
  reloadLog.appendLine(`[${t}] ${line}`);
}

/**
 * Whether a save should reach the server (and so reload): never with
 * "never"; with "manual" only saves made by hand; never while the file has
 * errors from another tool (hotc's own compile errors do not count, or a
 * fixed file could never be reloaded).
 */
function shouldReloadOnSave(doc: vscode.TextDocument, reason: vscode.TextDocumentSaveReason | undefined): string | undefined {
  const mode = config().get<string>('reloadOnSave', 'manual');
  if (mode === 'never') return 'hotc.reloadOnSave is "never"';
  if (mode === 'manual' && reason !== undefined && reason !== vscode.TextDocumentSaveReason.Manual) {
    return 'auto-save (hotc.reloadOnSave is "manual")';
  }
  const key = (d: vscode.Diagnostic) => `${d.range.start.line}:${d.range.start.character}:${d.message}`;
  const own = new Set((client?.diagnostics?.get(doc.uri) ?? []).map(key));
  const foreign = vscode.languages
    .getDiagnostics(doc.uri)
    .filter((d) => d.severity === vscode.DiagnosticSeverity.Error && d.source !== 'hotc' && !own.has(key(d)));
  if (foreign.length) return `${foreign.length} error(s) from ${foreign[0].source ?? 'another tool'}`;
  return undefined;
}

function showStatus(s: HotStatus) {
  lastStatus = s;
  noticeRun(s.run);
  if (Date.now() < flashUntil) return; // the reload flash stays up; the timer shows this one
  const v = statusView(s);
  const ended = s.run && s.run.state !== 'running';
  // once the program has ended, a click restarts it
  statusItem.command = ended ? 'hotc.restart' : 'hotc.showLog';
  statusItem.text = v.text;
  statusItem.tooltip = v.tooltip;
  statusItem.backgroundColor =
    v.severity === 'error'
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : v.severity === 'warning'
        ? new vscode.ThemeColor('statusBarItem.warningBackground')
        : undefined;
  statusItem.show();
  if (s.last) {
    const line = lastLine(s.last);
    const id = `${s.reloads}|${line}`;
    if (id !== lastLogged) {
      lastLogged = id;
      log(line);
    }
  }
}

/**
 * Asks VS Code for fresh lenses in every open C document. The server also
 * sends workspace/codeLens/refresh; this covers a server or a moment where it
 * does not.
 */
function refreshLenses() {
  if (!client) return;
  try {
    const feature = client.getFeature(CodeLensRequest.method);
    for (const doc of vscode.workspace.textDocuments) {
      if (doc.languageId !== 'c') continue;
      feature.getProvider(doc)?.onDidChangeCodeLensEmitter.fire();
    }
  } catch {
    // the feature is not there before the client has started
  }
}

/** Says once per change that the program crashed or failed, with Restart as the action. */
function noticeRun(run: RunState | undefined) {
  if (!run || run.state === 'running') {
    lastRun = run ? `${run.pid}:running` : undefined;
    return;
  }
  const id = `${run.pid}:${run.state}`;
  if (id === lastRun) return;
  lastRun = id;
  if (run.state === 'exited' && !run.signal && (run.status === undefined || run.status === 0)) return;
  const text = `hotc: ${runText(run)}`;
  const show = run.state === 'crashed' ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
  void show(text, 'Restart').then((pick) => {
    if (pick === 'Restart') void vscode.commands.executeCommand('hotc.restart');
  });
}

/** "Reloaded value() in 21 ms" in the status bar for a few seconds, or a notification (hotc.reloadNotification). */
function flashReload(r: HotReloaded) {
  const mode = config().get<string>('reloadNotification', 'statusBar');
  const text = reloadedFlash(r);
  if (!text || mode === 'off') return;
  if (mode === 'notification') {
    void vscode.window.showInformationMessage(text);
    return;
  }
  flashUntil = Date.now() + 4000;
  statusItem.text = `$(check) hotc · ${text}`;
  statusItem.show();
  if (flashTimer) clearTimeout(flashTimer);
  flashTimer = setTimeout(() => {
    flashUntil = 0;
    if (lastStatus) showStatus(lastStatus);
  }, 4000);
}

/** Starts what the server said in an integrated terminal (the old one, if any, is closed: that stops its program). */
function startInTerminal(l: Launch) {
  if (programTerminal) programTerminal.dispose();
  const name = `hotc: ${l.title ?? l.program.replace(/^.*\//, '')}`;
  programTerminal = vscode.window.createTerminal({
    name,
    shellPath: l.program,
    shellArgs: l.args ?? [],
    cwd: l.cwd ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    env: l.env,
    isTransient: true,
  });
  programTerminal.show(true);
  log(`started ${l.program} ${(l.args ?? []).join(' ')} in the terminal "${name}"`);
}

type RunResult = { launch?: Launch; candidates?: string[]; pid?: number } | undefined;

/** The program to run: the setting, else the one picked earlier in this workspace. */
function configuredProgram(): { program: string; args?: string[]; cwd?: string } | undefined {
  const p = config().get<{ path?: string; args?: string[]; cwd?: string } | null>('program');
  if (p && p.path) return { program: p.path, args: p.args, cwd: p.cwd };
  const picked = extensionContext.workspaceState.get<string>(PICKED_PROGRAM);
  return picked ? { program: picked } : undefined;
}

async function runProgram(): Promise<unknown> {
  const known = configuredProgram();
  const uri = activeCUri();
  let r = (await serverCommand(SERVER_RUN, [known ? { ...known, terminal: true } : { file: uri, terminal: true }])) as RunResult;
  if (r && r.candidates && r.candidates.length) {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
    const pick = await vscode.window.showQuickPick(
      r.candidates.map((c) => ({ label: c.startsWith(root + '/') ? c.slice(root.length + 1) : c, description: c, path: c })),
      { placeHolder: 'Which program linked with libhotc do you want to run?' },
    );
    if (!pick) return undefined;
    await extensionContext.workspaceState.update(PICKED_PROGRAM, pick.path);
    r = (await serverCommand(SERVER_RUN, [{ program: pick.path, terminal: true }])) as RunResult;
  }
  if (r && r.launch) startInTerminal(r.launch);
  return r;
}

async function restartProgram(): Promise<unknown> {
  const known = configuredProgram();
  const r = (await serverCommand(SERVER_RESTART, [known ? { ...known, terminal: true } : { terminal: true }])) as RunResult;
  if (r && r.launch) startInTerminal(r.launch);
  return r;
}

function openSetting(id: string) {
  void vscode.commands.executeCommand('workbench.action.openSettings', id);
}

async function serverCommand(command: string, args: unknown[]): Promise<unknown> {
  if (!client || !client.isRunning()) {
    void vscode.window
      .showErrorMessage('hotc: the server is not running; see the hotc output', 'Show Output', 'Open Settings')
      .then((a) => {
        if (a === 'Show Output') serverLog.show(true);
        if (a === 'Open Settings') openSetting('hotc.server.path');
      });
    return undefined;
  }
  try {
    return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log(`${command} failed: ${msg}`);
    const actions = /hotc\.program/.test(msg) ? ['Open Settings'] : /build failed/.test(msg) ? ['Show Problems'] : [];
    void vscode.window.showErrorMessage(`hotc: ${command.replace('hotc.server.', '')} failed: ${msg}`, ...actions).then((a) => {
      if (a === 'Open Settings') openSetting('hotc.program');
      if (a === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
    });
    return undefined;
  }
}

function activeCUri(): string | undefined {
  const ed = vscode.window.activeTextEditor;
  if (ed && ed.document.languageId === 'c') return ed.document.uri.toString();
  return undefined;
}

function makeClient(context: vscode.ExtensionContext): LanguageClient {
  const command = config().get<string>('server.path') || 'hotc';
  // transport stdio makes the client append --stdio; the server accepts it
  const serverOptions: ServerOptions = {
    run: { command, args: ['lsp'], transport: TransportKind.stdio },
    debug: { command, args: ['lsp'], transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file', language: 'c' }],
    initializationOptions: serverSettings(),
    outputChannel: serverLog,
    middleware: {
      // the run lens names the server's command: run it the editor's way
      // (in a terminal, with the pick); other server commands go through
      executeCommand: async (command, args, next) => {
        if (command === SERVER_RUN) return runProgram();
        if (command === SERVER_RESTART) return restartProgram();
        return next(command, args);
      },
      didSave: async (doc, next) => {
        const k = doc.uri.toString();
        const reason = saveReasons.get(k);
        saveReasons.delete(k);
        const skip = shouldReloadOnSave(doc, reason);
        if (skip) {
          log(`${doc.uri.path.replace(/^.*\//, '')} saved, not reloaded: ${skip}`);
          return;
        }
        return next(doc);
      },
    },
  };
  const c = new LanguageClient('hotc', 'hotc', serverOptions, clientOptions);
  context.subscriptions.push(
    c.onDidChangeState((e) => {
      if (e.newState === State.Running) {
        statusItem.text = '$(flame) hotc 0×';
        statusItem.tooltip = 'hotc: running, no program attached yet\nclick for the reload log';
        statusItem.backgroundColor = undefined;
      } else if (e.newState === State.Stopped) {
        statusItem.text = '$(error) hotc stopped';
        statusItem.tooltip = 'hotc: the server stopped; see the hotc output';
      }
      statusItem.show();
    }),
  );
  return c;
}

async function startClient(context: vscode.ExtensionContext) {
  client = makeClient(context);
  const c = client;
  c.onNotification('hotc/status', (s: HotStatus) => {
    showStatus(s);
    refreshLenses();
  });
  c.onNotification('hotc/reloaded', (r: HotReloaded) => {
    log(reloadedLine(r));
    flashReload(r);
    refreshLenses();
  });
  try {
    await c.start();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log(`cannot start the server: ${msg}`);
    void vscode.window
      .showErrorMessage(`hotc: cannot start the server (${msg}); set hotc.server.path to the hotc executable`, 'Open Settings')
      .then((a) => {
        if (a === 'Open Settings') openSetting('hotc.server.path');
      });
  }
}

async function stopClient() {
  const c = client;
  client = undefined;
  if (c) {
    try {
      await c.stop();
    } catch {
      // already stopped or never started
    }
  }
}

export async function activate(context: vscode.ExtensionContext) {
  extensionContext = context;
  reloadLog = vscode.window.createOutputChannel('hotc reloads');
  serverLog = vscode.window.createOutputChannel('hotc');
  statusItem = vscode.window.createStatusBarItem('hotc.status', vscode.StatusBarAlignment.Left, 10);
  statusItem.name = 'hotc';
  statusItem.command = 'hotc.showLog';
  statusItem.text = '$(flame) hotc';
  statusItem.tooltip = 'hotc: starting';
  statusItem.show();
  context.subscriptions.push(reloadLog, serverLog, statusItem);

  context.subscriptions.push(
    vscode.workspace.onWillSaveTextDocument((e) => saveReasons.set(e.document.uri.toString(), e.reason)),
    vscode.commands.registerCommand('hotc.run', () => runProgram()),
    vscode.commands.registerCommand('hotc.reload', () => {
      const uri = activeCUri();
      return serverCommand(SERVER_RELOAD, uri ? [uri] : []);
    }),
    vscode.commands.registerCommand('hotc.rollback', () => serverCommand(SERVER_ROLLBACK, [])),
    vscode.commands.registerCommand('hotc.restart', () => restartProgram()),
    vscode.commands.registerCommand('hotc.forgetState', async () => {
      const r = (await serverCommand(SERVER_FORGET_STATE, [])) as { forgotten?: string[] } | undefined;
      if (r && r.forgotten) vscode.window.showInformationMessage(`hotc: forgot the saved state of ${r.forgotten.length} program(s)`);
    }),
    vscode.commands.registerCommand('hotc.forgetProgram', () => context.workspaceState.update(PICKED_PROGRAM, undefined)),
    vscode.window.onDidCloseTerminal((t) => {
      if (t === programTerminal) programTerminal = undefined;
    }),
    vscode.commands.registerCommand('hotc.showLog', () => reloadLog.show(true)),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration('hotc')) return;
      if (e.affectsConfiguration('hotc.server.path')) {
        await stopClient();
        await startClient(context);
        return;
      }
      if (client && client.isRunning()) {
        client.sendNotification('workspace/didChangeConfiguration', { settings: { hotc: serverSettings() } });
      }
    }),
    { dispose: () => void stopClient() },
  );

  await startClient(context);
}

export function deactivate(): Thenable<void> | undefined {
  return stopClient();
}
