/** backupView: the record as the plugin reads it, its files in archive order. */
import { describe, expect, it } from 'vitest';
import type { BackupRecord, FileRecord } from '../store/records.js';
import { backupView } from './records-view.js';

const backup: BackupRecord = {
  accountId: 'a1', backupKey: 'K', status: 'finished', siteId: 's1', siteUrl: 'https://moodle.example', description: 'd',
  encrypted: false, region: 'eu', expireDays: 7, expiry: 2_000_000_000, createdAt: 1, modifiedAt: 2, archivedBytes: 10, info: {}, vaultVersion: '2024',
};
const file = (name: string): FileRecord => ({ name, size: 1, origsize: 1, etag: 'e', createdAt: 1 });

describe('backupView', () => {
  it('lists the files in archive order: numbered archives by number, not by character', () => {
    const names = ['filedir.zip', 'dbdump10.zip', 'dbdump2.zip', 'dbstructure.zip', 'dbdump.zip', 'dataroot.zip', 'dbdump1.zip'];
    const view = backupView(backup, 's1', names.map(file)) as { files: { name: string }[] };
    expect(view.files.map((f) => f.name)).toEqual(['dataroot.zip', 'dbdump.zip', 'dbdump1.zip', 'dbdump2.zip', 'dbdump10.zip', 'dbstructure.zip', 'filedir.zip']);
  });
});
