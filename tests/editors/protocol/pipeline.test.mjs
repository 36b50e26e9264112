// The save-to-reload loop as an editor sees it, with a real program linked
// with the real runtime (tests/editors/fixtures/counter/main.c): run it with
// hotc.server.run, edit value(), save, and watch the program's output, the
// hotc/status counter, hotc/reloaded, the lens (also after a rollback), and
// compile errors as diagnostics, the order of hotc/reloaded and hotc/status,
// and a save-all of two files counted as one reload. Needs build/libhotc.so and
// build/pkgconfig/hotc.pc.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildProgram, compileCommands, lastLine, project, repo, start, uriOf, waitFor } from './lsp.mjs';

const ORIGINAL = fs.readFileSync(path.join(repo, 'tests/editors/fixtures/counter/main.c'), 'utf8');
const VALUE_LINE = ORIGINAL.split('\n').findIndex((l) => l.startsWith('HOT int value'));
const RETURN_LINE = ORIGINAL.split('\n').findIndex((l) => l.includes('return 1;'));
const withValue = (body) => ORIGINAL.replace('    return 1;', `    ${body}`);

/**
 * What a save (or a save-all) makes the server send, in `events` (from
 * before the save on): statuses with the old counter (compiling), then one
 * hotc/reloaded per file of `uris`, each carrying the new counter, then
 * exactly one hotc/status with that counter, `compiling: false` and the new
 * `last`. Returns that status.
 */
function assertStatusOrder(events, uris, reloadsBefore) {
  const show = () => JSON.stringify(events.map((e) => [e.method, e.params.reloads, e.params.compiling ?? e.params.uri]));
  const first = events.findIndex((e) => e.method === 'hotc/reloaded');
  assert.ok(first >= 0, `a hotc/reloaded: ${show()}`);
  for (const e of events.slice(0, first)) {
    assert.equal(e.method, 'hotc/status', show());
    assert.equal(e.params.reloads, reloadsBefore, `statuses before hotc/reloaded keep the old counter: ${show()}`);
  }
  const reloaded = events.slice(first, first + uris.length);
  assert.deepEqual(reloaded.map((e) => e.method), uris.map(() => 'hotc/reloaded'), `hotc/reloaded back to back: ${show()}`);
  assert.deepEqual(reloaded.map((e) => e.params.uri).sort(), [...uris].sort(), show());
  const counter = reloaded[0].params.reloads;
  assert.equal(counter, reloadsBefore + 1, `hotc/reloaded carries the new counter: ${show()}`);
  for (const e of reloaded) assert.equal(e.params.reloads, counter, show());
  const rest = events.slice(first + uris.length);
  assert.ok(rest.length >= 1 && rest[0].method === 'hotc/status', `hotc/status right after the hotc/reloaded: ${show()}`);
  const status = rest[0].params;
  assert.equal(status.reloads, counter, `the status has the counter of the hotc/reloaded: ${show()}`);
  assert.equal(status.compiling, false, show());
  assert.equal(status.last?.result, 'applied', JSON.stringify(status));
  assert.equal(rest.filter((e) => e.method === 'hotc/status').length, 1, `exactly one hotc/status after it: ${show()}`);
  assert.equal(rest.filter((e) => e.method === 'hotc/reloaded').length, 0, show());
  return status;
}

