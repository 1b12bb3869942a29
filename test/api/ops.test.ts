/**
 * The scheduled ops run: expired backups lose their objects, abandoned ones fail, ended ones are
 * swept, stale multipart uploads are aborted; it reads the table only through the ops index, with the actions the stack grants.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTORE_RESUME_DAYS, RESTORE_STALE_HOURS } from '../../lambdas/domain/backup-state.js';
import { runOps, type OpsDeps } from '../../lambdas/ops/run-ops.js';
import { OPS_TABLE_ACCESS } from '../../lambdas/ops/table-access.js';
import { createRepository } from '../../lambdas/store/repository.js';
import { OPS_INDEX } from '../../lambdas/store/table-definition.js';
import { startTestApi, type TestApi } from '../support/api-server.js';
import { service } from '../support/services.js';
import { PluginClient } from './plugin-client.js';

/** IAM action of a lib-dynamodb command class. */
const IAM_ACTION: Record<string, string> = {
  GetCommand: 'dynamodb:GetItem', PutCommand: 'dynamodb:PutItem', UpdateCommand: 'dynamodb:UpdateItem', DeleteCommand: 'dynamodb:DeleteItem',
  QueryCommand: 'dynamodb:Query', ScanCommand: 'dynamodb:Scan', TransactWriteCommand: 'dynamodb:TransactWriteItems',
  BatchGetCommand: 'dynamodb:BatchGetItem', BatchWriteCommand: 'dynamodb:BatchWriteItem', DescribeTableCommand: 'dynamodb:DescribeTable',
};

/** IAM action of each kind of item of a TransactWriteItems request. */
const TRANSACT_ACTION: Record<string, string> = { Put: 'dynamodb:PutItem', Update: 'dynamodb:UpdateItem', Delete: 'dynamodb:DeleteItem', ConditionCheck: 'dynamodb:ConditionCheckItem' };

