/** Dataroot names the backup never includes and the restore never deletes (format §4). */
import { AGENT_STATE_DIRNAME } from '../moodle/site.js';

/** Always skipped top-level dataroot names (plugin list plus a leftover of the agent's old in-dataroot state folder, and the maintenance flag). */
export const ALWAYS_SKIPPED_DATAROOT: readonly string[] = [
  'cache', 'localcache', 'temp', 'sessions', 'trashdir', 'lock', 'filedir', 'phpunit', 'phpunittestdir.txt',
  'originaldatafiles.json', 'behattestdir.txt', 'behat_dump', 'behat', '__vault_restore__', AGENT_STATE_DIRNAME,
  // The CLI maintenance flag the agent itself sets during a backup/restore must not travel.
  'climaintenance.html',
];

/** Default of the `backupexcludedataroot` setting. */
export const DEFAULT_EXCLUDE_DATAROOT: readonly string[] = ['muc', 'antivirus_quarantine'];

/** File extensions stored without compression (`COMPRESSED_FILE_EXTENSIONS`). */
export const COMPRESSED_EXTENSIONS: ReadonlySet<string> = new Set(['jpg', 'jpeg', 'zip', 'mbz', 'gz', 'mp4']);

/** Splits a plugin list setting like the plugin: on whitespace/commas, lower-cased, de-duplicated. */
export function splitSettingList(value: string | undefined): string[] {
  return [...new Set((value ?? '').split(/[\s,]+/).map((s) => s.trim().toLowerCase()).filter(Boolean))];
}

/** True when a top-level dataroot name is skipped by the backup. */
export function isSkippedDatarootName(name: string, extraExcluded: readonly string[]): boolean {
  return name.startsWith('.') || ALWAYS_SKIPPED_DATAROOT.includes(name) || extraExcluded.includes(name);
}

/** True when the file name's extension is an already-compressed type. */
export function isCompressedName(filename: string): boolean {
  const dot = filename.lastIndexOf('.');
  return dot >= 0 && COMPRESSED_EXTENSIONS.has(filename.slice(dot + 1).toLowerCase());
}
