import { createHash } from 'node:crypto';
import { canonicalizeJcs } from '../../../src/audit/chain';
import { agreementDigest, auditedAgreement, buildRegistry } from '../../../src/event/registry';
import { buildAgreement } from '../../helpers/builders';

// An agreement edited without a new version must not look the same in the audit as before the edit (xnewcomer F11).
describe('the digest of an agreement, recorded with its version', () => {
  const registryOf = (overrides: Record<string, unknown>) =>
    buildRegistry({ agreements: [buildAgreement(overrides)], destinations: [] });

  it('is SHA-256 over the JCS canonical JSON of the agreement as read, whatever the order of its fields', () => {
    const agreement = registryOf({}).agreements[0]!;
    const reordered = Object.fromEntries(Object.entries(buildAgreement({})).reverse());
    const again = buildRegistry({ agreements: [reordered], destinations: [] }).agreements[0]!;
    const expected = `sha256:${createHash('sha256').update(canonicalizeJcs(agreement)).digest('hex')}`;
    expect(agreementDigest(agreement)).toBe(expected);
    expect(agreementDigest(again)).toBe(expected);
  });

  it('differs when the content changes under the same id and version', () => {
    const before = registryOf({});
    const after = registryOf({ purposes: ['referral'] });
    expect(after.agreements[0]!.version).toBe(before.agreements[0]!.version);
    const ref = { id: before.agreements[0]!.id, version: before.agreements[0]!.version };
    const a = auditedAgreement(before, ref);
    const b = auditedAgreement(after, ref);
    expect(a?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a?.digest).not.toBe(b?.digest);
  });

  it('is left out for an agreement the registry no longer holds, and there is none without an agreement', () => {
    const registry = registryOf({});
    expect(auditedAgreement(registry, { id: 'gone', version: 9 })).toEqual({ id: 'gone', version: 9 });
    expect(auditedAgreement(registry, undefined)).toBeUndefined();
  });
});
