/** Small readers over synthesized CloudFormation templates for the infra tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll } from 'vitest';
import type { Template } from 'aws-cdk-lib/assertions';
import { readConfig } from '../../infra/config.js';
import { buildVaultApp, type VaultStacks } from '../../infra/vault-app.js';

/**
 * Cloud assemblies go to one temp folder per test file, removed after the file's tests
 * (without `outdir`, CDK leaves a /tmp/cdk.outXXXX folder with bundled assets per App).
 */
let assemblyRoot: string | null = null;
function assemblyDir(): string {
  assemblyRoot ??= mkdtempSync(join(tmpdir(), 'vault-cdk-test-'));
  return mkdtempSync(join(assemblyRoot, 'app-'));
}
afterAll(() => {
  if (assemblyRoot) rmSync(assemblyRoot, { recursive: true, force: true });
  assemblyRoot = null;
});

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DeletionPolicy?: string;
  DependsOn?: string | string[];
  UpdateReplacePolicy?: string;
}

export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: unknown;
  Principal?: unknown;
}

/**
 * Builds the whole app from context. `full: false` skips esbuild (CDK's
 * `aws:cdk:bundling-stacks` = []) and CDK's built-in CloudFormation validation (~10 s of WASM)
 * for tests that only look at one more variant of the templates.
 */
export function buildApp(context: Record<string, unknown>, full = true): { app: App; stacks: VaultStacks } {
  const app = new App({
    outdir: assemblyDir(),
    context: { ...context, ...(full ? {} : { 'aws:cdk:bundling-stacks': [] }) },
    builtinCloudFormationValidation: full,
  });
  const stacks = buildVaultApp(app, readConfig(app.node));
  return { app, stacks };
}

export function resources(template: Template, type?: string): Record<string, CfnResource> {
  const all = template.toJSON().Resources as Record<string, CfnResource>;
  return Object.fromEntries(Object.entries(all).filter(([, r]) => type === undefined || r.Type === type));
}

export function asList<T>(v: T | T[] | undefined): T[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Every IAM statement in the template, with the logical id of what holds it. */
export function iamStatements(template: Template): { holder: string; statement: PolicyStatementJson }[] {
  const out: { holder: string; statement: PolicyStatementJson }[] = [];
  for (const [id, r] of Object.entries(resources(template))) {
    const props = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      const doc = props.PolicyDocument as { Statement: PolicyStatementJson[] };
      for (const s of doc.Statement) out.push({ holder: id, statement: s });
    }
    if (r.Type === 'AWS::IAM::Role' || r.Type === 'AWS::IAM::User') {
      for (const p of asList(props.Policies as { PolicyDocument: { Statement: PolicyStatementJson[] } }[] | undefined)) {
        for (const s of p.PolicyDocument.Statement) out.push({ holder: id, statement: s });
      }
    }
  }
  return out;
}

/** The logical ids a policy attaches to (Roles/Users refs). */
export function policyTargets(r: CfnResource): string[] {
  const props = r.Properties ?? {};
  return [...asList(props.Roles as unknown[]), ...asList(props.Users as unknown[])].map((x) => (x as { Ref: string }).Ref);
}

/** Actions of the statements held by policies attached to `roleOrUser` (plus its inline policies). */
export function actionsOf(template: Template, roleOrUser: string): { action: string; resource: unknown }[] {
  const out: { action: string; resource: unknown }[] = [];
  const all = resources(template);
  for (const [id, r] of Object.entries(all)) {
    const attached = (r.Type === 'AWS::IAM::Policy' && policyTargets(r).includes(roleOrUser)) || id === roleOrUser;
    if (!attached) continue;
    for (const { holder, statement } of iamStatements(template)) {
      if (holder !== id) continue;
      for (const a of asList(statement.Action)) for (const res of asList(statement.Resource)) out.push({ action: a, resource: res });
    }
  }
  return out;
}

/** The logical id of the one resource of `type` whose logical id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(resources(template, type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0] as string;
}
