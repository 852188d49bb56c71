// What every command's output shares: exit codes, colour (on a terminal, honouring NO_COLOR), aligned
// tables with units, plurals, --json printing, confirmation prompts and a progress ticker for long
// statements. Commands print through these so that they look and behave alike.
//
// Exit codes (docs/cli.md): 0 done; 1 an error, or a check that finds problems (lint, docs --check);
// 2 refused or blocked (a refused restore, a blocked plan, a dry run with conflicts, a declined
// confirmation).
import { createInterface } from 'node:readline/promises';
import { UserError } from './errors.ts';

export const EXIT = { done: 0, error: 1, refused: 2 } as const;

/** Refused or blocked: printed as one line like a UserError, exit code 2. */
export class RefusedError extends UserError {}

/** Colour: only on a terminal, with NO_COLOR unset or empty (https://no-color.org) and TERM not dumb. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

const paint = (open: number, close: number) => (text: string, stream: NodeJS.WriteStream = process.stdout) =>
  colorEnabled(stream) ? `\x1b[${open}m${text}\x1b[${close}m` : text;

export const style = {
  bold: paint(1, 22),
  dim: paint(2, 22),
  red: paint(31, 39),
  green: paint(32, 39),
  yellow: paint(33, 39),
  cyan: paint(36, 39),
};

/** The visible width of a string (ANSI colour codes do not count). */
export const visibleWidth = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;

/** 120049 as "120,049". */
export const formatCount = (n: number | string | bigint) => Number(n).toLocaleString('en-US');

/** "1 row", "2 rows", "120,049 rows"; `many` defaults to `one` + "s". */
export function plural(n: number | string | bigint, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${Number(n) === 1 ? one : many}`;
}

/** Seconds from milliseconds, to the millisecond (durations in --json are seconds). */
export const seconds = (ms: number) => Math.round(ms) / 1000;

/** A duration for people: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
export function humanDuration(totalSeconds: number): string {
  const s = Math.max(0, totalSeconds);
  if (s < 10) return `${Math.round(s * 10) / 10} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export interface Column {
  /** The header, with its unit when it has one: "rows", "age (s)". */
  header: string;
  /** Numbers are right-aligned. */
  align?: 'left' | 'right';
}

/**
 * An aligned text table: a header, a rule, one line per row; columns separated by two spaces; cells
 * may hold colour codes. Borderless so that it reads well and greps well (a line is a row).
 */
export function table(columns: (Column | string)[], rows: (string | number | null | undefined)[][]): string {
  const cols = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const cells = rows.map((r) => cols.map((_, i) => (r[i] === null || r[i] === undefined ? '' : typeof r[i] === 'number' ? formatCount(r[i] as number) : String(r[i]))));
  const widths = cols.map((c, i) => Math.max(visibleWidth(c.header), ...cells.map((r) => visibleWidth(r[i]))));
  const pad = (text: string, i: number) => {
    const fill = ' '.repeat(widths[i] - visibleWidth(text));
    return cols[i].align === 'right' ? fill + text : text + fill;
  };
  const line = (r: string[]) => r.map(pad).join('  ').trimEnd();
  return [
    style.bold(line(cols.map((c) => c.header))),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map(line),
  ].join('\n');
}

/** Prints a command's --json answer: one JSON document, two-space indented. */
export function printJson(value: unknown) {
  console.log(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2));
}

/** A primary key for people: {"customer_id":5} or [{"customer_id":5}] as customer_id=5; other JSON as it is. */
export function readableKey(key: unknown): string {
  const one = Array.isArray(key) && key.length === 1 ? key[0] : key;
  if (one && typeof one === 'object' && !Array.isArray(one)) {
    return Object.entries(one as Record<string, unknown>).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
  }
  if (Array.isArray(one)) return one.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  return typeof one === 'string' ? one : JSON.stringify(one);
}

/** Whether a person is at the terminal: stdin and stdout are both terminals. */
export const interactive = () => Boolean(process.stdin.isTTY && process.stdout.isTTY);

/** Asks a yes/no question on the terminal; anything but y or yes is no. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Runs `work` (one long statement) and, on a terminal, keeps one line on stderr up to date with the
 * time it has taken ("restoring 120,061 rows ... 12 s"); off a terminal it prints nothing.
 */
export async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work;
  const started = Date.now();
  const draw = () => process.stderr.write(`\r\x1b[2K${label} ... ${humanDuration((Date.now() - started) / 1000)}`);
  const timer = setInterval(draw, 250);
  draw();
  try {
    return await work;
  } finally {
    clearInterval(timer);
    process.stderr.write('\r\x1b[2K');
  }
}

/** On a closed pipe (`deletion-kit lint | head`), leave quietly with the exit code so far. */
export function exitQuietlyOnClosedPipe() {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}

/** Adds --json to a command (every command has it; docs/cli.md has each command's shape). */
export function jsonOption<T extends { option: (flags: string, description: string) => T }>(command: T): T {
  return command.option('--json', 'print the result as one JSON document (docs/cli.md)');
}

/**
 * Whether a destructive command may go on with `rows` rows: always off a terminal or with --yes, and
 * at or below the threshold (--confirm-above, else the config's confirmAbove, 1000 by default);
 * otherwise the person at the terminal is asked.
 */
export async function mayProceed(rows: number, what: string, opts: { yes?: boolean; threshold: number }): Promise<boolean> {
  if (opts.yes || rows <= opts.threshold || !interactive()) return true;
  return confirm(`${what}: ${plural(rows, 'row')} (more than ${formatCount(opts.threshold)}). Go on?`);
}

/** The option that sets the threshold above which a destructive command asks first. */
export function confirmOptions<T extends { option: (flags: string, description: string) => T }>(command: T): T {
  return command
    .option('--dry-run', 'show what would be removed, change nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--confirm-above <rows>', 'on a terminal, ask before removing more rows than this (default: the config\'s confirmAbove, else 1000)');
}

/** --confirm-above, else the config's confirmAbove. */
export function confirmThreshold(value: string | undefined, fromConfig: number): number {
  if (value === undefined) return fromConfig;
  if (!/^\d+$/.test(value)) throw new UserError(`--confirm-above takes a whole number of rows, not "${value}"`);
  return Number(value);
}
