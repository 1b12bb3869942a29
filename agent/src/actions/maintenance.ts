/**
 * Maintenance flag the way Moodle's CLI maintenance does it: a `climaintenance.html` file in the
 * dataroot makes every web request show the maintenance page, without touching the database.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const FILE = 'climaintenance.html';

/** Turns CLI maintenance on with a short message. */
export async function enableMaintenance(dataroot: string, message = 'This site is being restored by vault-agent. Please come back later.'): Promise<void> {
  await writeFile(join(dataroot, FILE), `<h1>${message}</h1>\n`);
}

/** Turns CLI maintenance off. */
export async function disableMaintenance(dataroot: string): Promise<void> {
  await rm(join(dataroot, FILE), { force: true });
}
