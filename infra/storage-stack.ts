/** One S3 bucket for one storage region: private, TLS-only, SSE-S3 by default, SSE-C allowed. */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { StorageRegion } from '../lambdas/domain/regions.js';
import { bucketName } from './names.js';

export interface StorageStackProps extends StackProps {
  prefix: string;
  storageRegion: StorageRegion;
  account: string | undefined;
}

export class StorageStack extends Stack {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageStackProps) {
    super(scope, id, props);
    const { storageRegion } = props;
    this.bucket = new s3.Bucket(this, 'Archives', {
      bucketName: bucketName(props.prefix, storageRegion.id, props.account),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      // Since April 2026 new buckets block SSE-C unless the rule says otherwise; passphrase-
      // protected backups are SSE-C objects (spec §7.1), so nothing may be blocked.
      blockedEncryptionTypes: [s3.BlockedEncryptionType.NONE],
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      lifecycleRules: [{ id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(2) }],
      // No CORS: archives move between Moodle/vault-agent (server side) and S3, never a browser.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new CfnOutput(this, 'BucketName', {
      value: this.bucket.bucketName,
      description: `Archive bucket for storage region ${storageRegion.id} (${storageRegion.label}, ${storageRegion.awsRegion})`,
    });
  }
}
