/**
 * The files of `dbstructure.zip` (spec §2): `__structure__.xml`, `__metadata__.json`,
 * `__sequences__.json`, `__configoverride__.json`, plus our own `__vault_agent__.json`
 * (checksums, the binary encoding, indexes XMLDB cannot express), which the plugin never
 * looks up since it reads dbstructure entries by name.
 */
import { EngineIndexExtensionSchema, type EngineIndexExtension } from '../schema/engine-indexes.js';
import type { XmldbTable } from '../schema/model.js';
import { structureXml } from '../schema/structure-xml.js';
import { parseXmldb } from '../schema/xmldb-parse.js';
import { ArchiveReadError } from './zip-reader.js';
import type { ZipArchiveReader } from './zip-reader.js';
import type { ArchiveInfo, ZipArchiveWriter } from './zip-writer.js';
import type { PhpJsonValue } from './php-json.js';
import { phpJsonEncode } from './php-json.js';

export const FILE_STRUCTURE = '__structure__.xml';
export const FILE_METADATA = '__metadata__.json';
export const FILE_SEQUENCE = '__sequences__.json';
export const FILE_CONFIGOVERRIDE = '__configoverride__.json';
export const FILE_XSD = 'xmldb.xsd';
/** Our manifest; ignored by the plugin. */
export const FILE_AGENT_MANIFEST = '__vault_agent__.json';

/** `__metadata__.json` (keys in the plugin's order). */
export interface BackupMetadata {
  wwwroot: string;
  dbengine: string;
  version: string;
  branch: string;
  release: string;
  tool_vault_version: string;
  /** Written by vault-agent only: its version (`tool_vault_version` then holds its YYYYMMDDXX number). */
  vaultagent_version?: string;
  email: string;
  name: string;
  userid: string | number;
  dbtotalsize: number;
  plugins: Record<string, { version?: string; isaddon?: boolean; parent?: string; name?: string }>;
}

/** One `__configoverride__.json` entry. */
export interface ConfigOverride {
  name: string;
  value: string;
  plugin: string | null;
}

/** Per-chunk record in our manifest. */
export interface ChunkRecord {
  archive: string;
  rows: number;
  bytes: number;
  sha256: string;
}

/** `__vault_agent__.json`. */
export interface AgentManifest {
  format: 1;
  agent: string;
  /** See binary-encoding.ts. */
  binaryEncoding: string;
  /** Value forms used in chunks (documented in docs/format.md). */
  floatFormat: 'js-shortest';
  sourceEngine: string;
  archives: ArchiveInfo[];
  tables: Record<string, { rows: number; chunks: number }>;
  chunks: Record<string, ChunkRecord>;
  /**
   * Indexes `__structure__.xml` leaves out because XMLDB cannot express them (engine-indexes.ts,
   * docs/format.md). Always written by the agent; absent in older manifests.
   */
  engineIndexes?: EngineIndexExtension;
}

/** Everything read back from a dbstructure archive. */
export interface DbStructure {
  tables: XmldbTable[];
  metadata: Record<string, unknown>;
  sequences: Map<string, number>;
  configOverride: ConfigOverride[];
  manifest?: AgentManifest;
}

const json = (v: PhpJsonValue): Buffer => Buffer.from(phpJsonEncode(v), 'latin1');

/** Writes the dbstructure entries in the plugin's order. */
export async function writeDbStructure(
  zip: ZipArchiveWriter,
  parts: { tables: XmldbTable[]; metadata: BackupMetadata; sequences: Record<string, number | string>; configOverride: ConfigOverride[]; manifest: AgentManifest; xsd?: Buffer },
): Promise<void> {
  if (parts.xsd) await zip.add(FILE_XSD, parts.xsd);
  await zip.add(FILE_STRUCTURE, Buffer.from(structureXml(parts.tables), 'utf8'));
  await zip.add(FILE_METADATA, json(parts.metadata as unknown as PhpJsonValue));
  await zip.add(FILE_SEQUENCE, json(parts.sequences));
  await zip.add(FILE_CONFIGOVERRIDE, json(parts.configOverride as unknown as PhpJsonValue));
  await zip.add(FILE_AGENT_MANIFEST, Buffer.from(JSON.stringify(parts.manifest, null, 1), 'utf8'));
}

/** Reads a dbstructure archive; structure and metadata are mandatory as in the plugin. */
export async function readDbStructure(zip: ZipArchiveReader): Promise<DbStructure> {
  const need = async (name: string): Promise<string> => {
    if (!zip.has(name)) throw new ArchiveReadError(`dbstructure.zip has no ${name}`);
    return (await zip.read(name)).toString('utf8');
  };
  const tables = parseXmldb(await need(FILE_STRUCTURE));
  const metadata = JSON.parse(await need(FILE_METADATA)) as Record<string, unknown>;
  const seqRaw = JSON.parse(await need(FILE_SEQUENCE)) as unknown;
  const sequences = new Map<string, number>();
  // PHP encodes an empty map as []; values are numbers (MySQL) or numeric strings (PostgreSQL).
  if (seqRaw && typeof seqRaw === 'object' && !Array.isArray(seqRaw)) {
    for (const [k, v] of Object.entries(seqRaw as Record<string, unknown>)) {
      const n = Number(v);
      if (Number.isFinite(n) && n > 0) sequences.set(k, n);
    }
  }
  const configOverride = zip.has(FILE_CONFIGOVERRIDE) ? (JSON.parse((await zip.read(FILE_CONFIGOVERRIDE)).toString('utf8')) as ConfigOverride[]) : [];
  const manifest = zip.has(FILE_AGENT_MANIFEST) ? (JSON.parse((await zip.read(FILE_AGENT_MANIFEST)).toString('utf8')) as AgentManifest) : undefined;
  if (manifest?.engineIndexes !== undefined) {
    // Executed as DDL on the target later: checked here, before anything plans from it.
    const checked = EngineIndexExtensionSchema.safeParse(manifest.engineIndexes);
    if (!checked.success) throw new ArchiveReadError(`${FILE_AGENT_MANIFEST}: engineIndexes is malformed (${checked.error.issues[0]?.message ?? 'invalid'})`);
    manifest.engineIndexes = checked.data;
  }
  return { tables, metadata, sequences, configOverride, manifest };
}
