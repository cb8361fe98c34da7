import { Metrics } from '../../../src/kernel/metrics';

describe('jeugdbrug_audit_verify_ok', () => {
  async function ok(metrics: Metrics, tenant: string): Promise<number | undefined> {
    const values = (await metrics.auditVerifyOk.get()).values;
    return values.find((v) => v.labels.tenant === tenant)?.value;
  }

  it("keeps a whole verification's failure until a whole verification passes, whatever the scheduled check says", async () => {
    const metrics = new Metrics({ queueDepths: () => Promise.resolve([]) });
    metrics.recordAuditVerify('01234567', true, { scheduled: true });
    expect(await ok(metrics, '01234567')).toBe(1);
    // A whole verification found an old row changed; the scheduled check reads only the rows since the newest
    // signed checkpoint and would not see it.
    metrics.recordAuditVerify('01234567', false);
    metrics.recordAuditVerify('01234567', true, { scheduled: true });
    expect(await ok(metrics, '01234567')).toBe(0);
    // Another chain is not affected; a scheduled contradiction is a 0 of its own.
    metrics.recordAuditVerify('07654321', false, { scheduled: true });
    expect(await ok(metrics, '07654321')).toBe(0);
    metrics.recordAuditVerify('07654321', true, { scheduled: true });
    expect(await ok(metrics, '07654321')).toBe(1);
    metrics.recordAuditVerify('01234567', true);
    expect(await ok(metrics, '01234567')).toBe(1);
  });
});
