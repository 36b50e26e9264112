// A small LSP client for the tests: spawns the real `hotc lsp --stdio` (the
// binary named by $HOTC, else build/hotc), speaks to it with
// vscode-languageserver-protocol, records what the server sends, and offers
// waitFor() to wait for a condition instead of sleeping.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  AbstractMessageWriter,
  createProtocolConnection,
  StreamMessageReader,
} from 'vscode-languageserver-protocol/node.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../..');
export const hotc = path.resolve(repo, process.env.HOTC ?? 'build/hotc');
export const buildDir = path.resolve(repo, process.env.HOTC_BUILD_DIR ?? path.dirname(hotc));

/** Generous: two cores are shared with compilers and other tests. */
export const TIMEOUT = Number(process.env.HOTC_TEST_TIMEOUT_MS ?? 60000);

export const uriOf = (file) => pathToFileURL(file).href;

/**
 * Polls `fn` (sync or async) until it returns something truthy and returns
 * that; fails after `ms` with `what` and the last value seen.
 */
export async function waitFor(what, fn, ms = TIMEOUT) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The connection's writer: each message framed and written with a single
 * write() (vscode-jsonrpc's StreamMessageWriter writes the header and the
 * body separately). holdUntil() keeps messages back until a number of a
 * given method are there, then writes them all in ONE write(): how an
 * editor's "save all" reaches the server in one read.
 */
class FramedWriter extends AbstractMessageWriter {
  constructor(stream) {
    super();
    this.stream = stream;
    this.held = null;
    stream.on('error', (e) => this.fireError(e));
    stream.on('close', () => this.fireClose());
  }

  static frame(msg) {
    const body = Buffer.from(JSON.stringify(msg), 'utf8');
    return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
  }

  send(buf) {
    return new Promise((resolve, reject) =>
      this.stream.write(buf, (err) => {
        if (err) {
          this.fireError(err);
          reject(err);
        } else resolve();
      }),
    );
  }

  write(msg) {
    const frame = FramedWriter.frame(msg);
    if (!this.held) return this.send(frame);
    this.held.frames.push(frame);
    if (msg.method === this.held.method && --this.held.count === 0) {
      const { frames, done } = this.held;
      this.held = null;
      const all = Buffer.concat(frames);
      this.send(all).then(() => done(all.length), done);
    }
    return Promise.resolve();
  }

  /** Holds every message back until `count` of `method` were written; resolves with the bytes written at once. */
  holdUntil(method, count) {
    return new Promise((done) => {
      this.held = { method, count, frames: [], done };
    });
  }

  end() {
    this.stream.end();
  }
}

/** A fresh project directory with the given files (name → text). */
export function project(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotc-proto-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** compile_commands.json for `files` in `dir`, with the runtime's headers. */
export function compileCommands(dir, ...files) {
  return JSON.stringify(
    files.map((file) => ({
      directory: dir,
      file,
      arguments: ['cc', '-std=c11', '-g', '-O1', `-I${path.join(repo, 'runtime')}`, '-c', file, '-o', file.replace(/\.c$/, '.o')],
    })),
  );
}

/** The last line a test program wrote to `file`, or undefined before it wrote one. */
export function lastLine(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').pop();
  } catch {
    return undefined;
  }
}

/**
 * Builds `file` (or an array of files) in `dir` into `exe` the way a user's build would, with the
 * flags build/pkgconfig/hotc.pc gives. Throws with the compiler's output.
 */
