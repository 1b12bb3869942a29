/**
 * The dataroot side of an atomic restore: the backup's dataroot archives are extracted into
 * {@link DATAROOT_STAGING} inside the dataroot (same filesystem, so every move is a rename), and
 * the switch is a journaled list of top-level renames: the old site's entries into
 * {@link DATAROOT_OLD}, then the staged ones into the dataroot. The list is saved before the
 * first rename; {@link applyMoves} and {@link reverseMoves} skip what is already done, so a
 * killed switch is finished (or undone) by running them again. Both folders start with a dot:
 * backups never carry them (names.ts). `filedir`, `climaintenance.html` and every name the
 * backup skips or the site preserves are never moved.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isSkippedDatarootName } from './names.js';

/** Folder inside the dataroot the backup's dataroot archives are extracted into. */
export const DATAROOT_STAGING = '.vault-agent-staging';
/** Folder inside the dataroot the old site's entries move to until deleted. */
export const DATAROOT_OLD = '.vault-agent-old';

/** One rename of the switch, paths relative to the dataroot. */
export interface DatarootMove {
  from: string;
  to: string;
}

/** The renames that replace the dataroot's entries by the staged ones; `preserve` are kept names. */
export async function planDatarootSwitch(dataroot: string, preserve: readonly string[]): Promise<DatarootMove[]> {
  const moves: DatarootMove[] = [];
  for (const name of (await readdir(dataroot)).sort()) {
    if (!isSkippedDatarootName(name, preserve)) moves.push({ from: name, to: join(DATAROOT_OLD, name) });
  }
  const staged = await readdir(join(dataroot, DATAROOT_STAGING)).catch(() => []);
  for (const name of staged.sort()) {
    if (!isSkippedDatarootName(name, preserve)) moves.push({ from: join(DATAROOT_STAGING, name), to: name });
  }
  return moves;
}

/** Runs the moves not done yet, in order; `afterMove` is called after each rename made. */
export async function applyMoves(dataroot: string, moves: readonly DatarootMove[], afterMove?: (m: DatarootMove) => Promise<void>): Promise<number> {
  await mkdir(join(dataroot, DATAROOT_OLD), { recursive: true });
  let n = 0;
  for (const m of moves) {
    // Done when its target exists: an old entry's target is in the old folder, and a staged
    // entry's name was vacated by an earlier move (its source may exist again by then: the
    // staged entry of the same name moved in, so the source says nothing).
    if (existsSync(join(dataroot, m.to)) || !existsSync(join(dataroot, m.from))) continue;
    await rename(join(dataroot, m.from), join(dataroot, m.to));
    n++;
    await afterMove?.(m);
  }
  return n;
}

/** Undoes the moves made, last first. Returns renames undone. */
export async function reverseMoves(dataroot: string, moves: readonly DatarootMove[]): Promise<number> {
  let n = 0;
  for (const m of [...moves].reverse()) {
    if (existsSync(join(dataroot, m.from)) || !existsSync(join(dataroot, m.to))) continue;
    await rename(join(dataroot, m.to), join(dataroot, m.from));
    n++;
  }
  return n;
}

/** Deletes the staging and old folders. */
export async function removeSwitchFolders(dataroot: string): Promise<void> {
  for (const d of [DATAROOT_STAGING, DATAROOT_OLD]) await rm(join(dataroot, d), { recursive: true, force: true });
}
