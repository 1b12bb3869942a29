/**
 * Ceph RGW from Debian as a single-node, in-memory S3 server: SigV4, presigned-URL expiry and
 * SSE-C are enforced, as on AWS (see shared/design/local-services.md §B.2.1). All three daemons
 * run in the foreground as our children, so stopping the run stops them.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeServiceDir, run, serviceDir, startProcess, waitUntil, type ManagedProcess } from './process.js';
import { binaryPath, ensurePackages, REQUIREMENTS } from './provision.js';

export interface RgwServer {
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  procs: ManagedProcess[];
  stop(): Promise<void>;
}

export const RGW_ACCESS_KEY = 'VAULTLOCALKEY';
export const RGW_SECRET_KEY = 'VAULTLOCALSECRET';

export async function startRgw(opts: { port?: number } = {}): Promise<RgwServer> {
  ensurePackages(REQUIREMENTS.rgw);
  const dir = serviceDir('rgw');
  for (const d of ['run', 'log', 'mon', 'osd']) mkdirSync(join(dir, d), { recursive: true });
  const [port, monV2, monV1] = [opts.port ?? (await freePort()), await freePort(), await freePort()];
  const fsid = randomUUID();
  const monHost = `[v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`;
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, `[global]
fsid = ${fsid}
mon host = ${monHost}
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
ms client mode = crc secure
ms mon service mode = crc secure
ms service mode = crc secure
ms mon cluster mode = crc secure
ms cluster mode = crc secure
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 4294967296
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
pid file = ${dir}/run/$name.pid
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
keyring = ${dir}/keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${port}
rgw crypt require ssl = false
rgw max put size = 6442450944
`);
  const cc = ['-c', conf];
  const procs: ManagedProcess[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await p.stop('SIGTERM', 3000);
    removeServiceDir(dir);
  };
  try {
    run(binaryPath('ceph-authtool'), ['--create-keyring', join(dir, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    run(binaryPath('monmaptool'), ['--create', '--addv', 'a', monHost, '--fsid', fsid, join(dir, 'monmap')]);
    run(binaryPath('ceph-mon'), [...cc, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', join(dir, 'keyring')]);
    procs.push(startProcess('ceph-mon', binaryPath('ceph-mon'), [...cc, '-f', '-i', 'a'], { logFile: join(dir, 'log', 'mon.out') }));
    const osdUuid = randomUUID();
    const id = run(binaryPath('ceph'), [...cc, '--connect-timeout', '30', 'osd', 'new', osdUuid]).trim();
    mkdirSync(join(dir, 'osd', `ceph-${id}`), { recursive: true });
    run(binaryPath('ceph-osd'), [...cc, '-i', id, '--mkfs', '--osd-uuid', osdUuid]);
    procs.push(startProcess('ceph-osd', binaryPath('ceph-osd'), [...cc, '-f', '-i', id], { logFile: join(dir, 'log', 'osd.out') }));
    await waitUntil('Ceph OSD', async () => run(binaryPath('ceph'), [...cc, 'osd', 'stat']).includes(' 1 up'), {
      timeoutMs: 60_000, intervalMs: 200, proc: procs[1],
    });
    // pre-create RGW's pools so the first bucket/object calls are not slow
    for (const pool of ['.rgw.root', 'default.rgw.control', 'default.rgw.meta', 'default.rgw.log',
      'default.rgw.buckets.index', 'default.rgw.buckets.data', 'default.rgw.buckets.non-ec']) {
      run(binaryPath('ceph'), [...cc, 'osd', 'pool', 'create', pool, '8']);
      run(binaryPath('ceph'), [...cc, 'osd', 'pool', 'application', 'enable', pool, 'rgw']);
    }
    const logFile = join(dir, 'log', 'rgw.out');
    const rgw = startProcess('radosgw', binaryPath('radosgw'), [...cc, '-f', '-n', 'client.rgw.a'], { logFile });
    procs.push(rgw);
    const endpoint = `http://127.0.0.1:${port}`;
    await waitUntil('Ceph RGW', async () => (await fetch(`${endpoint}/`)).status === 200, {
      timeoutMs: 90_000, intervalMs: 200, proc: rgw, logFile,
    });
    run(binaryPath('radosgw-admin'), [...cc, 'user', 'create', '--uid=vault', '--display-name=vault',
      `--access-key=${RGW_ACCESS_KEY}`, `--secret=${RGW_SECRET_KEY}`]);
    return { endpoint, port, accessKeyId: RGW_ACCESS_KEY, secretAccessKey: RGW_SECRET_KEY, procs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
