/**
 * V8 heap tuning for a database load (process-wide: the agent runs one command per process).
 *
 * A load pushes every byte of the database through short-lived Buffers (inflated chunk data,
 * COPY writes and INSERT packets waiting for the socket). Those that outlive two scavenges are
 * freed only by a full collection, and V8's dynamic heap growing factor (up to 4× the live size
 * for a small, fast heap) let ~25–35 MB of such dead buffers pile up between full collections.
 * A fixed 1.5× factor (`--heap-growing-percent=50`) starts the next full collection sooner.
 * Measured on the scale-S load (agent/test/bench/scale-s.ts): dead ArrayBuffer memory peaked at
 * ~15 MB instead of ~30 MB and peak RSS fell by ~10 MB, with 7–8 full collections instead of 4
 * (+30–40 ms of GC pauses; CPU time within run-to-run noise). Not used by dump, where it cost
 * ~15 % CPU for no RSS gain. The flag is read at every collection, so setting it at run time works.
 */
import { setFlagsFromString } from 'node:v8';

let tuned = false;

/** Makes V8 collect the old generation at 1.5× its live size instead of up to 4×. */
export function tuneHeapForLoad(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString('--heap-growing-percent=50');
}
