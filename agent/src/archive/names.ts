/** Archive and chunk file names (spec §1.1, §3.3). */

/** Archive types of a backup. */
export type ArchiveType = 'dbdump' | 'dbstructure' | 'dataroot' | 'filedir';

/** `<type>.zip` for sequence 0, `<type>-<n>.zip` after. */
export function archiveName(type: ArchiveType | string, seq: number): string {
  return seq === 0 ? `${type}.zip` : `${type}-${seq}.zip`;
}

/** Type and sequence of an archive name; undefined for names not ending in `.zip`. */
export function parseArchiveName(name: string): { type: string; seq: number } | undefined {
  if (!name.endsWith('.zip')) return undefined;
  const base = name.slice(0, -4);
  const m = /^(.*)-(\d+)$/.exec(base);
  return m ? { type: m[1] ?? '', seq: Number(m[2]) } : { type: base, seq: 0 };
}

/** `<table>.<n>.json`. */
export function chunkName(table: string, n: number): string {
  return `${table}.${n}.json`;
}

/** Table and chunk number of a chunk file, read as the plugin does (extension not checked). */
export function parseChunkName(name: string): { table: string; n: number } {
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? name.slice(0, dot) : name;
  const m = /^(.*)\.(\d+)$/.exec(base);
  return m ? { table: m[1] ?? '', n: Number(m[2]) } : { table: base, n: 0 };
}
