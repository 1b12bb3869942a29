/**
 * V8 heap tuning for the agent's streaming work (process-wide: the agent runs one command per
 * process). The built agent applies it before any other module is evaluated
 * (agent/scripts/build.ts); a load or dump applies it too when used as a library.
 *
 * Every command of the agent pushes bytes through short-lived strings and Buffers (rows, chunk
 * data, COPY writes and INSERT packets, zip output, download segments). Two V8 defaults made
 * that cost far more memory than the live data (~25–30 MB of heap):
 *
 * - Old generation: objects that outlive two scavenges are freed only by a full collection, and
 *   V8's dynamic heap growing factor (up to 4× the live size for a small, fast heap) let tens of
 *   MB of dead objects, and the dead Buffers' C memory with them, pile up between full
 *   collections. A fixed 1.5× factor (`--heap-growing-percent=50`) starts the next full
 *   collection sooner. Set before the first full collection (at startup), it also bounds the
 *   first one, which otherwise came only once the heap had reached ~56 MB.
 * - Young generation: V8 grows each of its two semi-spaces from 1 MiB to 16 MiB when much
 *   survives scavenges (it does while a table or archive streams), 32 MiB of memory that stays
 *   resident although a scavenge leaves ~1 MiB in it. `--max-semi-space-size` cannot be changed
 *   once the heap exists, but the growth factor is read at every growth:
 *   `--semi-space-growth-factor=1` keeps the semi-spaces at their initial 1 MiB.
 *
 * Both flags are read at run time, so setting them from the program works.
 *
 * Measured (bundled agent, peak RSS of the process; agent/test/bench/scale-s.ts and
 * scale-site.ts at scale S):
 * - heap growing factor, load at scale S: dead ArrayBuffer memory peaked at ~15 MB instead of
 *   ~30 MB, peak RSS −10 MB; dump at scale M: PostgreSQL 184.5 → 154.1 MiB, MariaDB 178.8 →
 *   155.3 MiB, CPU within noise. Set at startup instead of when the load began, the first full
 *   collection of a restore came at ~30 MB of heap instead of ~56 MB;
 * - semi-spaces kept at 1 MiB: whole-site backup and restore −20 to −35 MiB (with the factor at
 *   startup); a restore makes ~1400 scavenges instead of ~150, CPU +5–10 % (wall within noise).
 */
import { setFlagsFromString } from 'node:v8';

let tuned = false;

/**
 * Makes V8 collect the old generation at 1.5× its live size instead of up to 4×, and keeps the
 * young generation at its initial size. Idempotent.
 */
export function tuneHeapForStreaming(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString('--heap-growing-percent=50');
  setFlagsFromString('--semi-space-growth-factor=1');
}
