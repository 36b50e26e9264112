// The hotc extension in the real VS Code: code-server (installed by
// install.sh) serves VS Code on 127.0.0.1, the .vsix is installed offline,
// and playwright-core drives Debian's chromium like a person would: open a
// file, type, save, read the status bar item, the lens text and the problems
// count. A screenshot of the final state of each set is kept under tests/out/.
//
//   HOTC=build/hotc VSIX=build/hotc-0.1.0.vsix node tests/editors/vscode/test.mjs [core] [pipeline]
//
// "core" needs only the server; "pipeline" runs a real program linked with
// libhotc (built with the flags of $HOTC_BUILD_DIR/pkgconfig/hotc.pc) with no
// program setting (the server finds it) in an integrated terminal, edits its
// HOT function, saves, and waits for the program's output to change, the
// reload to flash in the status bar; restarts it through the project's
// Makefile; reads the status bar after a crash and after an exit.
// Prints one line per step and a closing "N passed, N failed".
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const hotc = path.resolve(repo, process.env.HOTC ?? 'build/hotc');
const buildDir = path.resolve(repo, process.env.HOTC_BUILD_DIR ?? path.dirname(hotc));
const vsix = path.resolve(repo, process.env.VSIX ?? path.join(buildDir, 'hotc-0.1.0.vsix'));
const codeServer = path.join(here, 'node_modules/.bin/code-server');
const outDir = path.join(repo, 'tests/out');
const TIMEOUT = Number(process.env.HOTC_TEST_TIMEOUT_MS ?? 90000);
const sets = process.argv.slice(2).length ? process.argv.slice(2) : ['core'];

const fixture = fs.readFileSync(path.join(repo, 'tests/editors/fixtures/counter/main.c'), 'utf8');
const fixtureLines = fixture.split('\n');
const returnLine = fixtureLines.findIndex((l) => l.includes('return 1;')) + 1; // 1-based

let passed = 0;
let failed = 0;
const say = (s) => process.stdout.write(`${s}\n`);

async function waitFor(what, fn, ms = TIMEOUT) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
    } catch (e) {
      last = `(${e.message.split('\n')[0]})`;
    }
    if (last && !(typeof last === 'string' && last.startsWith('('))) return last;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function buildProgram(dir) {
  const env = { ...process.env, PKG_CONFIG_PATH: path.join(buildDir, 'pkgconfig') };
  const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'hotc'], { env, encoding: 'utf8' });
  if (pc.status !== 0) throw new Error(`pkg-config hotc: ${pc.stderr}`);
  const cc = spawnSync('cc', ['-std=c11', '-g', '-O0', '-o', 'counter', 'main.c', ...pc.stdout.trim().split(/\s+/)], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (cc.status !== 0) throw new Error(`cannot build the program: ${cc.stderr}`);
}

