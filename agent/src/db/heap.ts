/**
 * V8 heap tuning for a database load or dump (process-wide: the agent runs one command per
 * process).
 *
 * Both push every byte of the database through short-lived strings and Buffers (rows, chunk
 * data, COPY writes and INSERT packets, zip output). Those that outlive two scavenges are freed
 * only by a full collection, and V8's dynamic heap growing factor (up to 4× the live size for a
 * small, fast heap) let tens of MB of such dead objects pile up between full collections, more
 * the longer the run. A fixed 1.5× factor (`--heap-growing-percent=50`) starts the next full
 * collection sooner. The flag is read at every collection, so setting it at run time works.
 *
 * Measured (bundled agent, agent/test/bench/scale-s.ts, peak RSS of the process):
 * - load, scale S: dead ArrayBuffer memory peaked at ~15 MB instead of ~30 MB and peak RSS fell
 *   by ~10 MB, with 7–8 full collections instead of 4 (+30–40 ms of GC pauses; CPU time within
 *   run-to-run noise);
 * - dump, scale M (2.4 M rows): PostgreSQL 184.5 → 154.1 MiB, MariaDB 178.8 → 155.3 MiB, CPU
 *   31.6 → 32.1 s and 33.5 → 30.9 s (within noise).
 */
import { setFlagsFromString } from 'node:v8';

let tuned = false;

/** Makes V8 collect the old generation at 1.5× its live size instead of up to 4×. */
export function tuneHeapForStreaming(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString('--heap-growing-percent=50');
}
