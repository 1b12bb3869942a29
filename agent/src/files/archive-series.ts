/**
 * Turns an item stream into a series of archives (`<type>.zip`, `<type>-1.zip`, …) and hands each
 * archive's byte stream to an uploader while it is being written. An archive is closed once its
 * uncompressed size exceeds `splitSize`, but only between items of different keys (a dataroot
 * top-level entry never spans two archives).
 */
import type { Readable } from 'node:stream';
import { ZipStream } from './zip-stream.js';
import type { ArchiveItem } from './sources.js';

/** Archive name for a type and sequence (format §1.1). */
export function seqName(type: string, seq: number): string {
  return seq === 0 ? `${type}.zip` : `${type}-${seq}.zip`;
}

/** What the series reports for each finished archive. */
export interface SeriesArchive<R> {
  name: string;
  seq: number;
  origsize: number;
  entries: number;
  /** Key of the last item in this archive (resume cursor). */
  lastKey: string;
  result: R;
}

/** Options of a series. */
export interface SeriesOptions<R> {
  type: string;
  /** First sequence number (> 0 when resuming). */
  startSeq: number;
  splitSize: number;
  compressionLevel: number;
  /** Uploads one archive; must consume `bytes` fully. `lastKey` is final once `bytes` has ended. */
  upload: (name: string, bytes: Readable, origsize: () => number, lastKey: () => string) => Promise<R>;
  /** Called when an archive has been uploaded (persist resume state here). */
  onArchive?: (a: SeriesArchive<R>) => Promise<void> | void;
}

/** Builds and uploads the archives of one type; returns them in order. */
export async function writeArchiveSeries<R>(items: AsyncIterable<ArchiveItem>, opts: SeriesOptions<R>): Promise<SeriesArchive<R>[]> {
  const done: SeriesArchive<R>[] = [];
  let seq = opts.startSeq;
  let zip: ZipStream | null = null;
  let uploading: Promise<R> | null = null;
  let failed: Promise<never> | null = null;
  let lastKey = '';

  const finish = async (): Promise<void> => {
    if (!zip || !uploading) return;
    const z: ZipStream = zip;
    z.end();
    const result = await uploading;
    const a: SeriesArchive<R> = { name: seqName(opts.type, seq), seq, origsize: z.origsize, entries: z.entries, lastKey, result };
    done.push(a);
    await opts.onArchive?.(a);
    seq++;
    zip = null;
    uploading = null;
  };

  for await (const item of items) {
    if (zip && item.key !== lastKey && (zip as ZipStream).origsize > opts.splitSize) await finish();
    if (!zip) {
      const z = new ZipStream(opts.compressionLevel);
      zip = z;
      uploading = opts.upload(seqName(opts.type, seq), z.output, () => z.origsize, () => lastKey);
      // If the upload fails, stop feeding entries instead of waiting on a stalled stream.
      failed = uploading.then(() => new Promise<never>(() => undefined));
      failed.catch(() => undefined);
    }
    await Promise.race([(zip as ZipStream).addFile(item.entry, item.path, item.size, item.compress), failed]);
    lastKey = item.key;
  }
  await finish();
  return done;
}
