/**
 * Measures `vault-agent dump` and `load` of the large table (logstore_standard_log, 200k rows
 * by default) on PostgreSQL and MariaDB: wall time and peak RSS from GNU time. The CLI is
 * bundled with esbuild first, because the tsx development loader alone costs ~110 MB RSS.
 * Run: `npx tsx agent/test/bench/large-table.ts [rows]` (starts its own database servers).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startMariaDb, startPostgres } from '../../../scripts/services/index.js';
import { ZipArchiveReader } from '../../src/archive/zip-reader.js';
import { buildAgent } from '../../scripts/build.js';
import { createMoodleDatabase } from '../support/moodle-fixture.js';
import { SCHEMA_DIR } from '../support/schema-dir.js';
import { tableHashes } from '../support/table-hashes.js';

const run = promisify(execFile);
// the agent as a user runs it (npm run build -w agent), kept apart from agent/dist
const BUNDLE = await buildAgent(fileURLToPath(new URL('../../node_modules/.cache/vault-agent-bench/cli.mjs', import.meta.url)));
const ROWS = Number(process.argv[2] ?? 200_000);

async function timed(args: string[]): Promise<{ seconds: number; rssMb: number }> {
  const { stderr } = await run('/usr/bin/time', ['-v', process.execPath, ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), BUNDLE, ...args], { maxBuffer: 64 << 20 });
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  return { seconds, rssMb: rss ? Math.round(Number(rss[1]) / 1024) : NaN };
}

async function db(engine: 'pg' | 'mariadb', base: string, name: string): Promise<string> {
  if (engine === 'pg') {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}"`);
    await c.query(`CREATE DATABASE "${name}"`);
    await c.end();
  } else {
    const c = await mysql.createConnection(base.replace(/^mariadb:/, 'mysql:'));
    await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    await c.end();
  }
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

const [pgs, mdb] = await Promise.all([startPostgres(), startMariaDb()]);
try {
  for (const [engine, base] of [['pg', pgs.url], ['mariadb', mdb.url]] as const) {
    const src = await db(engine, base, 'va_bench_src');
    await createMoodleDatabase(src, { schemaDir: SCHEMA_DIR, onlyTables: ['logstore_standard_log'], largeTableRows: ROWS });
    const dir = await mkdtemp(join(tmpdir(), 'va-bench-'));
    const dump = await timed(['dump', '--db', src, '--out', dir]);
    // How much data went through (zip files, and chunk JSON uncompressed), to judge RSS against.
    const files = (await readdir(dir)).filter((n) => n.startsWith('dbdump'));
    let zipMb = 0;
    let jsonMb = 0;
    for (const n of files) {
      zipMb += (await stat(join(dir, n))).size / 2 ** 20;
      const zip = await ZipArchiveReader.open(join(dir, n));
      jsonMb += zip.names().reduce((s, e) => s + zip.sizeOf(e), 0) / 2 ** 20;
      zip.close();
    }
    const dst = await db(engine, base, 'va_bench_dst');
    const load = await timed(['load', '--db', dst, '--in', dir]);
    const [a, b] = await Promise.all([tableHashes(src), tableHashes(dst)]);
    const ok = JSON.stringify([...a]) === JSON.stringify([...b]);
    process.stdout.write(`${engine}: ${ROWS} rows (dbdump ${zipMb.toFixed(0)} MB zip, ${jsonMb.toFixed(0)} MB JSON)  dump ${dump.seconds.toFixed(1)} s, peak RSS ${dump.rssMb} MB | load ${load.seconds.toFixed(1)} s, peak RSS ${load.rssMb} MB | identical ${ok}\n`);
    await rm(dir, { recursive: true, force: true });
  }
} finally {
  await Promise.allSettled([pgs.stop(), mdb.stop()]);
}
