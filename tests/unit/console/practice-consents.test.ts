import { consentsHtml } from '../../../src/http/console/practice-pages';

/** A Consent's people in the practice console (rev-late1 7): one that names no one says so. */
describe("the practice console's consents in words", () => {
  const words = (fragment: string) =>
    fragment
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();

  it('says "onbekend" / "unknown" for an objection whose Consent has no performer, not "Bezwaar van:" alone', () => {
    const objection = {
      resourceType: 'Consent' as const,
      status: 'active' as const,
      scope: {},
      category: [],
      provision: { type: 'deny' as const },
    };
    expect(words(String(consentsHtml('nl', [objection], () => [])))).toBe('Bezwaar van: onbekend');
    expect(words(String(consentsHtml('en', [objection], () => [])))).toBe('Objection by: unknown');
  });
});
