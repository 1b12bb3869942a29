/**
 * The restore's ArchiveFetcher and the hashes of dbstructure's manifest: a dbdump downloaded ahead
 * of the manifest (without a hash from the backup record) is checked once the manifest's hash
 * arrives, also when it arrives mid-download; other archives without a recorded hash are not hashed.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentContext } from '../../src/site/context.js';
import { ArchiveFetcher } from '../../src/site/restore.js';
import { IntegrityError } from '../../src/transfer/errors.js';

const body = Buffer.alloc(300_000, 7);
const sha = createHash('sha256').update(body).digest('hex');
const wrong = '0'.repeat(64);

let server: http.Server | null = null;
afterEach(async () => {
  const s = server;
  server = null;
  if (s) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
});

/** A storage stand-in answering every GET with `body`, after `delayMs`. */
async function serve(delayMs = 0): Promise<string> {
  const s = http.createServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'Content-Length': String(body.length) });
      res.end(body);
    }, delayMs);
  });
  server = s;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/bucket/`;
}

/** A fetcher over a stand-in API whose download URLs point at `base`; `warnings` collects what it warns. */
function fetcher(base: string, warnings: string[], hashes = new Map<string, string>()): ArchiveFetcher {
  const ctx = {
    api: { downloadUrl: (_restorekey: string, name: string) => Promise.resolve({ downloadurl: `${base}${name}?X-Amz-Signature=x`, encrypted: false }) },
    storage: { key: null, policy: { allowHosts: [] }, retry: { attempts: 2, baseDelayMs: 10 } },
    logger: { info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined },
    quiet: true,
  } as unknown as AgentContext;
  return new ArchiveFetcher(ctx, 'restore1', null, hashes);
}

describe('archive hashes from dbstructure\'s manifest', () => {
  it('checks a dbdump downloaded ahead of the manifest once its hash arrives', async () => {
    const base = await serve();
    const dir = await mkdtemp(join(tmpdir(), 'va-fetcher-'));
    const ok: string[] = [];
    const f = fetcher(base, ok);
    expect(await f.fetch('dbdump.zip', join(dir, 'a.zip'))).toMatchObject({ sha256: sha, verified: false });
    f.addManifestHashes([{ name: 'dbdump.zip', sha256: sha }]);
    expect(ok).toEqual([]);

    const bad = fetcher(base, []);
    await bad.fetch('dbdump.zip', join(dir, 'b.zip'));
    expect(() => bad.addManifestHashes([{ name: 'dbdump.zip', sha256: wrong }])).toThrow(IntegrityError);
  });

  it('checks a dbdump against a manifest hash that arrives while it downloads, and removes it on a mismatch', async () => {
    const base = await serve(300);
    const dir = await mkdtemp(join(tmpdir(), 'va-fetcher-'));
    const f = fetcher(base, []);
    const download = f.fetch('dbdump.zip', join(dir, 'c.zip'));
    await new Promise((r) => setTimeout(r, 50));
    f.addManifestHashes([{ name: 'dbdump.zip', sha256: wrong }]);
    await expect(download).rejects.toBeInstanceOf(IntegrityError);
    expect(existsSync(join(dir, 'c.zip'))).toBe(false);
  });

  it('does not hash other archives without a recorded hash, and says once that the backup has none', async () => {
    const base = await serve();
    const dir = await mkdtemp(join(tmpdir(), 'va-fetcher-'));
    const warnings: string[] = [];
    const f = fetcher(base, warnings);
    const files = await f.fetch('filedir.zip', join(dir, 'd.zip'));
    expect(files.sha256).toBeUndefined();
    await f.fetch('dbdump.zip', join(dir, 'e.zip'));
    expect(warnings).toHaveLength(1);
    // A manifest without the dbdump (the plugin's backups have none): no second warning, no error.
    f.addManifestHashes([]);
    expect(warnings).toHaveLength(1);
    // A recorded hash is checked as before.
    const recorded = fetcher(base, [], new Map([['filedir.zip', wrong]]));
    await expect(recorded.fetch('filedir.zip', join(dir, 'f.zip'))).rejects.toBeInstanceOf(IntegrityError);
  });
});
