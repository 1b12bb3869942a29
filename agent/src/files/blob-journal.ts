/**
 * Write-ahead journal of the blobs a restore adds to filedir. filedir is content-addressed, so
 * new blobs are extracted in place (the old site never looks them up); each hash is appended
 * here before its `.vaultpart` is written, so a rollback deletes exactly the blobs the restore
 * added, finished or partial, and nothing the old site had.
 */
import { appendFile, readFile, rm, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { partialPath } from './extract.js';
import { blobPath } from './sources.js';

/** The journal file of one restore. */
export class BlobJournal {
  constructor(readonly path: string) {}

  /** Records `hash` before the blob is written. */
  async add(hash: string): Promise<void> {
    await appendFile(this.path, `${hash}\n`, { mode: 0o600 });
  }

  /** Hashes recorded so far. */
  async hashes(): Promise<Set<string>> {
    const text = await readFile(this.path, 'utf8').catch(() => '');
    return new Set(text.split('\n').filter((h) => /^[0-9a-f]{40}$/.test(h)));
  }

  /**
   * Deletes every recorded blob (and partial write) from `filedir`, then the journal; `keep` are
   * hashes the live site references now (it stays in use while the restore stages, and may have
   * stored the same content meanwhile), asked for only when the journal records any (on a large
   * site it is a query over every file). Returns blobs deleted.
   */
  async rollback(filedir: string, keep: ReadonlySet<string> | (() => Promise<ReadonlySet<string>>) = new Set()): Promise<number> {
    const recorded = await this.hashes();
    if (!recorded.size) {
      await this.remove();
      return 0;
    }
    const kept = typeof keep === 'function' ? await keep() : keep;
    let n = 0;
    for (const h of recorded) {
      const p = blobPath(filedir, h);
      await rm(partialPath(p), { force: true });
      if (kept.has(h)) continue;
      try {
        await rm(p);
        n++;
      } catch {
        // Never written: the journal line comes first.
      }
      // The two hash-prefix folders, when the restore created them for this blob alone.
      await rmdir(dirname(p)).then(() => rmdir(dirname(dirname(p)))).catch(() => undefined);
    }
    await this.remove();
    return n;
  }

  /** Deletes the journal (the restore no longer needs to undo its blobs). */
  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
