/**
 * Child-process bookkeeping for local services: every service runs in its own process group,
 * is recorded in a pid registry, and is killed by process group when the run ends — also on
 * SIGINT/SIGTERM, on an uncaught error, and (via the registry) after a hard kill of the runner.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The machine's temp folder, even inside a test run that points TMPDIR at its own folder
 * (test/support/global-setup.ts sets VAULT_SYSTEM_TMPDIR), so every process finds the same
 * registry and service folders.
 */
export function systemTmpDir(): string {
  return process.env.VAULT_SYSTEM_TMPDIR ?? tmpdir();
}

/** Folder holding one sub-folder per supervising process with the process groups it started. */
const REGISTRY = join(systemTmpDir(), 'vault-services-registry');

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  /** Signal the whole process group, wait up to `graceMs`, then SIGKILL it. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const live = new Set<ManagedProcess>();
let hooksInstalled = false;

function registryFile(): string {
  mkdirSync(REGISTRY, { recursive: true });
  return join(REGISTRY, String(process.pid));
}

function writeRegistry(): void {
  const pids = [...live].map((p) => p.child.pid).filter((p): p is number => typeof p === 'number');
  if (pids.length === 0) rmSync(registryFile(), { force: true });
  else writeFileSync(registryFile(), pids.join('\n'));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Service folders are named `vault-<service>-<supervisor pid>-<time>` (see {@link serviceDir}). */
const SERVICE_DIR = /^vault-[a-z0-9]+-(\d+)-[a-z0-9]+$/;

/**
 * Kill process groups left behind by supervisors that died without cleaning up (kill -9), and
 * delete the temporary service folders (database files, logs) of supervisors no longer alive.
 */
export function reapOrphans(): void {
  const tmp = systemTmpDir();
  for (const entry of readdirSync(tmp)) {
    const owner = SERVICE_DIR.exec(entry)?.[1];
    if (owner && !isAlive(Number(owner))) rmSync(join(tmp, entry), { recursive: true, force: true });
  }
  if (!existsSync(REGISTRY)) return;
  for (const entry of readdirSync(REGISTRY)) {
    const owner = Number(entry);
    if (!Number.isInteger(owner) || isAlive(owner)) continue;
    const file = join(REGISTRY, entry);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const pid = Number(line);
      if (Number.isInteger(pid) && pid > 0) killGroup(pid, 'SIGKILL');
    }
    rmSync(file, { force: true });
  }
}

/** Synchronously SIGKILL every live group: the last resort when the supervisor is exiting. */
function killAllNow(): void {
  for (const p of live) if (p.child.pid) killGroup(p.child.pid, 'SIGKILL');
  live.clear();
  try {
    rmSync(registryFile(), { force: true });
  } catch {
    /* ignore */
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', killAllNow);
}

/**
 * For supervisors without their own signal handling (the test runner's global setup): on
 * SIGINT/SIGTERM/SIGHUP kill every service group, then exit.
 */
export function killServicesOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllNow();
      process.exit(130);
    });
  }
}

/** Start a process in its own process group; stdout/stderr go to `logFile` when given. */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { logFile?: string } = {},
): ManagedProcess {
  installHooks();
  const { logFile, ...spawnOptions } = options;
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(command, args, { stdio: ['ignore', out, out], ...spawnOptions, detached: true });
  child.unref();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  const managed: ManagedProcess = {
    name,
    child,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (!child.pid) return;
      // A pending promise does not keep Node alive: hold the child (and the grace timer) referenced
      // until it has exited, or a supervisor whose event loop is otherwise empty (vitest's
      // teardown) exits half-way and leaves the remaining services running.
      child.ref();
      killGroup(child.pid, signal);
      let timeout: NodeJS.Timeout | undefined;
      const timer = new Promise<'timeout'>((r) => (timeout = setTimeout(() => r('timeout'), graceMs)));
      const outcome = await Promise.race([exited, timer]);
      clearTimeout(timeout);
      if (outcome === 'timeout') {
        killGroup(child.pid, 'SIGKILL');
        await exited;
      }
      // members of the group may outlive the leader (e.g. postgres backends)
      killGroup(child.pid, 'SIGKILL');
      live.delete(managed);
      writeRegistry();
    },
  };
  live.add(managed);
  writeRegistry();
  return managed;
}

/** Ask the OS for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Poll `probe` every `intervalMs` until it returns true; fail with the service's log tail. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; proc?: ManagedProcess; logFile?: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exitCode: number | null | undefined;
  opts.proc?.exited.then((c) => (exitCode = c ?? -1));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) break;
    try {
      if (await probe()) return;
    } catch {
      /* not ready yet */
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
  const tail = opts.logFile && existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').slice(-2000) : '';
  const why = exitCode !== undefined ? `exited with code ${exitCode}` : `not ready after ${opts.timeoutMs} ms`;
  throw new Error(`${what} ${why}${tail ? `\n--- log tail ---\n${tail}` : ''}`);
}

/** Run a command to completion; throw with its output when it fails. */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const res = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (res.error) throw new Error(`${command} could not start: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
  }
  return res.stdout;
}

/** Delete a service's temporary folder once its processes have stopped. */
export function removeServiceDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A fresh temporary folder for one service instance; deleted by its stop(). */
export function serviceDir(name: string): string {
  const dir = join(systemTmpDir(), `vault-${name}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