describe('hotc lsp save-to-reload', () => {
  let c;
  let dir;
  let file;
  let out;
  const lastValue = () => lastLine(out);
  const lensOnValue = async () => ((await c.lensTitles(file)).find(([l]) => l === VALUE_LINE) ?? [])[1];
  const lastStatus = () => c.status[c.status.length - 1];

  before(async () => {
    dir = project({ 'main.c': ORIGINAL });
    file = path.join(dir, 'main.c');
    fs.writeFileSync(path.join(dir, 'compile_commands.json'), compileCommands(dir, 'main.c'));
    buildProgram(dir, 'main.c', 'counter');
    out = path.join(dir, 'out.txt');
    c = await start({ root: dir });
    c.open(file, ORIGINAL);
  });
  after(async () => {
    if (out) fs.writeFileSync(`${out}.stop`, '');
    if (c) await c.stop();
  });

  test('hotc.server.run launches the program and it attaches', async () => {
    await c.command('hotc.server.run', [{ program: path.join(dir, 'counter'), args: [out], cwd: dir }]);
    await waitFor('the program to print 1', () => lastValue() === '1');
    const s = await waitFor('hotc/status with one program attached', () => c.status.find((x) => x.programs >= 1));
    assert.equal(typeof s.reloads, 'number');
    assert.equal(typeof s.compiling, 'boolean');
  });

  test('saving an edited HOT function changes the running program', async () => {
    const before = await lensOnValue();
    assert.ok(before, 'a lens on value()');
    const reloadsBefore = lastStatus()?.reloads ?? 0;
    const mark = c.events.length;
    const text = withValue('return 2;');
    c.change(file, text);
    c.save(file, text);
    await waitFor('the program to print 2', () => lastValue() === '2');
    const s = await waitFor('hotc/status counting the reload', () =>
      c.status.find((x) => x.reloads > reloadsBefore && x.last?.result === 'applied'),
    );
    const r = await waitFor('hotc/reloaded for main.c', () => c.reloaded.find((x) => x.uri === uriOf(file)));
    assert.ok(r.functions.includes('value') || r.functions.some((f) => f.name === 'value'), JSON.stringify(r));
    assert.ok(r.programs.some((p) => p.status === 'applied'), JSON.stringify(r));
    assert.equal(s.reloads, reloadsBefore + 1, 'one save, one reload');
    assertStatusOrder(c.events.slice(mark), [uriOf(file)], reloadsBefore);
    // the lens may first change when the program attaches: wait for the version
    const want = s.last.version !== undefined ? new RegExp(`v${s.last.version}\\b`) : null;
    await waitFor(`the lens on value() to show ${want ?? 'a change'}`, async () => {
      const t = await lensOnValue();
      return t && (want ? want.test(t) : t !== before) ? t : null;
    });
  });

  test('a compile error is a diagnostic and the program keeps the old code', async () => {
    const text = withValue('return 3 +;');
    c.change(file, text);
    c.save(file, text);
    const d = await waitFor('an error diagnostic on the broken line', () =>
      (c.diagnostics.get(uriOf(file)) ?? []).find((x) => x.severity === 1 && x.range.start.line === RETURN_LINE),
    );
    assert.ok(d.message.length > 0);
    await waitFor('hotc/status with compileError', () => lastStatus()?.last?.result === 'compileError');
    assert.equal(lastValue(), '2', 'the program still runs the last good code');
  });

  test('fixing it clears the diagnostic and reloads', async () => {
    const text = withValue('return 4;');
    c.change(file, text);
    c.save(file, text);
    await waitFor('the program to print 4', () => lastValue() === '4');
    await waitFor('the error cleared', () => !(c.diagnostics.get(uriOf(file)) ?? []).some((x) => x.severity === 1));
  });

  test('rollback returns to the previous version; hotc/status says rolledBack and counts no reload', async () => {
    // the program prints before the server has its answer: let the status settle
    const settled = await waitFor('the status of the fix', () =>
      lastStatus()?.compiling === false && lastStatus()?.last?.result === 'applied' ? lastStatus() : null,
    );
    const refreshes = c.refreshes;
    await c.command('hotc.server.rollback', []);
    await waitFor('the program to print 2 again', () => lastValue() === '2');
    const s = await waitFor('hotc/status with rolledBack', () =>
      lastStatus()?.last?.result === 'rolledBack' ? lastStatus() : null,
    );
    assert.equal(s.reloads, settled.reloads, 'a rollback is not a reload');
    assert.equal(typeof s.last.version, 'number');
    assert.ok(s.last.version < settled.last.version, `v${settled.last.version} → v${s.last.version}`);
    assert.ok(c.refreshes > refreshes, 'workspace/codeLens/refresh after the rollback');
    // a fresh textDocument/codeLens, as the editor sends on that refresh
    const lens = await lensOnValue();
    assert.equal(lens, `running v${s.last.version} · rolled back from v${settled.last.version}`);
  });
});

