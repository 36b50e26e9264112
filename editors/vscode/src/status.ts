// The shapes of the server's hotc/* notifications (docs/protocol.md) and how
// the status bar and the reload log render them. No vscode API here, so that
// it reads as the contract it follows.

/** `last.timings` of `hotc/status`: the server's phases of a save. */
export interface Timings {
  analysisUs?: number;
  patchUs?: number;
  compileUs?: number;
  loadUs?: number;
  applyUs?: number;
  totalUs?: number;
}

/** `programs[].timings` of `hotc/reloaded`: the runtime's (loadUs, resolveUs,
 * waitUs, applyUs, totalUs) plus the server's round trip (rttUs). */
export type ProgramTimings = Record<string, number | undefined> & {
  loadUs?: number;
  resolveUs?: number;
  waitUs?: number;
  applyUs?: number;
  totalUs?: number;
  rttUs?: number;
};

export type ResultKind =
  | 'applied'
  | 'refused'
  | 'error'
  | 'compileError'
  | 'rolledBack'
  | 'nothing'
  | 'notApplied'
  | 'waiting';

export interface LastResult {
  result: ResultKind;
  /** the version now running (after a rollback: the one rolled back to) */
  version?: number;
  message: string;
  /** the first file of a batch */
  file?: string;
  /** every file of a batch of saves (a save-all), when the server sends them */
  files?: string[];
  functions?: string[];
  timings?: Timings;
}

/** `run` of `hotc/status`: the program's state */
export interface RunState {
  state: 'running' | 'exited' | 'crashed';
  pid: number;
  program?: string;
  status?: number;
  signal?: number;
  signalName?: string;
  function?: string;
  address?: string;
  file?: string;
  line?: number;
  version?: number;
  message?: string;
}

/** params of `hotc/status` */
export interface HotStatus {
  /** batches of saves with at least one applied reload */
  reloads: number;
  programs: number;
  compiling: boolean;
  last?: LastResult;
  run?: RunState;
}

/** `launch` of the hotc.server.run / .restart answer: what to start in a terminal */
export interface Launch {
  program: string;
  args?: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** the user's program's name (program is `hotc exec`, which runs it) */
  title?: string;
}

/** "exited (status 3)", "crashed in value() (SIGSEGV) at main.c:12", "running". */
export function runText(r: RunState): string {
  if (r.state === 'running') return 'running';
  if (r.state === 'exited') {
    if (r.signalName || r.signal) return `killed by ${r.signalName ?? `signal ${r.signal}`}`;
    return r.status === undefined ? 'exited' : `exited (status ${r.status})`;
  }
  const fn = r.function ? ` in ${r.function}()` : '';
  const sig = r.signalName ? ` (${r.signalName})` : '';
  const at = r.file ? ` at ${basename(r.file)}${r.line ? `:${r.line}` : ''}` : '';
  return `crashed${fn}${sig}${at}`;
}

/** "Reloaded value() in 21 ms" for a `hotc/reloaded` whose programs applied it, else "". */
export function reloadedFlash(r: HotReloaded): string {
  const applied = r.programs.filter((p) => p.status === 'applied');
  if (!applied.length) return '';
  // from the save to the program's answer (the lens's figure); an older server's runtime part otherwise
  const t = formatUs(r.totalUs ?? applied[0].timings?.totalUs);
  const fns = r.functions.length > 2 ? `${r.functions.length} functions` : r.functions.map((f) => `${f}()`).join(', ');
  return `Reloaded ${fns}${t ? ` in ${t}` : ''}`;
}

export type ProgramStatus = 'applied' | 'refused' | 'error';

/** params of `hotc/reloaded` (one per file of a batch, before its `hotc/status`) */
export interface HotReloaded {
  uri: string;
  version: number;
  functions: string[];
  /** the counter of the `hotc/status` that follows (older servers: absent) */
  reloads?: number;
  /** from the save to the last program's answer, µs (older servers: absent) */
  totalUs?: number;
  programs: { pid: number; status: ProgramStatus; reason?: string; timings?: ProgramTimings }[];
}

export type Severity = 'ok' | 'warning' | 'error';

export interface StatusView {
  text: string;
  tooltip: string;
  severity: Severity;
}

const resultWords: Record<ResultKind, string> = {
  applied: 'applied',
  refused: 'refused',
  error: 'error',
  compileError: 'compile error',
  rolledBack: 'rolled back',
  nothing: 'nothing to reload',
  notApplied: 'not applied',
  waiting: 'waiting for hot_poll()',
};

