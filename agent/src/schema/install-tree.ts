/**
 * Reads the table definitions of a Moodle code tree: every `db/install.xml`, each attributed
 * to its frankenstyle component. Components come from `PLUGINS.tsv` when the tree has one
 * (our stand-in schema folder), else from the plugins found the way `core_component` finds them
 * (lib/components.json, subplugins.json), else from Moodle's standard plugin-type folders.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { discoverPlugins, STANDARD_PLUGIN_TYPES, STANDARD_SUBPLUGIN_TYPES } from '../moodle/components.js';
import type { XmldbTable } from './model.js';
import { parseXmldb } from './xmldb-parse.js';

/** Folder → plugin type, from Moodle's lib/components.json and the standard subplugins (used without the tree's own files). */
const PLUGIN_TYPE_FOLDERS: Record<string, string> = Object.fromEntries([
  ...Object.entries(STANDARD_PLUGIN_TYPES).map(([type, folder]) => [folder, type]),
  ...Object.entries(STANDARD_SUBPLUGIN_TYPES).map(([type, [folder]]) => [folder, type]),
]);

/** Frankenstyle name of the component whose folder is `folder` (relative, `/`-separated). */
export function componentForFolder(folder: string): string {
  if (folder === 'lib' || folder === '') return 'core';
  const slash = folder.lastIndexOf('/');
  const parent = folder.slice(0, slash);
  const name = folder.slice(slash + 1);
  const type = PLUGIN_TYPE_FOLDERS[parent];
  return type ? `${type}_${name}` : `${parent.replace(/\//g, '_')}_${name}`;
}

async function findInstallFiles(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.isDirectory()) {
      // Skip test fixtures and vendored code: they are not installed plugins.
      if (['tests', 'node_modules', 'vendor', '.git'].includes(e.name)) continue;
      await findInstallFiles(root, join(dir, e.name), out);
    } else if (e.name === 'install.xml' && dir.endsWith(`${sep}db`)) {
      out.push(relative(root, dir).split(sep).slice(0, -1).join('/'));
    }
  }
}

/** Options of {@link loadInstallTree}. */
export interface InstallTreeOptions {
  /**
   * A file keeping the parsed definitions for the next run: used when the tree's `install.xml`
   * files (paths, components, sizes and modification times) are the ones it was made from,
   * rewritten otherwise. Parsing a real tree's ~200 files took 150–250 ms of the main thread at
   * each restore; reading them back takes ~10 ms. Any problem with the file means parsing.
   */
  cacheFile?: string;
}

/** Bumped when the cache file's layout changes. */
const CACHE_FORMAT = 'install-tree-1';

/**
 * Size and modification time of the agent's own code (the built bundle, or this module in a
 * development checkout): another agent version never reads a cache an older parser wrote.
 */
async function parserIdentity(): Promise<[number, number] | null> {
  try {
    const s = await stat(fileURLToPath(import.meta.url));
    return [s.size, s.mtimeMs];
  } catch {
    return null;
  }
}

/**
 * All table definitions of a Moodle code tree (or a folder laid out like one). In a tree with
 * `PLUGINS.tsv` or `lib/components.json` the files are where Moodle's own `get_db_directories()`
 * looks: `lib/db` and each plugin's `db` folder (a walk over a real tree's 30,000 entries took
 * 0.5–1 s); any other folder is walked.
 */
export async function loadInstallTree(root: string, opts: InstallTreeOptions = {}): Promise<XmldbTable[]> {
  const known = new Map<string, string>();
  const tsv = join(root, 'PLUGINS.tsv');
  const listed = existsSync(tsv);
  if (listed) {
    for (const line of (await readFile(tsv, 'utf8')).split('\n').slice(1)) {
      const [component, folder] = line.split('\t');
      if (component && folder) known.set(folder, component);
    }
  } else {
    for (const p of (await discoverPlugins(root)).values()) known.set(p.folder, p.component);
  }
  let folders: string[] = [];
  if (listed || existsSync(join(root, 'lib', 'components.json'))) {
    folders = [...new Set(['lib', ...known.keys()])].filter((f) => existsSync(join(root, f, 'db', 'install.xml')));
  } else {
    await findInstallFiles(root, root, folders);
  }
  folders.sort();
  const files = folders.map((folder) => ({ folder, component: known.get(folder) ?? componentForFolder(folder), path: join(root, folder, 'db', 'install.xml') }));
  const parse = async (): Promise<XmldbTable[]> => {
    const texts = await Promise.all(files.map((f) => readFile(f.path, 'utf8')));
    return files.flatMap((f, i) => parseXmldb(texts[i] as string, f.component));
  };
  if (!opts.cacheFile) return parse();
  const stats = await Promise.all(files.map((f) => stat(f.path)));
  const key = createHash('sha256')
    .update(JSON.stringify([CACHE_FORMAT, await parserIdentity(), resolve(root), files.map((f, i) => [f.folder, f.component, stats[i]?.size, stats[i]?.mtimeMs])]))
    .digest('hex');
  const cached = await readFile(opts.cacheFile, 'utf8').then((t) => JSON.parse(t) as { key?: string; tables?: XmldbTable[] } | null).catch(() => null);
  if (cached?.key === key && Array.isArray(cached.tables)) return cached.tables;
  const tables = await parse();
  // Written aside and renamed: a concurrent run reads the old file or the new one, never half.
  const tmp = `${opts.cacheFile}.${randomUUID()}.tmp`;
  await mkdir(dirname(opts.cacheFile), { recursive: true })
    .then(() => writeFile(tmp, JSON.stringify({ key, tables }), { mode: 0o600 }))
    .then(() => rename(tmp, opts.cacheFile as string))
    .catch(() => rm(tmp, { force: true }).catch(() => undefined));
  return tables;
}
