/** The single DynamoDB table of the API (key schema shared with lambdas/store/table-definition). */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { GSI1, OPS_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from '../lambdas/store/table-definition.js';

export interface DataStackProps extends StackProps {
  tableName: string;
}

export class DataStack extends Stack {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: TABLE_KEYS.partition, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sort, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: GSI1.name,
      partitionKey: { name: GSI1.partition, type: dynamodb.AttributeType.STRING },
      sortKey: { name: GSI1.sort, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Sparse work queue of the ops job (see OPS_INDEX): it queries what is due instead of scanning.
    this.table.addGlobalSecondaryIndex({
      indexName: OPS_INDEX.name,
      partitionKey: { name: OPS_INDEX.partition, type: dynamodb.AttributeType.STRING },
      sortKey: { name: OPS_INDEX.sort, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
    new CfnOutput(this, 'TableName', { value: props.tableName, description: 'DynamoDB table of the API' });
  }
}
