// The hotc extension: starts `hotc lsp --stdio` for C files, shows the
// server's diagnostics and lenses (vscode-languageclient does that), keeps a
// status bar item with the reload counter, decides which saves reach the
// server (hotc.reloadOnSave), and maps the client commands hotc.* onto the
// server's hotc.server.* commands. See docs/protocol.md for the contract.
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
import { HotReloaded, HotStatus, lastLine, reloadedLine, statusView } from './status';

const SERVER_RUN = 'hotc.server.run';
const SERVER_RELOAD = 'hotc.server.reload';
const SERVER_ROLLBACK = 'hotc.server.rollback';
const SERVER_RESTART = 'hotc.server.restart';

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let reloadLog: vscode.OutputChannel;
let lastLogged = '';
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
  const v = statusView(s);
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

async function serverCommand(command: string, args: unknown[]): Promise<unknown> {
  if (!client || !client.isRunning()) {
    vscode.window.showErrorMessage(`hotc: the server is not running; see the hotc output`);
    return undefined;
  }
  try {
    return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log(`${command} failed: ${msg}`);
    vscode.window.showErrorMessage(`hotc: ${command.replace('hotc.server.', '')} failed: ${msg}`);
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
    outputChannelName: 'hotc',
    middleware: {
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
    refreshLenses();
  });
  try {
    await c.start();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log(`cannot start the server: ${msg}`);
    vscode.window.showErrorMessage(
      `hotc: cannot start the server (${msg}); set hotc.server.path to the hotc executable`,
    );
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
  reloadLog = vscode.window.createOutputChannel('hotc reloads');
  statusItem = vscode.window.createStatusBarItem('hotc.status', vscode.StatusBarAlignment.Left, 10);
  statusItem.name = 'hotc';
  statusItem.command = 'hotc.showLog';
  statusItem.text = '$(flame) hotc';
  statusItem.tooltip = 'hotc: starting';
  statusItem.show();
  context.subscriptions.push(reloadLog, statusItem);

  context.subscriptions.push(
    vscode.workspace.onWillSaveTextDocument((e) => saveReasons.set(e.document.uri.toString(), e.reason)),
    vscode.commands.registerCommand('hotc.run', () => {
      const program = config().get<{ path?: string; args?: string[]; cwd?: string } | null>('program');
      if (program && program.path) {
        return serverCommand(SERVER_RUN, [{ program: program.path, args: program.args, cwd: program.cwd }]);
      }
      const uri = activeCUri();
      return serverCommand(SERVER_RUN, uri ? [uri] : [{}]);
    }),
    vscode.commands.registerCommand('hotc.reload', () => {
      const uri = activeCUri();
      return serverCommand(SERVER_RELOAD, uri ? [uri] : []);
    }),
    vscode.commands.registerCommand('hotc.rollback', () => serverCommand(SERVER_ROLLBACK, [])),
    vscode.commands.registerCommand('hotc.restart', () => serverCommand(SERVER_RESTART, [])),
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
