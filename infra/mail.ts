/**
 * Sign-in mail through Amazon SES: the SES identity of the sender and the account function's
 * right to send from that one address only (docs/deploy.md, docs/web.md).
 */
import { CfnOutput, Fn } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as ses from 'aws-cdk-lib/aws-ses';
import type { Construct } from 'constructs';

/**
 * Creates the SES identity for `mailFrom` (its domain, whose DKIM records the operator publishes, or
 * the single address, which SES verifies by mail) and lets `fn` call `ses:SendEmail` on that
 * identity with `mailFrom` as the only From address.
 */
export function grantSignInMail(scope: Construct, fn: lambda.IFunction, mailFrom: string, kind: 'domain' | 'email'): ses.EmailIdentity {
  const domain = mailFrom.slice(mailFrom.lastIndexOf('@') + 1).toLowerCase();
  const identity = new ses.EmailIdentity(scope, 'MailIdentity', {
    identity: kind === 'domain' ? ses.Identity.domain(domain) : ses.Identity.email(mailFrom),
  });
  fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ['ses:SendEmail'],
    resources: [identity.emailIdentityArn],
    conditions: { StringEquals: { 'ses:FromAddress': mailFrom } },
  }));
  if (kind === 'domain') {
    identity.dkimRecords.forEach((r, i) => {
      new CfnOutput(scope, `MailDkimRecord${i + 1}`, {
        description: `CNAME record ${i + 1} to publish for SES DKIM of ${domain}`,
        value: Fn.join(' ', [r.name, 'CNAME', r.value]),
      });
    });
  }
  return identity;
}
