import type { KeyName, TestApp } from './test-runtime';

/**
 * Asserts that the child's overview lists every AuditEvent that a search by the child finds, for one caller: the
 * search first, then the overview, which also lists the search's own read of the child's data and nothing else.
 */
export async function expectOverviewToShowWhatSearchFinds(app: TestApp, bsn: string, key: KeyName): Promise<void> {
  await app.rt.ctx.audit.flush();
  const found: string[] = [];
  for (let url = `/fhir/AuditEvent?patient=${bsn}&_count=500`; url !== '';) {
    const res = await app.request(url.replace(/^https?:\/\/[^/]+/, ''), { key });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as {
      entry?: { resource: { id: string } }[];
      link?: { relation: string; url: string }[];
    };
    found.push(...(bundle.entry ?? []).map((e) => `AuditEvent/${e.resource.id}`));
    url = bundle.link?.find((l) => l.relation === 'next')?.url ?? '';
  }
  expect(found.length).toBeGreaterThan(0);
  const res = await app.request(`/audit/v1/overview?patient=${bsn}`, { key });
  expect(res.status).toBe(200);
  const overview = (await res.json()) as { entries: { auditEvent: string }[]; accesses: { auditEvent: string }[] };
  const listed = [...overview.entries, ...overview.accesses].map((e) => e.auditEvent);
  expect(listed).toEqual(expect.arrayContaining(found));
  // Beside them: the search's own AuditEvent (one per chain it read), which names the child too.
  const extra = [...overview.accesses].filter((a) => !found.includes(a.auditEvent));
  expect(listed.length - found.length).toBe(extra.length);
  expect(overview.entries.every((e) => found.includes(e.auditEvent))).toBe(true);
}
