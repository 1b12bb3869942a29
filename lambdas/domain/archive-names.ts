/** Archive file names a backup may contain (backup format spec): nothing else is accepted. */
const ARCHIVE_NAME = /^(dbstructure|dbdump|dataroot|filedir)(-[1-9][0-9]{0,5})?\.zip$/;

/** True for `dbstructure.zip`, `dbdump[-N].zip`, `dataroot[-N].zip`, `filedir[-N].zip`. */
export function isArchiveName(name: string): boolean {
  return ARCHIVE_NAME.test(name) && !name.startsWith('dbstructure-');
}

/** The archive every restorable backup must contain. */
export const STRUCTURE_ARCHIVE = 'dbstructure.zip';
