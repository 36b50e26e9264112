// The save-to-reload loop as an editor sees it, with a real program linked
// with the real runtime (tests/editors/fixtures/counter/main.c): run it with
// hotc.server.run, edit value(), save, and watch the program's output, the
// hotc/status counter, hotc/reloaded, the lens, and compile errors as
// diagnostics. Needs build/libhotc.so and build/pkgconfig/hotc.pc.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildProgram, compileCommands, project, repo, start, uriOf, waitFor } from './lsp.mjs';

const ORIGINAL = fs.readFileSync(path.join(repo, 'tests/editors/fixtures/counter/main.c'), 'utf8');
const VALUE_LINE = ORIGINAL.split('\n').findIndex((l) => l.startsWith('HOT int value'));
const RETURN_LINE = ORIGINAL.split('\n').findIndex((l) => l.includes('return 1;'));
const withValue = (body) => ORIGINAL.replace('    return 1;', `    ${body}`);

describe('hotc lsp save-to-reload', () => {
  let c;
  let dir;
  let file;
  let out;
  const lastValue = () => {
    try {
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
      return lines[lines.length - 1];
    } catch {
      return undefined;
    }
  };
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

  test('rollback returns to the previous version', async () => {
    await c.command('hotc.server.rollback', []);
    await waitFor('the program to print 2 again', () => lastValue() === '2');
  });
});
