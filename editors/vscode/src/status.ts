// The shapes of the server's hotc/* notifications (docs/protocol.md) and how
// the status bar and the reload log render them. No vscode API here, so that
// it reads as the contract it follows.

export interface Timings {
  analysisUs?: number;
  patchUs?: number;
  compileUs?: number;
  loadUs?: number;
  applyUs?: number;
  totalUs?: number;
}

export type ResultKind = 'applied' | 'refused' | 'error' | 'compileError';

export interface LastResult {
  result: ResultKind;
  version?: number;
  message: string;
  file?: string;
  functions?: string[];
  timings?: Timings;
}

/** params of `hotc/status` */
export interface HotStatus {
  reloads: number;
  programs: number;
  compiling: boolean;
  last?: LastResult;
}

/** params of `hotc/reloaded` */
export interface HotReloaded {
  uri: string;
  version: number;
  functions: string[];
  programs: { pid: number; status: string; reason?: string; timings?: Timings }[];
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
};

/** "1.8 ms" from microseconds; "" when unknown. */
export function formatUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '';
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

/**
 * The status bar item for a `hotc/status`: the reload counter, then the last
 * result ("hotc 3× · v4 applied"), a spinner while compiling.
 */
export function statusView(s: HotStatus): StatusView {
  const lines: string[] = [];
  let text = `hotc ${s.reloads}×`;
  let severity: Severity = 'ok';
  if (s.last) {
    const l = s.last;
    const v = l.version !== undefined && l.result === 'applied' ? `v${l.version} ` : '';
    text += ` · ${v}${resultWords[l.result] ?? l.result}`;
    if (l.result === 'refused') severity = 'warning';
    if (l.result === 'error' || l.result === 'compileError') severity = 'error';
    lines.push(`last: ${l.message}`);
    if (l.functions && l.functions.length) lines.push(`functions: ${l.functions.join(', ')}`);
    const total = formatUs(l.timings?.totalUs);
    if (total) lines.push(`took ${total}`);
  }
  lines.unshift(`hotc: ${s.reloads} reloads, ${s.programs} program${s.programs === 1 ? '' : 's'} attached`);
  lines.push('click for the reload log');
  const icon = s.compiling ? '$(sync~spin)' : severity === 'ok' ? '$(flame)' : '$(warning)';
  return { text: `${icon} ${text}`, tooltip: lines.join('\n'), severity };
}

/** One line of the reload log for a `hotc/reloaded`. */
export function reloadedLine(r: HotReloaded): string {
  const file = r.uri.replace(/^.*\//, '');
  const progs = r.programs.length
    ? r.programs
        .map((p) => {
          const t = formatUs(p.timings?.totalUs);
          return `pid ${p.pid} ${p.status}${p.reason ? ` (${p.reason})` : ''}${t ? ` in ${t}` : ''}`;
        })
        .join('; ')
    : 'no program attached';
  return `${file} v${r.version} [${r.functions.join(', ')}]: ${progs}`;
}

/** One line of the reload log for the `last` of a `hotc/status`. */
export function lastLine(l: LastResult): string {
  const where = l.file ? `${l.file.replace(/^.*\//, '')}: ` : '';
  const v = l.version !== undefined ? ` v${l.version}` : '';
  return `${where}${resultWords[l.result] ?? l.result}${v}: ${l.message}`;
}