/** A workspace, user settings, the extension installed, code-server started. */
async function startVSCode(set) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `hotc-vscode-${set}-`));
  const ws = path.join(tmp, 'project');
  const userData = path.join(tmp, 'user-data');
  const extDir = path.join(tmp, 'extensions');
  const xdg = path.join(tmp, 'xdg');
  fs.mkdirSync(ws, { recursive: true });
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.mkdirSync(xdg, { mode: 0o700 });
  fs.writeFileSync(path.join(ws, 'main.c'), fixture);
  fs.writeFileSync(
    path.join(ws, 'compile_commands.json'),
    JSON.stringify([
      {
        directory: ws,
        file: 'main.c',
        arguments: ['cc', '-std=c11', '-g', '-O1', `-I${path.join(repo, 'runtime')}`, '-c', 'main.c', '-o', 'main.o'],
      },
    ]),
  );
  const out = path.join(ws, 'out.txt');
  const settings = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'update.mode': 'none',
    'files.autoSave': 'off',
    'editor.autoClosingBrackets': 'never',
    'editor.autoIndent': 'none',
    'editor.formatOnType': false,
    'editor.suggestOnTriggerCharacters': false,
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.codeLens': true,
    'hotc.server.path': hotc,
    'hotc.reloadOnSave': 'manual',
  };
  // core: the program setting; pipeline: none (Run finds the program, which
  // writes out.txt in the terminal's directory, the workspace)
  if (set !== 'pipeline') settings['hotc.program'] = { path: path.join(ws, 'counter'), args: [out], cwd: ws };
  // the project's build for Restart: marks that it ran
  fs.writeFileSync(path.join(ws, 'Makefile'), 'all:\n\ttouch built\n');
  fs.writeFileSync(path.join(userData, 'User/settings.json'), JSON.stringify(settings, null, 2));
  if (set === 'pipeline') buildProgram(ws);

  const common = ['--user-data-dir', userData, '--extensions-dir', extDir, '--disable-telemetry', '--disable-update-check'];
  const inst = spawnSync(codeServer, [...common, '--install-extension', vsix], { encoding: 'utf8', timeout: 300000 });
  if (inst.status !== 0 || !fs.readdirSync(extDir).some((d) => d.startsWith('hotc.hotc-'))) {
    throw new Error(`cannot install ${vsix}: ${inst.stdout}${inst.stderr}`);
  }
  const port = await freePort();
  const log = fs.openSync(path.join(tmp, 'code-server.log'), 'w');
  const proc = spawn(
    codeServer,
    [...common, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-workspace-trust', '--disable-getting-started-override', ws],
    { stdio: ['ignore', log, log], detached: true, env: { ...process.env, XDG_RUNTIME_DIR: xdg } },
  );
  await waitFor('code-server to answer', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    return r.ok;
  });
  return { tmp, ws, out, port, proc, logFile: path.join(tmp, 'code-server.log') };
}

async function step(name, fn) {
  try {
    const v = await fn();
    passed++;
    say(`ok - ${name}`);
    return v;
  } catch (e) {
    failed++;
    say(`not ok - ${name}`);
    for (const line of String(e.stack ?? e).split('\n').slice(0, 8)) say(`    ${line}`);
    throw e;
  }
}