export function buildProgram(dir, file, exe) {
  const files = Array.isArray(file) ? file : [file];
  const env = { ...process.env, PKG_CONFIG_PATH: path.join(buildDir, 'pkgconfig') };
  const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'hotc'], { env, encoding: 'utf8' });
  if (pc.status !== 0) throw new Error(`pkg-config hotc failed: ${pc.stderr}`);
  const flags = pc.stdout.trim().split(/\s+/);
  const cc = spawnSync('cc', ['-std=c11', '-g', '-O1', '-o', exe, ...files, ...flags], { cwd: dir, encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot build ${files.join(' ')}: ${cc.stderr}`);
}

/**
 * Starts the server and runs initialize/initialized. Returns a client with
 * the connection, the initialize result, and what the server sent so far:
 * diagnostics by uri, every hotc/status and hotc/reloaded, log messages,
 * refresh requests.
 */
export async function start({ root, initializationOptions = {}, capabilities, env = {} } = {}) {
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hotc-xdg-'));
  fs.chmodSync(runtimeDir, 0o700);
  const proc = spawn(hotc, ['lsp', '--stdio'], {
    cwd: root ?? repo,
    stdio: ['pipe', 'pipe', 'pipe'],
    // a private endpoint directory, so that tests never meet each other's programs
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, ...env },
  });
  const stderr = [];
  proc.stderr.on('data', (d) => stderr.push(d.toString()));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));

  const writer = new FramedWriter(proc.stdin);
  const conn = createProtocolConnection(new StreamMessageReader(proc.stdout), writer);
  const c = {
    proc,
    conn,
    exited,
    runtimeDir,
    stderr,
    diagnostics: new Map(),
    status: [],
    reloaded: [],
    /** hotc/status and hotc/reloaded in the order they came: {method, params} */
    events: [],
    logs: [],
    refreshes: 0,
    progressCreated: 0,
  };
  conn.onNotification('textDocument/publishDiagnostics', (p) => c.diagnostics.set(p.uri, p.diagnostics));
  conn.onNotification('hotc/status', (p) => {
    c.status.push(p);
    c.events.push({ method: 'hotc/status', params: p });
  });
  conn.onNotification('hotc/reloaded', (p) => {
    c.reloaded.push(p);
    c.events.push({ method: 'hotc/reloaded', params: p });
  });
  conn.onNotification('window/logMessage', (p) => c.logs.push(p.message));
  conn.onNotification('window/showMessage', (p) => c.logs.push(p.message));
  conn.onNotification('$/progress', () => {});
  conn.onRequest('workspace/codeLens/refresh', () => {
    c.refreshes++;
    return null;
  });
  conn.onRequest('window/workDoneProgress/create', () => {
    c.progressCreated++;
    return null;
  });
  conn.onRequest('client/registerCapability', () => null);
  conn.onRequest('workspace/configuration', (p) => p.items.map(() => initializationOptions));
  conn.onRequest('window/showMessageRequest', () => null);
  conn.listen();

  const rootUri = root ? uriOf(root) : null;
  const early = exited.then(({ code, signal }) => {
    throw new Error(`exited (code ${code}, signal ${signal})`);
  });
  early.catch(() => {});
  c.init = await Promise.race([early, conn.sendRequest('initialize', {
    processId: process.pid,
    clientInfo: { name: 'hotc-protocol-tests' },
    rootUri,
    workspaceFolders: root ? [{ uri: rootUri, name: path.basename(root) }] : null,
    initializationOptions,
    capabilities: capabilities ?? {
      general: { positionEncodings: ['utf-16'] },
      textDocument: {
        synchronization: { didSave: true, dynamicRegistration: false },
        publishDiagnostics: { relatedInformation: true },
        codeLens: {},
        hover: { contentFormat: ['markdown', 'plaintext'] },
      },
      workspace: { codeLens: { refreshSupport: true }, executeCommand: {}, configuration: true },
      window: { workDoneProgress: true },
    },
  })]).catch(async (e) => {
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    throw new Error(`${hotc} did not answer initialize: ${e.message}; its stderr: ${stderr.join('')}`);
  });
  conn.sendNotification('initialized', {});

  c.open = (file, text) =>
    conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: uriOf(file), languageId: 'c', version: 1, text },
    });
  c.versions = new Map();
  /** Replaces the whole text (a full change) and, with save, writes and saves it. */
  c.change = (file, text) => {
    const v = (c.versions.get(file) ?? 1) + 1;
    c.versions.set(file, v);
    conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: uriOf(file), version: v },
      contentChanges: [{ text }],
    });
  };
  c.save = (file, text) => {
    fs.writeFileSync(file, text);
    conn.sendNotification('textDocument/didSave', { textDocument: { uri: uriOf(file) }, text });
  };
  /**
   * "Save all": writes each file and sends their didSave notifications back
   * to back in one write() (without `text`: the server does not ask for it,
   * and the write stays small). Resolves with the bytes written.
   */
  c.saveAll = (files) => {
    const sent = writer.holdUntil('textDocument/didSave', files.length);
    for (const [file, text] of files) {
      fs.writeFileSync(file, text);
      conn.sendNotification('textDocument/didSave', { textDocument: { uri: uriOf(file) } });
    }
    return sent;
  };
  c.lenses = (file) => conn.sendRequest('textDocument/codeLens', { textDocument: { uri: uriOf(file) } });
  /** Lens titles on each line: [[line, title], ...] sorted by line. */
  c.lensTitles = async (file) =>
    ((await c.lenses(file)) ?? [])
      .map((l) => [l.range.start.line, l.command?.title ?? ''])
      .sort((a, b) => a[0] - b[0]);
  c.command = (command, args = []) => conn.sendRequest('workspace/executeCommand', { command, arguments: args });
  c.stop = async () => {
    try {
      await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 10000))]);
      conn.sendNotification('exit');
    } catch {
      // the server is already gone
    }
    const res = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 10000))]);
    if (!res) proc.kill('SIGKILL');
    conn.dispose();
    fs.rmSync(runtimeDir, { recursive: true, force: true });
    return res;
  };
  return c;
}
