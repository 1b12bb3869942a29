/** The upload id of an InitiateMultipartUpload reply, read as text whatever it looks like. */
import { describe, expect, it } from 'vitest';
import { initiatedUploadId } from '../../src/transfer/upload.js';

describe('initiatedUploadId', () => {
  it('reads the id of S3 and RGW replies, entities decoded, digits kept as text', () => {
    expect(initiatedUploadId('<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>2~abc&amp;def</UploadId></InitiateMultipartUploadResult>')).toBe('2~abc&def');
    expect(initiatedUploadId('<InitiateMultipartUploadResult>\n  <UploadId> 0012345 </UploadId>\n</InitiateMultipartUploadResult>')).toBe('0012345');
  });

  it('is empty for an error reply or anything else', () => {
    expect(initiatedUploadId('<Error><Code>AccessDenied</Code><UploadId>x</UploadId></Error>')).toBe('');
    expect(initiatedUploadId('<InitiateMultipartUploadResult></InitiateMultipartUploadResult>')).toBe('');
    expect(initiatedUploadId('not xml at all')).toBe('');
  });
});