// A save-all: two files of one program saved in one go (their didSave
// notifications in one write, so in one read of the server) are one batch,
// counted once: a hotc/reloaded per file, then one hotc/status naming both.
describe('hotc lsp save-all of two files', () => {
  const MAIN = ORIGINAL.replace('HOT int value', 'int part(void);\n\nHOT int value').replace('    return 1;', '    return part();');
  const PART = '#include <hot.h>\n\nHOT int part(void)\n{\n    return 1;\n}\n';
  let c;
  let dir;
  let out;
  const lastValue = () => lastLine(out);
  const lastStatus = () => c.status[c.status.length - 1];

  before(async () => {
    dir = project({ 'main.c': MAIN, 'part.c': PART });
    fs.writeFileSync(path.join(dir, 'compile_commands.json'), compileCommands(dir, 'main.c', 'part.c'));
    buildProgram(dir, ['main.c', 'part.c'], 'counter');
    out = path.join(dir, 'out.txt');
    c = await start({ root: dir });
    c.open(path.join(dir, 'main.c'), MAIN);
    c.open(path.join(dir, 'part.c'), PART);
  });
  after(async () => {
    if (out) fs.writeFileSync(`${out}.stop`, '');
    if (c) await c.stop();
  });

  test('the program runs and attaches', async () => {
    await c.command('hotc.server.run', [{ program: path.join(dir, 'counter'), args: [out], cwd: dir }]);
    await waitFor('the program to print 1', () => lastValue() === '1');
    await waitFor('hotc/status with one program attached', () => lastStatus()?.programs >= 1);
  });

  test('saving both files at once is one reload: hotc/reloaded for each, then one hotc/status with both files', async () => {
    const main = path.join(dir, 'main.c');
    const part = path.join(dir, 'part.c');
    const reloadsBefore = lastStatus()?.reloads ?? 0;
    const mainText = MAIN.replace('    return part();', '    return part() * 10;');
    const partText = PART.replace('return 1;', 'return 2;');
    c.change(main, mainText);
    c.change(part, partText);
    const mark = c.events.length;
    const bytes = await c.saveAll([
      [main, mainText],
      [part, partText],
    ]);
    // one write() that a pipe delivers whole (PIPE_BUF), so one read of the server
    assert.ok(bytes > 0 && bytes < 4096, `${bytes} bytes in one write`);
    await waitFor('the program to print 20', () => lastValue() === '20');
    const s = await waitFor('hotc/status after the save-all', () =>
      c.status.find((x) => x.compiling === false && x.reloads > reloadsBefore),
    );
    const events = c.events.slice(mark);
    const status = assertStatusOrder(events, [uriOf(main), uriOf(part)], reloadsBefore);
    assert.equal(s, status);
    assert.equal(status.reloads, reloadsBefore + 1, 'a save-all counts once');
    const files = (status.last.files ?? []).map((f) => path.basename(f)).sort();
    assert.deepEqual(files, ['main.c', 'part.c'], `last.files: ${JSON.stringify(status.last)}`);
    assert.ok(['main.c', 'part.c'].includes(path.basename(status.last.file ?? '')), JSON.stringify(status.last));
    assert.deepEqual([...(status.last.functions ?? [])].sort(), ['part', 'value'], JSON.stringify(status.last));
    for (const r of c.reloaded.slice(-2)) {
      assert.ok(r.programs.length === 1 && r.programs[0].status === 'applied', JSON.stringify(r));
    }
  });
});