const basename = (f: string) => f.replace(/^.*\//, '');

/** The files of a `last`: `files` when there are several, else `file`. */
export function lastFiles(l: LastResult): string[] {
  if (Array.isArray(l.files) && l.files.length) return l.files.map(basename);
  return l.file ? [basename(l.file)] : [];
}

/** "v4 applied", "rolled back to v2", "compile error": the status bar's words for a `last`. */
export function resultText(l: LastResult): string {
  const words = resultWords[l.result] ?? String(l.result);
  if (l.version === undefined) return words;
  if (l.result === 'applied') return `v${l.version} ${words}`;
  if (l.result === 'rolledBack') return `${words} to v${l.version}`;
  return words;
}

/** "1.8 ms" from microseconds; "" when unknown. */
export function formatUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '';
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

const timingNames: [keyof Timings, string][] = [
  ['analysisUs', 'analysis'],
  ['patchUs', 'patch'],
  ['compileUs', 'compile'],
  ['loadUs', 'load'],
  ['applyUs', 'apply'],
];

/** "took 2.4 ms (analysis 40 µs, compile 1.9 ms, ...)"; "" without timings. */
export function timingsText(t: Timings | undefined): string {
  if (!t) return '';
  const parts = timingNames.map(([k, name]) => [name, formatUs(t[k])]).filter(([, v]) => v);
  const total = formatUs(t.totalUs);
  if (!total && !parts.length) return '';
  const detail = parts.length ? ` (${parts.map(([n, v]) => `${n} ${v}`).join(', ')})` : '';
  return `took ${total || '?'}${detail}`;
}

/**
 * The status bar item for a `hotc/status`: the reload counter, then the last
 * result ("hotc 3× · v4 applied", "hotc 3× · rolled back to v2"), a spinner
 * while compiling.
 */
export function statusView(s: HotStatus): StatusView {
  const lines: string[] = [];
  let text = `hotc ${s.reloads}×`;
  let severity: Severity = 'ok';
  if (s.last) {
    const l = s.last;
    text += ` · ${resultText(l)}`;
    if (l.result === 'refused' || l.result === 'notApplied' || l.result === 'waiting') severity = 'warning';
    if (l.result === 'error' || l.result === 'compileError') severity = 'error';
    lines.push(`last: ${l.message}`);
    const files = lastFiles(l);
    if (files.length) lines.push(`file${files.length === 1 ? '' : 's'}: ${files.join(', ')}`);
    if (l.functions && l.functions.length) lines.push(`functions: ${l.functions.join(', ')}`);
    const took = timingsText(l.timings);
    if (took) lines.push(took);
  }
  if (s.compiling) lines.push('compiling…');
  lines.unshift(`hotc: ${s.reloads} reloads, ${s.programs} program${s.programs === 1 ? '' : 's'} attached`);
  const ended = s.run && s.run.state !== 'running' && s.programs === 0;
  if (ended && s.run) {
    // the program is gone: say so rather than "v1 applied"
    text = `hotc · ${runText(s.run)}`;
    severity = s.run.state === 'crashed' || (s.run.status ?? 0) !== 0 || !!s.run.signal ? 'error' : 'ok';
    lines.push(`program ${s.run.pid}: ${runText(s.run)}${s.run.message ? ` — ${s.run.message}` : ''}`);
    lines.push('click to restart');
  } else {
    lines.push('click for the reload log');
  }
  const icon = s.compiling
    ? '$(sync~spin)'
    : ended
      ? severity === 'error' ? '$(error)' : '$(debug-stop)'
      : severity !== 'ok'
        ? '$(warning)'
        : s.last?.result === 'rolledBack'
          ? '$(history)'
          : '$(flame)';
  return { text: `${icon} ${text}`, tooltip: lines.join('\n'), severity };
}

/** One line of the reload log for a `hotc/reloaded`: "reload 3: main.c v4 [value]: pid 12 applied in 1.8 ms". */
export function reloadedLine(r: HotReloaded): string {
  const file = basename(r.uri);
  const progs = r.programs.length
    ? r.programs
        .map((p) => {
          const t = formatUs(p.timings?.totalUs);
          return `pid ${p.pid} ${p.status}${p.reason ? ` (${p.reason})` : ''}${t ? ` in ${t}` : ''}`;
        })
        .join('; ')
    : 'no program attached';
  const n = typeof r.reloads === 'number' ? `reload ${r.reloads}: ` : '';
  return `${n}${file} v${r.version} [${r.functions.join(', ')}]: ${progs}`;
}

/**
 * One line of the reload log for the `last` of a `hotc/status`:
 * "main.c, util.c: v4 applied: ..." (every file of a save-all),
 * "rolled back to v2: rolled back 1 of 1 programs".
 */
export function lastLine(l: LastResult): string {
  const files = lastFiles(l);
  const where = files.length ? `${files.join(', ')}: ` : '';
  return `${where}${resultText(l)}: ${l.message}`;
}
