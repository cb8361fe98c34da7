import { randomBytes } from 'node:crypto';
import { getPseudonymiser } from '../../../src/event/report-pseudonym';

describe('the inbox child key (inbox.child_key)', () => {
  const config = { REPORT_PSEUDONYM_KEY: randomBytes(32).toString('base64'), dataDir: '' };
  const p = getPseudonymiser(config);

  it('is the same for one child at one practice, and no BSN, digit or reporting pseudonym', () => {
    const key = p.inboxChildKey('01234567', '111222333');
    expect(key).toBe(getPseudonymiser({ ...config }).inboxChildKey('01234567', '111222333'));
    expect(key).toMatch(/^[a-p]{32}$/);
    expect(key).not.toBe(p.pseudonym('01234567', '111222333'));
    expect(key).not.toBe(p.inboxChildKey('01234567', '123456782'));
  });

  it('differs between practices, and under another master key', () => {
    expect(p.inboxChildKey('01234567', '111222333')).not.toBe(p.inboxChildKey('07654321', '111222333'));
    const other = getPseudonymiser({ REPORT_PSEUDONYM_KEY: randomBytes(32).toString('base64'), dataDir: '' });
    expect(other.inboxChildKey('01234567', '111222333')).not.toBe(p.inboxChildKey('01234567', '111222333'));
  });
});

describe('pseudonyms already stored', () => {
  // The reporting store and the inbox keep these: under the same master key they must never change.
  const p = getPseudonymiser({ REPORT_PSEUDONYM_KEY: Buffer.alloc(32, 7).toString('base64'), dataDir: '' });

  it('are the first 128 bits of the HMAC, each hex digit written as a letter from a to p', () => {
    expect(p.pseudonym('0363', 'bsn/111222333')).toBe('loidaahnbphiomfgfnnhkieojabeclkb');
    expect(p.pseudonym('0599', 'ServiceRequest/ab')).toBe('nbigheolpnnjgbhconhcepbgchijafpc');
    expect(p.inboxChildKey('01234567', '111222333')).toBe('cihcniogehaalodphdaimnhbijinmjak');
  });
});