const statusItem = (page) => page.locator('.statusbar-item', { hasText: /hotc/ }).first();
const statusText = async (page) => (await statusItem(page).innerText()).replace(/\s+/g, ' ').trim();
const lensTexts = async (page) =>
  (await page.locator('.monaco-editor .codelens-decoration').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
/** {errors, warnings} from the problems status bar item's accessible label. */
async function problems(page) {
  const item = page.locator('.statusbar-item', { has: page.locator('.codicon-error') }).first();
  const label = (await item.getAttribute('aria-label')) ?? (await item.innerText());
  if (/no problems/i.test(label)) return { errors: 0, warnings: 0, label };
  const errors = Number(/errors?:?\s*(\d+)/i.exec(label)?.[1] ?? /(\d+)\s*errors?/i.exec(label)?.[1] ?? NaN);
  const warnings = Number(/warnings?:?\s*(\d+)/i.exec(label)?.[1] ?? /(\d+)\s*warnings?/i.exec(label)?.[1] ?? NaN);
  return { errors, warnings, label };
}

async function command(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** Replaces line n (1-based) of the active editor with text. */
async function replaceLine(page, n, text) {
  await page.keyboard.press('Control+g');
  await page.locator('.quick-input-widget input').waitFor({ state: 'visible' });
  await page.keyboard.type(String(n));
  await page.keyboard.press('Enter');
  await page.keyboard.press('Home');
  await page.keyboard.press('Home'); // twice: first to the indentation, then column 1
  await page.keyboard.press('Shift+End');
  await page.keyboard.type(text);
}

async function runSet(set) {
  const vs = await step(`${set}: code-server starts with the extension installed`, () => startVSCode(set));
  let browser;
  let page;
  const lastValue = () => {
    try {
      return fs.readFileSync(vs.out, 'utf8').trim().split('\n').pop();
    } catch {
      return undefined;
    }
  };
  try {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(TIMEOUT);

    await step(`${set}: VS Code loads the workspace`, async () => {
      await page.goto(`http://127.0.0.1:${vs.port}/?folder=${encodeURIComponent(vs.ws)}`);
      await page.locator('.monaco-workbench').waitFor();
      await page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor();
    });

    await step(`${set}: opening main.c starts the extension and the server`, async () => {
      await page.keyboard.press('Control+p');
      await page.locator('.quick-input-widget input').waitFor({ state: 'visible' });
      await page.keyboard.type('main.c');
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'main.c' }).first().waitFor();
      await page.keyboard.press('Enter');
      await page.locator('.tab', { hasText: 'main.c' }).first().waitFor();
      const s = await waitFor('the hotc status bar item', async () => {
        const t = await statusText(page);
        return /hotc \d+×/.test(t) ? t : null;
      });
      say(`    status bar: ${s}`);
    });

    await step(`${set}: lenses above value() and main()`, async () => {
      const lenses = await waitFor('lenses', async () => {
        const l = await lensTexts(page);
        return l.length >= 2 && l.some((t) => /run/i.test(t)) ? l : null;
      });
      say(`    lenses: ${JSON.stringify(lenses)}`);
    });

    if (set === 'core') {
      await step('core: typing HOT on a variable and saving shows one error in the problems count', async () => {
        await page.locator('.monaco-editor .view-lines').first().click();
        await page.keyboard.press('Control+Home');
        await page.keyboard.press('Enter');
        await page.keyboard.press('ArrowUp');
        await page.keyboard.type('HOT int counter;');
        await page.keyboard.press('Control+s');
        const p = await waitFor('an error in the problems count', async () => {
          const x = await problems(page);
          return x.errors >= 1 ? x : null;
        });
        say(`    problems: ${p.label}`);
        await waitFor('main.c saved', () => fs.readFileSync(path.join(vs.ws, 'main.c'), 'utf8') === `HOT int counter;\n${fixture}`);
      });
      await step('core: deleting the line again clears the problems', async () => {
        await page.keyboard.press('Control+Home');
        await page.keyboard.press('Shift+ArrowDown');
        await page.keyboard.press('Delete');
        await page.keyboard.press('Control+s');
        await waitFor('main.c saved as it was', () => fs.readFileSync(path.join(vs.ws, 'main.c'), 'utf8') === fixture);
        await waitFor('no errors', async () => (await problems(page)).errors === 0);
      });
    }

    if (set === 'pipeline') {
      await step('pipeline: Run with Hot Reload, no settings: the program runs in a terminal and attaches', async () => {
        await command(page, 'hotc: Run with Hot Reload');
        await waitFor('the program to print 1', () => lastValue() === '1');
        await waitFor('a terminal named hotc: counter', async () => (await page.getByText('hotc: counter').count()) > 0);
        const s = await waitFor('the status bar to see the program', async () => {
          const t = await statusText(page);
          return /hotc \d+×/.test(t) ? t : null;
        });
        say(`    status bar: ${s}`);
      });
      let before;
      await step('pipeline: editing value() and saving changes the running program', async () => {
        before = await statusText(page);
        const lensesBefore = await lensTexts(page);
        await page.locator('.monaco-editor .view-lines').first().click();
        await replaceLine(page, returnLine, '    return 2;');
        await page.keyboard.press('Control+s');
        await waitFor('the program to print 2', () => lastValue() === '2');
        const flash = await waitFor('the status bar to say the reload', async () => {
          const t = await statusText(page);
          return /Reloaded value\(\) in [\d.]+ m?s/.test(t) ? t : null; // from the save: ms, not the program's µs
        }, 10000);
        say(`    status bar: ${flash}`);
        const s = await waitFor('the status bar to count the reload', async () => {
          const t = await statusText(page);
          return /hotc [1-9]\d*× · v\d+ applied/.test(t) ? t : null;
        });
        say(`    status bar: ${before} → ${s}`);
        const version = /v(\d+) applied/.exec(s)[1];
        const lenses = await waitFor(`the lens to show v${version}`, async () => {
          const l = await lensTexts(page);
          return JSON.stringify(l) !== JSON.stringify(lensesBefore) && l.some((t) => t.includes(`v${version}`)) ? l : null;
        });
        say(`    lenses: ${JSON.stringify(lenses)}`);
      });
      await step('pipeline: a compile error shows in the problems count, the program keeps running', async () => {
        await replaceLine(page, returnLine, '    return 3 +;');
        await page.keyboard.press('Control+s');
        const p = await waitFor('an error in the problems count', async () => {
          const x = await problems(page);
          return x.errors >= 1 ? x : null;
        });
        say(`    problems: ${p.label}; status bar: ${await statusText(page)}`);
        if (lastValue() !== '2') throw new Error(`the program printed ${lastValue()}`);
      });
      await step('pipeline: hotc: Roll Back One Version shows in the status bar and the reload log', async () => {
        await command(page, 'hotc: Roll Back One Version');
        await waitFor('the program to print 1 again', () => lastValue() === '1');
        const s = await waitFor('the status bar to show the rollback', async () => {
          const t = await statusText(page);
          return /hotc \d+× · rolled back to v\d+/.test(t) ? t : null;
        });
        say(`    status bar: ${s}`);
        const version = /rolled back to v(\d+)/.exec(s)[1];
        const lenses = await waitFor(`the lens on value() to show the rollback to v${version}`, async () => {
          const l = await lensTexts(page);
          return l.some((t) => t.startsWith(`running v${version} · rolled back from v`)) ? l : null;
        });
        say(`    lenses: ${JSON.stringify(lenses)}`);
        await command(page, 'hotc: Show the Reload Log');
        const panel = page.locator('.part.panel .monaco-editor .view-lines').first();
        const logText = await waitFor('the reload log to show the reload and the rollback', async () => {
          const t = (await panel.innerText().catch(() => '')).replace(/\u00a0/g, ' ');
          return /reload \d+: main\.c v\d+ \[value\]/.test(t) && /rolled back to v\d+/.test(t) ? t : null;
        });
        for (const line of logText.split('\n').filter((l) => l.trim())) say(`    log: ${line.trim()}`);
      });
      await step('pipeline: hotc: Restart the Program runs the build and starts it again', async () => {
        await page.locator('.monaco-editor .view-lines').first().click();
        await replaceLine(page, returnLine, '    return 1;');
        await page.keyboard.press('Control+s');
        fs.rmSync(vs.out, { force: true });
        await command(page, 'hotc: Restart the Program');
        await waitFor('the build to run', () => fs.existsSync(path.join(vs.ws, 'built')));
        await waitFor('the new program to print 1', () => lastValue() === '1');
        const s = await waitFor('the status bar to see it', async () => {
          const t = await statusText(page);
          return /hotc \d+×/.test(t) ? t : null;
        });
        say(`    status bar: ${s}`);
      });
      await step('pipeline: a crash in reloaded code: the status bar says crashed in value()', async () => {
        await page.locator('.monaco-editor .view-lines').first().click();
        await replaceLine(page, returnLine, '    return *(volatile int *)0;');
        await page.keyboard.press('Control+s');
        const s = await waitFor('the status bar to say crashed', async () => {
          const t = await statusText(page);
          return /crashed in value\(\)/.test(t) ? t : null;
        });
        say(`    status bar: ${s}`);
      });
      await step('pipeline: after an exit the status bar says exited, not the last reload', async () => {
        await replaceLine(page, returnLine, '    return 1;');
        await page.keyboard.press('Control+s');
        await command(page, 'hotc: Restart the Program');
        await waitFor('the program to run again', () => lastValue() === '1');
        await waitFor('the status bar to see it', async () => /hotc \d+×/.test(await statusText(page)));
        fs.writeFileSync(`${vs.out}.stop`, '');
        const s = await waitFor('the status bar to say exited', async () => {
          const t = await statusText(page);
          return /exited \(status 0\)/.test(t) ? t : null;
        });
        say(`    status bar: ${s}`);
        fs.rmSync(`${vs.out}.stop`, { force: true });
      });
    }
  } finally {
    if (page) {
      fs.mkdirSync(outDir, { recursive: true });
      const shot = path.join(outDir, `vscode-${set}.png`);
      await page.screenshot({ path: shot }).catch(() => {});
      say(`    screenshot: ${path.relative(repo, shot)}`);
    }
    if (browser) await browser.close().catch(() => {});
    fs.writeFileSync(`${vs.out}.stop`, '');
    try {
      process.kill(-vs.proc.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 500));
    try {
      process.kill(-vs.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (failed) say(`    code-server log: ${vs.logFile}`);
    else fs.rmSync(vs.tmp, { recursive: true, force: true });
  }
}

for (const set of sets) {
  try {
    await runSet(set);
  } catch {
    // reported by step(); go on with the next set
  }
}
say(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
