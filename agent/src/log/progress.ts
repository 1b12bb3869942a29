/**
 * Progress of a table transfer: a cli-progress bar on a terminal, throttled timestamped log
 * lines otherwise (CI logs, cron, pipes).
 */
import cliProgress from 'cli-progress';
import type { Logger } from './logger.js';
import { createLogger } from './logger.js';

/** A progress snapshot of a dump or load. */
export interface TransferProgress {
  /** Table being processed (without prefix). */
  table?: string;
  tablesDone: number;
  tablesTotal: number;
  rows: number;
  /** Uncompressed chunk bytes so far. */
  bytes: number;
  /** Total uncompressed bytes when known (load), else undefined. */
  bytesTotal?: number;
}

/** Receives progress snapshots; `finish` prints the final state. */
export interface ProgressReporter {
  update(p: TransferProgress): void;
  finish(): void;
}

const mib = (n: number): string => (n / 1048576).toFixed(1);

/** Chooses the bar or the log form from whether `stream` is a TTY. */
export function createProgressReporter(label: string, opts: { stream?: NodeJS.WriteStream; logger?: Logger; intervalMs?: number } = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  let last: TransferProgress | undefined;
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: `${label} {bar} {value}/{total} tables | {rows} rows | {mib} MiB | {table}`, hideCursor: true, clearOnComplete: false, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(p) {
        last = p;
        const payload = { rows: p.rows, mib: mib(p.bytes), table: p.table ?? '' };
        if (!started) {
          bar.start(p.tablesTotal, p.tablesDone, payload);
          started = true;
        } else {
          bar.setTotal(p.tablesTotal);
          bar.update(p.tablesDone, payload);
        }
      },
      finish() {
        if (started) bar.stop();
      },
    };
  }
  const logger = opts.logger ?? createLogger(stream);
  const every = opts.intervalMs ?? 5000;
  let lastAt = 0;
  const print = (p: TransferProgress): void => {
    const total = p.bytesTotal ? ` of ${mib(p.bytesTotal)}` : '';
    logger.info(`${label}: ${p.tablesDone}/${p.tablesTotal} tables, ${p.rows} rows, ${mib(p.bytes)}${total} MiB${p.table ? `, at ${p.table}` : ''}`);
  };
  return {
    update(p) {
      last = p;
      const now = Date.now();
      if (now - lastAt >= every) {
        lastAt = now;
        print(p);
      }
    },
    finish() {
      if (last) print({ ...last, table: undefined });
    },
  };
}
