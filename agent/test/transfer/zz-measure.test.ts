import { createCipheriv, createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { downloadArchive } from '../../src/transfer/download.js';
import { deriveSseCKey } from '../../src/transfer/sse-c.js';
import { DiskMeter, uploadArchive } from '../../src/transfer/upload.js';
import { newBucket, presignApi, rgwClient } from './s3-stand-in.js';
it('measure', async () => {
  const MiB = 1 << 20;
  for (const [size, part, conc] of [[512 * MiB, 64 * MiB, 4], [512 * MiB, 16 * MiB, 4], [512 * MiB, 64 * MiB, 1]] as const) {
    const s3 = rgwClient(); const b = await newBucket(s3); const api = presignApi(s3, b, true);
    const key = deriveSseCKey('m'); const policy = { allowHosts: [new URL(await api.presignGet('x')).host] };
    const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update('s').digest(), Buffer.alloc(16));
    async function* src() { for (let n = 0; n < size; n += MiB) yield cipher.update(Buffer.alloc(MiB)); }
    const disk = new DiskMeter(); const tmp = await mkdtemp(join(tmpdir(), 'm-'));
    let t = performance.now();
    const r = await uploadArchive(src(), { api, backupkey: 'B', filename: 'f.zip', key, policy, partSize: part, concurrency: conc, tmpDir: tmp, origsize: () => size, disk });
    const up = (performance.now() - t) / 1000;
    t = performance.now();
    await downloadArchive('f.zip', { url: await api.presignGet('f.zip'), encrypted: true }, join(tmp, 'd'), { key, policy, expectedSha256: r.sha256 });
    const down = (performance.now() - t) / 1000;
    console.log(`[measure] ${size / MiB} MiB, part ${part / MiB} MiB x${conc}: upload ${(size / MiB / up).toFixed(0)} MB/s, download+verify ${(size / MiB / down).toFixed(0)} MB/s, temp peak ${(disk.peak / MiB).toFixed(0)} MiB, rss ${(process.memoryUsage().rss / MiB).toFixed(0)} MiB`);
  }
}, 600_000);
