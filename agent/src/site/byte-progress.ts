/**
 * Progress of archive transfers: a cli-progress bar (archives, bytes, rate, ETA) on a terminal,
 * throttled timestamped log lines otherwise, nothing with --quiet. Several archives may be in
 * flight at once (a restore downloads the database and the files side by side).
 */
import cliProgress from 'cli-progress';
import type { Logger } from '../log/logger.js';

/** Receives transferred byte counts (negative to undo a failed attempt). */
export interface ByteProgress {
  /** Starts an archive. */
  archive(name: string): void;
  bytes(n: number): void;
  /** Marks archive `name` done. */
  done(name: string): void;
  /** Adds `n` bytes to the expected total (an archive that will be downloaded a second time). */
  expect(n: number): void;
  finish(): void;
}

const mib = (n: number): string => (n / 1048576).toFixed(1);

/**
 * Chooses the bar, the log lines or nothing. With `total` (bytes expected over the whole run)
 * the bar shows the run's percentage and ETA; without, it grows with the bytes seen.
 */
export function createByteProgress(label: string, opts: { quiet: boolean; logger: Logger; stream?: NodeJS.WriteStream; intervalMs?: number; total?: number }): ByteProgress {
  const stream = opts.stream ?? process.stderr;
  const started = Date.now();
  let bytes = 0;
  let archives = 0;
  const active: string[] = [];
  const rate = (): string => `${mib(bytes / Math.max(0.001, (Date.now() - started) / 1000))} MiB/s`;
  const start = (name: string): void => { active.push(name); };
  const end = (name: string): void => {
    const i = active.indexOf(name);
    if (i >= 0) active.splice(i, 1);
    archives++;
  };
  let total = opts.total ?? 0;
  if (opts.quiet) return { archive: () => undefined, bytes: () => undefined, done: () => undefined, expect: () => undefined, finish: () => undefined };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream, hideCursor: true, clearOnComplete: false, etaBuffer: 20,
      format: `${label} {bar} {percentage}% | {archives} archives | {done}/{size} MiB | {rate} | ETA {eta_formatted} | {name}`,
    }, cliProgress.Presets.shades_classic);
    let shown = false;
    const size = (): number => Math.max(1, total, bytes);
    const payload = () => ({ archives, done: mib(bytes), size: total ? mib(Math.max(total, bytes)) : '?', rate: rate(), name: active.join(', ') });
    const draw = (): void => {
      if (!shown) { bar.start(size(), bytes, payload()); shown = true; return; }
      bar.setTotal(size());
      bar.update(bytes, payload());
    };
    return {
      archive(name) { start(name); draw(); },
      bytes(n) { bytes += n; if (shown) draw(); },
      done(name) { end(name); if (shown) draw(); },
      expect(n) { total += n; if (shown) draw(); },
      finish() { if (shown) bar.stop(); },
    };
  }
  const every = opts.intervalMs ?? 15_000;
  let last = 0;
  const of = (): string => (total ? ` of ${mib(Math.max(total, bytes))}` : '');
  return {
    archive: start,
    bytes(n) {
      bytes += n;
      if (Date.now() - last >= every) { last = Date.now(); opts.logger.info(`${label}: ${mib(bytes)}${of()} MiB, ${archives} archive(s) done, ${rate()}, now ${active.join(', ')}`); }
    },
    done: end,
    expect(n) { total += n; },
    finish() { opts.logger.info(`${label}: ${mib(bytes)} MiB in ${archives} archive(s), ${rate()}`); },
  };
}
