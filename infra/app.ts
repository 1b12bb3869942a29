/** CDK entry point (`cdk.json`: `npx tsx infra/app.ts`). Configuration: see infra/config.ts. */
import { App } from 'aws-cdk-lib';
import { readConfig } from './config.js';
import { buildVaultApp } from './vault-app.js';

const app = new App();
buildVaultApp(app, readConfig(app.node));
app.synth();
