/**
 * Proves the local services are the real ones, not lenient doubles: DynamoDB cancels a
 * transaction on a failed condition, RGW enforces SSE-C and SigV4, and both databases store and
 * return rows.
 */
import { CreateTableCommand, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../lambdas/store/aws-clients.js';
import { service } from './support/services.js';

describe('DynamoDB Local', () => {
  it('cancels a transaction whose condition fails and rolls back every write', async () => {
    const { endpoint } = service('ddb');
    const raw = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const doc = DynamoDBDocumentClient.from(raw);
    const TableName = `svc_${Date.now()}`;
    await raw.send(new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    }));
    await doc.send(new PutCommand({ TableName, Item: { pk: 'a', sk: 'a', n: 1 } }));
    const tx = doc.send(new TransactWriteCommand({
      TransactItems: [
        { Put: { TableName, Item: { pk: 'b', sk: 'b' } } },
        { Put: { TableName, Item: { pk: 'a', sk: 'a', n: 2 }, ConditionExpression: 'attribute_not_exists(pk)' } },
      ],
    }));
    const err = await tx.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionCanceledException);
    expect((err as TransactionCanceledException).CancellationReasons?.map((r) => r.Code)).toEqual(['None', 'ConditionalCheckFailed']);
    expect((await doc.send(new GetCommand({ TableName, Key: { pk: 'b', sk: 'b' } }))).Item).toBeUndefined();
    expect((await doc.send(new GetCommand({ TableName, Key: { pk: 'a', sk: 'a' } }))).Item?.n).toBe(1);
    raw.destroy();
  });
});

describe('Ceph RGW', () => {
  const setup = async () => {
    const rgw = service('rgw');
    const s3 = createS3Client({ endpoint: rgw.endpoint, region: 'us-east-1', credentials: rgw });
    const Bucket = `svc-${Date.now()}-${randomBytes(3).toString('hex')}`;
    await s3.send(new CreateBucketCommand({ Bucket }));
    return { s3, Bucket };
  };

  it('refuses an SSE-C object without its key and with a wrong key', async () => {
    const { s3, Bucket } = await setup();
    const key = randomBytes(32);
    const sse = (k: Buffer) => ({
      SSECustomerAlgorithm: 'AES256',
      SSECustomerKey: k.toString('base64'),
      SSECustomerKeyMD5: createHash('md5').update(k).digest('base64'),
    });
    await s3.send(new PutObjectCommand({ Bucket, Key: 'secret.zip', Body: 'top secret', ...sse(key) }));
    const ok = await s3.send(new GetObjectCommand({ Bucket, Key: 'secret.zip', ...sse(key) }));
    expect(await ok.Body?.transformToString()).toBe('top secret');
    await expect(s3.send(new GetObjectCommand({ Bucket, Key: 'secret.zip' }))).rejects.toThrow();
    await expect(s3.send(new GetObjectCommand({ Bucket, Key: 'secret.zip', ...sse(randomBytes(32)) }))).rejects.toThrow();
    await expect(s3.send(new HeadObjectCommand({ Bucket, Key: 'secret.zip', ...sse(randomBytes(32)) }))).rejects.toThrow();
  });

  it('refuses a presigned URL with one altered character and accepts the original', async () => {
    const { s3, Bucket } = await setup();
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'a.zip' }), { expiresIn: 600 });
    expect(url).not.toMatch(/x-amz-checksum|x-amz-sdk-checksum/i);
    const sig = /X-Amz-Signature=([0-9a-f]+)/.exec(url)?.[1] ?? '';
    const flipped = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
    const bad = await fetch(url.replace(sig, flipped), { method: 'PUT', body: 'x' });
    expect(bad.status).toBe(403);
    const good = await fetch(url, { method: 'PUT', body: 'hello' });
    expect(good.status).toBe(200);
    const tamperedKey = await fetch(url.replace('/a.zip', '/b.zip'), { method: 'PUT', body: 'x' });
    expect(tamperedKey.status).toBe(403);
  });
});

describe('PostgreSQL', () => {
  it('writes and reads back a table', async () => {
    const client = new pg.Client({ connectionString: service('pg').url });
    await client.connect();
    await client.query('CREATE TABLE svc_t (id bigserial primary key, name text, payload bytea)');
    await client.query('INSERT INTO svc_t (name, payload) VALUES ($1, $2), ($3, $4)', ['🦄 ü', Buffer.from([0, 255]), 'b', null]);
    const { rows } = await client.query('SELECT id, name, payload FROM svc_t ORDER BY id');
    expect(rows).toEqual([{ id: '1', name: '🦄 ü', payload: Buffer.from([0, 255]) }, { id: '2', name: 'b', payload: null }]);
    const version = await client.query('SHOW server_version');
    expect(version.rows[0].server_version).toMatch(/^15\./);
    await client.end();
  });
});

describe('MariaDB', () => {
  it('writes and reads back a table', async () => {
    const conn = await mysql.createConnection(service('mariadb').url.replace(/^mariadb:/, 'mysql:'));
    await conn.query('CREATE DATABASE svc_db CHARACTER SET utf8mb4');
    await conn.query('CREATE TABLE svc_db.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), payload LONGBLOB) ENGINE=InnoDB');
    await conn.query('INSERT INTO svc_db.t (name, payload) VALUES (?, ?), (?, ?)', ['🦄 ü', Buffer.from([0, 255]), 'b', null]);
    const [rows] = await conn.query('SELECT id, name, payload FROM svc_db.t ORDER BY id');
    expect(rows).toEqual([{ id: 1, name: '🦄 ü', payload: Buffer.from([0, 255]) }, { id: 2, name: 'b', payload: null }]);
    const [[v]] = (await conn.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
    expect(v.v).toMatch(/MariaDB/);
    await conn.end();
  });
});
