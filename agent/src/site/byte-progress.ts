/**
 * Progress of archive transfers: a cli-progress bar (archives, bytes, rate, ETA) on a terminal,
 * throttled timestamped log lines otherwise, nothing with --quiet.
 */
import cliProgress from 'cli-progress';
import type { Logger } from '../log/logger.js';

/** Receives transferred byte counts (negative to undo a failed attempt). */
export interface ByteProgress {
  /** Starts an archive; `total` is its expected size when known (downloads). */
  archive(name: string, total?: number): void;
  bytes(n: number): void;
  /** Marks the current archive done. */
  done(): void;
  finish(): void;
}

const mib = (n: number): string => (n / 1048576).toFixed(1);

/** Chooses the bar, the log lines or nothing. */
export function createByteProgress(label: string, opts: { quiet: boolean; logger: Logger; stream?: NodeJS.WriteStream; intervalMs?: number }): ByteProgress {
  const stream = opts.stream ?? process.stderr;
  const started = Date.now();
  let total = 0;
  let archives = 0;
  let current = '';
  const rate = (): string => `${mib(total / Math.max(0.001, (Date.now() - started) / 1000))} MiB/s`;
  if (opts.quiet) return { archive: () => undefined, bytes: () => undefined, done: () => undefined, finish: () => undefined };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream, hideCursor: true, clearOnComplete: false, etaBuffer: 20,
      format: `${label} {bar} {percentage}% | {archives} archives | {done}/{size} MiB | {rate} | ETA {eta_formatted} | {name}`,
    }, cliProgress.Presets.shades_classic);
    let archiveTotal = 0;
    let archiveDone = 0;
    let shown = false;
    const payload = () => ({ archives, done: mib(archiveDone), size: archiveTotal ? mib(archiveTotal) : '?', rate: rate(), name: current });
    return {
      archive(name, t) {
        current = name; archiveDone = 0; archiveTotal = t ?? 0;
        if (!shown) { bar.start(Math.max(1, archiveTotal), 0, payload()); shown = true; } else { bar.setTotal(Math.max(1, archiveTotal)); bar.update(0, payload()); }
      },
      bytes(n) { total += n; archiveDone += n; if (shown) { if (!archiveTotal) bar.setTotal(Math.max(1, archiveDone)); bar.update(archiveDone, payload()); } },
      done() { archives++; if (shown) bar.update(archiveDone, payload()); },
      finish() { if (shown) bar.stop(); },
    };
  }
  const every = opts.intervalMs ?? 15_000;
  let last = 0;
  return {
    archive(name) { current = name; },
    bytes(n) {
      total += n;
      if (Date.now() - last >= every) { last = Date.now(); opts.logger.info(`${label}: ${mib(total)} MiB, ${archives} archive(s) done, ${rate()}, now ${current}`); }
    },
    done() { archives++; },
    finish() { opts.logger.info(`${label}: ${mib(total)} MiB in ${archives} archive(s), ${rate()}`); },
  };
}
