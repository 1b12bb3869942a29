/**
 * Sign-in mail in the stack (infra/mail.ts): with `mailFrom` the account function may send through
 * SES from that one address of one SES identity, and gets MAIL_FROM; without it, no SES at all.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { actionsOf, buildApp, iamStatements, logicalId, resources } from './template-helpers.js';

function accountEnv(api: Template): Record<string, unknown> {
  const id = logicalId(api, 'AWS::Lambda::Function', 'AccountFunction');
  return (resources(api)[id]?.Properties?.Environment as { Variables: Record<string, unknown> }).Variables;
}

describe('sign-in mail', () => {
  it('creates the domain identity, grants ses:SendEmail on it from mailFrom only, and sets MAIL_FROM', () => {
    const { stacks } = buildApp({ regions: 'eu', mailFrom: 'no-reply@mail.example.org', directRegister: 'false' }, false);
    const api = Template.fromStack(stacks.api);
    api.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'mail.example.org' });
    const identity = logicalId(api, 'AWS::SES::EmailIdentity', 'MailIdentity');
    const account = logicalId(api, 'AWS::IAM::Role', 'AccountRole');
    const ses = actionsOf(api, account).filter((g) => g.action.startsWith('ses:'));
    expect(ses.map((g) => g.action)).toEqual(['ses:SendEmail']);
    expect(JSON.stringify(ses[0]?.resource)).toContain(identity);
    const statement = iamStatements(api).map((s) => s.statement).find((s) => JSON.stringify(s.Action).includes('ses:'));
    expect(statement?.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'no-reply@mail.example.org' } });
    for (const fn of ['SiteRole', 'OpsRole']) expect(actionsOf(api, logicalId(api, 'AWS::IAM::Role', fn)).filter((g) => g.action.startsWith('ses:'))).toEqual([]);
    expect(accountEnv(api)).toMatchObject({ MAIL_FROM: 'no-reply@mail.example.org', DIRECT_REGISTER: 'false' });
    expect(Object.keys(api.toJSON().Outputs as object).filter((k) => k.startsWith('MailDkimRecord'))).toHaveLength(3);
  });

  it('can verify a single address instead of a domain', () => {
    const { stacks } = buildApp({ regions: 'eu', mailFrom: 'me@example.org', mailIdentity: 'email' }, false);
    Template.fromStack(stacks.api).hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'me@example.org' });
  });

  it('has no SES identity, no SES right and no MAIL_FROM without mailFrom', () => {
    const { stacks } = buildApp({ regions: 'eu' }, false);
    const api = Template.fromStack(stacks.api);
    api.resourceCountIs('AWS::SES::EmailIdentity', 0);
    expect(iamStatements(api).filter((s) => JSON.stringify(s.statement.Action).includes('ses:'))).toEqual([]);
    expect(accountEnv(api).MAIL_FROM).toBeUndefined();
    expect(accountEnv(api).DIRECT_REGISTER).toBeUndefined();
  });

  it('refuses a mailFrom that is not an address', () => {
    expect(() => buildApp({ regions: 'eu', mailFrom: 'nobody' }, false)).toThrow(/mailFrom/);
  });
});