let api: TestApi;
let raw: DynamoDBClient;
let clock = Date.now();
/** `resource action` of every DynamoDB command the ops runs sent. */
const sent = new Set<string>();
let opsDeps: OpsDeps;
beforeAll(async () => {
  api = await startTestApi({ regions: ['eu', 'usw', 'ap'], now: () => new Date(clock) });
  // The same table through a client that records what each command needs in IAM terms.
  raw = new DynamoDBClient({ endpoint: service('ddb').endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const recording = {
    send: (command: { constructor: { name: string }; input: { IndexName?: string; TransactItems?: Record<string, unknown>[] } }) => {
      const resource = command.input.IndexName ? `index/${command.input.IndexName}` : 'table';
      if (command.input.TransactItems) {
        // IAM authorises each action of a transaction as its own action (there is no TransactWriteItems grant).
        for (const t of command.input.TransactItems) for (const kind of Object.keys(t)) sent.add(`table ${TRANSACT_ACTION[kind] ?? kind}`);
      } else {
        sent.add(`${resource} ${IAM_ACTION[command.constructor.name] ?? command.constructor.name}`);
      }
      return doc.send(command as Parameters<typeof doc.send>[0]);
    },
  } as unknown as DynamoDBDocumentClient;
  opsDeps = { repo: createRepository(recording, api.tableName), storage: api.deps.storage, now: () => new Date(clock) };
});
afterAll(async () => {
  await api?.close();
  raw?.destroy();
});

describe('ops run', () => {
  it('expires, fails abandoned backups, aborts stale uploads; a second run does nothing', async () => {
    const { apikey, accountid } = await api.registerAccount();
    const site = new PluginClient(api.url, apikey);
    const body = { description: 'x', encrypted: false, bucket: '', expiredays: 0 };
    const { backupkey: old } = await site.ok('PUT', 'backups', body);
    await site.uploadArchive(old as string, 'dbstructure.zip', randomBytes(64));
    await site.ok('PATCH', `backups/${old}`, { status: 'finished', info: { totalsize: 64 } });
    const { backupkey: abandoned } = await site.ok('PUT', 'backups', body);
    await site.uploadArchive(abandoned as string, 'dbdump.zip', randomBytes(32));
    // A multipart upload initiated and never completed.
    const step1 = await site.ok('POST', `backups/${abandoned}/upload/filedir.zip`, { contenttype: 'application/zip', multipart: { parts: 2 } }, ['parts']);
    expect((await fetch(step1.multiplarturl as string, { method: 'POST' })).status).toBe(200);

    const opts = { staleBackupHours: 48, staleRestoreHours: 48, staleUploadDays: 7, sweepDelaySeconds: 7200 };
    const nothing = { expiredBackups: 0, failedStaleBackups: 0, overLimitBackups: 0, sweptBackups: 0, timedOutRestores: 0, deletedObjects: 0, abortedUploads: 0 };
    expect(await runOps(opsDeps, opts)).toEqual(nothing);

    clock += 3 * 86400 * 1000; // abandoned: untouched for 72 h
    // abandoned fails and loses its archive and its open upload; old (finished 72 h ago) is swept and keeps its archive.
    expect(await runOps(opsDeps, opts)).toEqual({ ...nothing, failedStaleBackups: 1, sweptBackups: 1, deletedObjects: 1, abortedUploads: 1 });
    expect((await api.deps.repo.getBackup(accountid, abandoned as string))?.status).toBe('failed');
    expect(await api.deps.storage.objectInfo('eu', `${accountid}/${abandoned}/dbdump.zip`)).toBeUndefined();
    expect(await api.deps.storage.objectInfo('eu', `${accountid}/${old}/dbstructure.zip`)).toBeDefined();

    clock += 5 * 86400 * 1000; // old: past its 7 days
    // old expires; abandoned (objects deleted when it failed) gets its second sweep and leaves the queue.
    expect(await runOps(opsDeps, opts)).toEqual({ ...nothing, expiredBackups: 1, sweptBackups: 1, deletedObjects: 1 });
    expect(await api.deps.storage.objectInfo('eu', `${accountid}/${old}/dbstructure.zip`)).toBeUndefined();
    expect(await runOps(opsDeps, opts)).toEqual(nothing);

    // Exactly what the stack grants the ops function (infra test "ops has exactly the DynamoDB actions ...").
    expect([...sent].sort()).toEqual([
      ...OPS_TABLE_ACCESS.table.map((a) => `table ${a}`),
      ...OPS_TABLE_ACCESS.opsIndex.map((a) => `index/${OPS_INDEX.name} ${a}`),
    ].sort());
  });

  it('leaves active in-progress backups and backups that never expire alone', async () => {
    const { apikey, accountid } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const { backupkey: forever } = await site.ok('PUT', 'backups', { description: 'keep', encrypted: false, bucket: '', expiredays: 0 });
    await site.uploadArchive(forever as string, 'dbstructure.zip', randomBytes(16));
    await site.ok('PATCH', `backups/${forever}`, { status: 'finished', info: {} });
    const { backupkey: active } = await site.ok('PUT', 'backups', { description: 'busy', encrypted: false, bucket: '', expiredays: 0 });
    const opts = { staleBackupHours: 48, staleRestoreHours: 48, staleUploadDays: 7, sweepDelaySeconds: 7200 };
    clock += 47 * 3600 * 1000;
    await site.uploadArchive(active as string, 'dbdump.zip', randomBytes(16)); // activity at 47 h
    clock += 24 * 3600 * 1000;
    const report = await runOps(opsDeps, opts);
    expect(report).toMatchObject({ expiredBackups: 0, failedStaleBackups: 0 });
    expect((await api.deps.repo.getBackup(accountid, active as string))?.status).toBe('inprogress');
    expect((await api.deps.repo.getBackup(accountid, forever as string))?.status).toBe('finished');
    clock += 48 * 3600 * 1000;
    expect(await runOps(opsDeps, opts)).toMatchObject({ expiredBackups: 0, failedStaleBackups: 1 });
    expect((await api.deps.repo.getBackup(accountid, active as string))?.status).toBe('failed');
  });

  it('times out restores without activity for the threshold; a failed one can be resumed only within RESTORE_RESUME_DAYS', async () => {
    const { apikey, accountid } = await api.registerAccount(undefined, 'pro');
    const site = new PluginClient(api.url, apikey);
    const { backupkey } = await site.ok('PUT', 'backups', { description: 'r', encrypted: false, bucket: '', expiredays: 0 });
    await site.uploadArchive(backupkey as string, 'dbstructure.zip', randomBytes(16));
    await site.ok('PATCH', `backups/${backupkey}`, { status: 'finished', info: {} });
    const { restorekey } = await site.ok('PUT', 'restores', { backupkey });
    const { restorekey: done } = await site.ok('PUT', 'restores', { backupkey, dryrun: true });
    await site.ok('PATCH', `restores/${done}`, { status: 'finished' });
    const createdAt = clock;
    const opts = { staleBackupHours: 48, staleRestoreHours: RESTORE_STALE_HOURS, staleUploadDays: 7, sweepDelaySeconds: 7200 };
    const restore = () => api.deps.repo.getRestore(accountid, restorekey as string);

    clock += (RESTORE_STALE_HOURS - 1) * 3600 * 1000;
    await site.ok('GET', `restores/${restorekey}/download/dbstructure.zip`); // activity
    clock += (RESTORE_STALE_HOURS - 1) * 3600 * 1000;
    expect(await runOps(opsDeps, opts)).toMatchObject({ timedOutRestores: 0 });
    expect((await restore())?.status).toBe('inprogress');
    clock += 2 * 3600 * 1000;
    expect(await runOps(opsDeps, opts)).toMatchObject({ timedOutRestores: 1 });
    expect(await restore()).toMatchObject({ status: 'failed', info: { faileddetails: 'timed out' } });
    expect(await runOps(opsDeps, opts)).toMatchObject({ timedOutRestores: 0 });
    expect((await site.call('GET', `restores/${restorekey}/download/dbstructure.zip`)).status).toBe(409);

    // Resumable within RESTORE_RESUME_DAYS of its creation, then closed for good (409 on every PATCH).
    await site.ok('PATCH', `restores/${restorekey}`, { status: 'resume', info: { backupkey } });
    await site.ok('PATCH', `restores/${restorekey}`, { status: 'failed', info: { faileddetails: 'disk full' } });
    clock = createdAt + (RESTORE_RESUME_DAYS * 24 + 1) * 3600 * 1000;
    for (const body of [{ status: 'resume', info: { backupkey } }, { info: { n: 1 } }, { status: 'failed', info: {} }]) {
      const r = await site.call('PATCH', `restores/${restorekey}`, body);
      expect(r.status).toBe(409);
      expect(r.body.message).toMatch(/can no longer be resumed/);
    }
    // A finished restore is untouched by all this.
    expect((await api.deps.repo.getRestore(accountid, done as string))?.status).toBe('finished');
  });
});
