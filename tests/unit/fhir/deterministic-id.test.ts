import { createHash } from 'node:crypto';
import { deterministicId, isUuid } from '../../../src/kernel/fhir/ids';
import { resourceIds } from '../../../mappings/his/shared/resource-ids';
import { prng } from '../../helpers/prng';

/**
 * The ids every stored resource and every municipality already holds: a change in how they are computed must not
 * change one of them. The reference is the computation as first written, on a Hash object and a Buffer.
 */
function reference(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u001f')).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

describe('deterministicId', () => {
  it('gives the ids it always gave', () => {
    expect(deterministicId('01234567', 'Patient', 'child-1')).toBe(reference('01234567', 'Patient', 'child-1'));
    expect(deterministicId('01234567', 'Patient', 'child-1')).toBe('660ae108-5312-5761-8b8b-a59ee0ace18c');
  });

  it('equals the reference on every variant digit and on any text, and is a UUID', () => {
    const random = prng(7);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const parts = Array.from({ length: 1 + Math.floor(random() * 4) }, () =>
        String.fromCharCode(
          ...Array.from({ length: Math.floor(random() * 12) }, () => 32 + Math.floor(random() * 400)),
        ),
      );
      const id = deterministicId(...parts);
      expect(id).toBe(reference(...parts));
      expect(isUuid(id)).toBe(true);
      seen.add(id[19] as string);
    }
    expect([...seen].sort()).toEqual(['8', '9', 'a', 'b']);
  });
});

describe('resourceIds', () => {
  it('gives each id as computed from its parts, however calls for other children and practices come between', () => {
    const random = prng(11);
    const agbs = ['01234567', '07654321'];
    const ids = ['child-1', 'child-2', 'traj-1', ''];
    for (let i = 0; i < 2000; i++) {
      const agb = agbs[Math.floor(random() * 2)] as string;
      const a = ids[Math.floor(random() * 4)] as string;
      const b = ids[Math.floor(random() * 4)] as string;
      expect(resourceIds.patient(agb, a)).toBe(reference(agb, 'Patient', a));
      expect(resourceIds.episodeOfCare(agb, b)).toBe(reference(agb, 'EpisodeOfCare', b));
      expect(resourceIds.relatedPerson(agb, a, b)).toBe(reference(agb, 'RelatedPerson', a, b));
    }
  });
});
