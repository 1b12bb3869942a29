/**
 * A whole Moodle site for end-to-end tests: a config.php (read by the agent, never run), a
 * database from the DB fixture, a filedir of real blobs referenced by the `files` table and a
 * dataroot with included and excluded folders.
 */
import { createHash, createCipheriv } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectDatabase } from '../../src/db/connect.js';
import { blobPath } from '../../src/files/sources.js';

/** A site on disk and in a database. */
export interface TestSite {
  root: string;
  configPath: string;
  dataroot: string;
  dbUrl: string;
  blobs: string[];
}

/** Options of {@link makeSite}. */
export interface MakeSiteOptions {
  /** Folder to put config.php and the dataroot in (default: a new temp folder). */
  root?: string;
  /** Name of the dataroot folder inside `root` (default `moodledata`). */
  datarootName?: string;
  /** Extra `$CFG->dboptions` entries, e.g. `{ dbcollation: 'utf8mb4_unicode_ci' }`. */
  dboptions?: Record<string, string>;
}

/** Writes config.php for `dbUrl` (postgres:// or mysql://) and creates the dataroot. */
export async function makeSite(dbUrl: string, wwwroot: string, opts: MakeSiteOptions = {}): Promise<TestSite> {
  const root = opts.root ?? await mkdtemp(join(tmpdir(), 'site-'));
  const dataroot = join(root, opts.datarootName ?? 'moodledata');
  await mkdir(join(dataroot, 'filedir'), { recursive: true });
  const u = new URL(dbUrl);
  const pg = u.protocol.startsWith('postgres');
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const extraDboptions = Object.entries(opts.dboptions ?? {}).map(([k, v]) => `  ${q(k)} => ${q(v)},\n`).join('');
  const configPath = join(root, 'config.php');
  await writeFile(configPath, `<?php  // Moodle configuration file
unset($CFG);
global $CFG;
$CFG = new stdClass();
$CFG->dbtype    = ${q(pg ? 'pgsql' : 'mariadb')};
$CFG->dblibrary = 'native';
$CFG->dbhost    = ${q(u.hostname)};
$CFG->dbname    = ${q(decodeURIComponent(u.pathname.slice(1)))};
$CFG->dbuser    = ${q(decodeURIComponent(u.username))};
$CFG->dbpass    = ${q(decodeURIComponent(u.password))};
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => ${u.port || (pg ? 5432 : 3306)},
  'dbsocket' => '',
${extraDboptions});
$CFG->wwwroot   = ${q(wwwroot)};
$CFG->dataroot  = ${q(dataroot)};
$CFG->admin     = 'admin';
$CFG->directorypermissions = 0777;
require_once(__DIR__ . '/lib/setup.php');
`);
  return { root, configPath, dataroot, dbUrl, blobs: [] };
}

/** Deterministic pseudo-random bytes (incompressible). */
export function noise(seed: string, size: number): Buffer {
  return createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(Buffer.alloc(size));
}

/**
 * Replaces the `files` rows by rows that reference real blobs written into the filedir
 * (each blob referenced twice, to exercise distinct hashes).
 */
export async function plantFiles(site: TestSite, files: { name: string; data: Buffer }[]): Promise<void> {
  const db = await connectDatabase(site.dbUrl, 'mdl_');
  try {
    const t = (await db.introspect()).find((x) => x.name === 'files');
    if (!t) throw new Error('no files table');
    const cols = t.fields.map((f) => f.name);
    const q = (s: string) => (db.family === 'postgres' ? `"${s}"` : `\`${s}\``);
    const template = (await db.query<Record<string, unknown>>(`SELECT * FROM mdl_files ORDER BY id LIMIT 1`))[0];
    if (!template) throw new Error('fixture files table is empty');
    await db.execute('DELETE FROM mdl_files');
    let id = 100;
    for (const f of files) {
      const hash = createHash('sha1').update(f.data).digest('hex');
      await mkdir(join(site.dataroot, 'filedir', hash.slice(0, 2), hash.slice(2, 4)), { recursive: true });
      await writeFile(blobPath(join(site.dataroot, 'filedir'), hash), f.data);
      site.blobs.push(hash);
      for (const copy of [0, 1]) {
        const row: Record<string, unknown> = { ...template, id: ++id, contenthash: hash, filename: copy ? `copy-${f.name}` : f.name, pathnamehash: createHash('sha1').update(`${hash}/${copy}/${site.root}`).digest('hex'), filesize: f.data.length, referencefileid: null };
        const ph = cols.map((_, i) => (db.family === 'postgres' ? `$${i + 1}` : '?'));
        await db.query(`INSERT INTO mdl_files (${cols.map(q).join(', ')}) VALUES (${ph.join(', ')})`, cols.map((c) => row[c] ?? null));
      }
    }
  } finally {
    await db.close();
  }
}

/** Relative path → SHA-256 of every file under `root`. */
export async function treeHashes(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(join(root, rel), { withFileTypes: true }).catch(() => [])) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await treeHashes(root, r));
    else out[r] = createHash('sha256').update(await readFile(join(root, r))).digest('hex');
  }
  return out;
}

/** Writes files relative to `root`. */
export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [p, d] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), d);
  }
}

/**
 * A Moodle code tree with a subset of the 4.4 schema (the first `coreTables` core tables plus
 * `files`, `sessions` and three plugins), so the end-to-end run stays within its time budget
 * while keeping real install.xml definitions, components and the fixture's planted tables.
 */
export async function subsetSchemaDir(full: string, coreTables = 60, extraCore: string[] = [], plugins = ['mod/forum', 'mod/label', 'admin/tool/log/store/standard']): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'schema-'));
  const tsv = await readFile(join(full, 'PLUGINS.tsv'), 'utf8');
  await writeFile(join(out, 'PLUGINS.tsv'), tsv);
  const core = await readFile(join(full, 'lib', 'db', 'install.xml'), 'utf8');
  const head = core.slice(0, core.indexOf('<TABLES>') + '<TABLES>'.length);
  const blocks = [...core.matchAll(/\n {4}<TABLE NAME="([a-z0-9_]+)"[\s\S]*?\n {4}<\/TABLE>/g)];
  const keep = new Set(blocks.slice(0, coreTables).map((b) => b[1]).concat(['files', 'sessions', 'files_reference', ...extraCore]));
  const body = blocks.filter((b) => keep.has(b[1] ?? '')).map((b) => b[0]).join('');
  await mkdir(join(out, 'lib', 'db'), { recursive: true });
  await writeFile(join(out, 'lib', 'db', 'install.xml'), `${head}${body}\n  </TABLES>\n</XMLDB>\n`);
  for (const folder of plugins) {
    await mkdir(join(out, folder, 'db'), { recursive: true });
    await writeFile(join(out, folder, 'db', 'install.xml'), await readFile(join(full, folder, 'db', 'install.xml')));
  }
  return out;
}
