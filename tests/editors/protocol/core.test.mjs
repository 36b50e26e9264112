// What both editor clients rely on from `hotc lsp` without a running
// program: lifecycle, capabilities, lenses, analysis diagnostics, hover and
// the announced commands. Run: HOTC=build/hotc node --test tests/editors/protocol/
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { project, start, uriOf, waitFor } from './lsp.mjs';

const SERVER_COMMANDS = ['hotc.server.run', 'hotc.server.reload', 'hotc.server.rollback', 'hotc.server.restart', 'hotc.server.forgetState'];
const CLIENT_COMMANDS = ['hotc.run', 'hotc.reload', 'hotc.rollback', 'hotc.restart', 'hotc.showLog'];

// line numbers (0-based) are asserted below: keep them in step
const SOURCE = `#include <stdio.h>
#include "hot.h"

struct point { int x, y; };

HOT int step(int x)
{
    return x + 1;
}

static HOT void draw(struct point *p)
{
    printf("%d %d\\n", p->x, p->y);
}

int helper(void) { return 2; }

int main(void)
{
    struct point p = {1, 2};
    draw(&p);
    return step(helper());
}
`;
const STEP_LINE = 5;
const DRAW_LINE = 10;
const HELPER_LINE = 15;
const MAIN_LINE = 17;

describe('hotc lsp core', () => {
  let c;
  let dir;
  let file;

  before(async () => {
    dir = project({ 'main.c': SOURCE });
    file = path.join(dir, 'main.c');
    c = await start({ root: dir });
    c.open(file, SOURCE);
  });
  after(async () => {
    if (c) await c.stop();
  });

  test('initialize announces what the clients use', () => {
    const caps = c.init.capabilities;
    assert.ok(caps.textDocumentSync, 'textDocumentSync');
    const sync = caps.textDocumentSync;
    if (typeof sync === 'object') {
      assert.equal(sync.openClose, true, 'openClose');
      assert.ok(sync.change === 1 || sync.change === 2, `change kind ${sync.change}`);
      assert.ok(sync.save, 'save notifications are what reloads');
    }
    assert.ok(caps.codeLensProvider, 'codeLensProvider');
    assert.ok(caps.hoverProvider, 'hoverProvider');
    const commands = caps.executeCommandProvider?.commands ?? [];
    for (const id of SERVER_COMMANDS) assert.ok(commands.includes(id), `announces ${id}`);
    // vscode-languageclient registers the announced ids itself: a client id
    // announced by the server would make the extension fail to activate
    for (const id of CLIENT_COMMANDS) assert.ok(!commands.includes(id), `does not announce ${id}`);
  });

  test('a lens above each HOT function and a run lens on main', async () => {
    const lenses = await waitFor('lenses on main.c', async () => {
      const l = await c.lensTitles(file);
      return l.length >= 3 ? l : null;
    });
    const lines = lenses.map(([line]) => line);
    assert.ok(lines.includes(STEP_LINE), `lens on step(): ${JSON.stringify(lenses)}`);
    assert.ok(lines.includes(DRAW_LINE), `lens on static draw(): ${JSON.stringify(lenses)}`);
    assert.ok(lines.includes(MAIN_LINE), `lens on main(): ${JSON.stringify(lenses)}`);
    assert.ok(!lines.includes(HELPER_LINE), 'no lens on a function that is not HOT');
    const main = lenses.find(([line]) => line === MAIN_LINE)[1];
    assert.match(main, /run/i);
    for (const [line, title] of lenses) assert.ok(title.length > 0, `lens on line ${line} has a title`);
  });

  test('lens commands use the server ids', async () => {
    const raw = await c.lenses(file);
    for (let lens of raw) {
      if (!lens.command && c.init.capabilities.codeLensProvider?.resolveProvider) {
        lens = await c.conn.sendRequest('codeLens/resolve', lens);
      }
      if (lens.range.start.line === MAIN_LINE) {
        assert.equal(lens.command?.command, 'hotc.server.run', 'the run lens calls hotc.server.run');
      }
      if (lens.command?.command) {
        assert.ok(!CLIENT_COMMANDS.includes(lens.command.command), `lens uses server id, not ${lens.command.command}`);
      }
    }
  });

  test('lenses follow edits', async () => {
    const added = SOURCE.replace('int helper(void)', 'HOT int helper(void)');
    c.change(file, added);
    await waitFor('a lens on helper() once it is HOT', async () =>
      (await c.lensTitles(file)).some(([line]) => line === HELPER_LINE),
    );
    c.change(file, SOURCE);
    await waitFor('the lens on helper() gone again', async () =>
      !(await c.lensTitles(file)).some(([line]) => line === HELPER_LINE),
    );
  });

  test('HOT on something that is not a function definition is an error diagnostic, fixed when removed', async () => {
    const bad = SOURCE.replace('struct point { int x, y; };', 'HOT int counter;');
    c.change(file, bad);
    const diags = await waitFor('an error on the HOT variable', () =>
      (c.diagnostics.get(uriOf(file)) ?? []).find((d) => d.severity === 1 && d.range.start.line === 3),
    );
    assert.ok(diags.message.length > 0);
    c.change(file, SOURCE);
    await waitFor('the error cleared', () => !(c.diagnostics.get(uriOf(file)) ?? []).some((d) => d.severity === 1));
  });

  test('hover on a HOT function says something about it', async () => {
    const h = await c.conn.sendRequest('textDocument/hover', {
      textDocument: { uri: uriOf(file) },
      position: { line: STEP_LINE, character: 9 },
    });
    assert.ok(h, 'hover on step()');
    const contents = h.contents;
    const text =
      typeof contents === 'string'
        ? contents
        : Array.isArray(contents)
          ? contents.map((x) => (typeof x === 'string' ? x : x.value)).join('\n')
          : contents.value;
    assert.ok(text && text.length > 0, 'hover text');
  });

  test('every announced command answers, with no program running, and the server lives on', async () => {
    const answers = {
      'hotc.server.run': [{}],
      'hotc.server.reload': [uriOf(file)],
      'hotc.server.rollback': [],
      'hotc.server.restart': [],
      'hotc.server.forgetState': [],
    };
    for (const [cmd, args] of Object.entries(answers)) {
      if (cmd === 'hotc.server.run') continue; // would launch something: the pipeline tests run it
      try {
        await c.command(cmd, args);
      } catch (e) {
        // a clear error is a fine answer (nothing to roll back, no program)
        assert.ok(typeof e.message === 'string' && e.message.length > 0, `${cmd}: error with a message`);
      }
    }
    await assert.rejects(c.command('hotc.server.nonsense', []), 'an unknown command is an error');
    assert.ok((await c.lensTitles(file)).length >= 3, 'still answering');
  });

  test('saving a file with no program attached is harmless', async () => {
    c.save(file, SOURCE);
    assert.ok((await c.lensTitles(file)).length >= 3, 'still answering after a save');
  });

  test('shutdown then exit ends the server with status 0', async () => {
    const res = await c.stop();
    c = null;
    assert.deepEqual(res, { code: 0, signal: null });
  });
});
