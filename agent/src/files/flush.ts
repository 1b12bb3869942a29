/**
 * Making staged files durable before a restore's commit point. The agent writes filedir blobs and
 * the staged dataroot with ordinary writes: they reach the disk when the kernel writes its cache
 * back, seconds later. The database switch after them is durable at once (PostgreSQL commits,
 * MariaDB/MySQL make their DDL durable). Without a flush in between, a power loss right after the
 * switch could leave a switched database whose new blobs are empty or missing on disk (ext4 with
 * delayed allocation keeps a new file's size at 0 until its data is written back).
 *
 * Node has no `syncfs(2)`; coreutils' `sync --file-system` (`sync -f`, coreutils ≥ 8.24, busybox
 * ≥ 1.31) makes that one call for each file system holding the given paths, which writes back
 * what the restore wrote in one pass instead of an `fsync` per file (one journal commit each: a
 * site with a million blobs would spend minutes on those). Where `sync -f` is refused, plain
 * `sync` flushes every file system.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How {@link flushFileSystems} made the files durable, and how long it took. */
export interface FlushResult {
  /** `sync -f` (the file systems of the paths) or `sync` (all of them). */
  how: 'sync -f' | 'sync';
  seconds: number;
}

/**
 * Writes back every cached write of the file systems holding `paths` (symbolic links followed),
 * and waits for the disk. Throws when neither `sync -f` nor `sync` could run.
 */
export async function flushFileSystems(paths: readonly string[]): Promise<FlushResult> {
  const started = performance.now();
  const seconds = (): number => (performance.now() - started) / 1000;
  try {
    await run('sync', ['-f', ...paths]);
    return { how: 'sync -f', seconds: seconds() };
  } catch (first) {
    try {
      await run('sync', []);
      return { how: 'sync', seconds: seconds() };
    } catch {
      throw first;
    }
  }
}
