#!/usr/bin/env node
// Development entry: runs the TypeScript source through tsx's ESM loader (no build step).
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv);
