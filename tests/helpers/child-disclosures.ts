import { disclosure, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { MUNICIPALITY, PRACTICE_AGB } from './builders';
import type { TestApp } from './test-runtime';

/** Appends `count` referral disclosures of the child to the municipality (rows 1…count of the practice's chain). */
export async function appendChildDisclosures(app: TestApp, bsn: string, count: number, label: string): Promise<void> {
  for (let n = 1; n <= count; n++) {
    await app.rt.ctx.audit.append(
      PRACTICE_AGB,
      disclosure({
        actor: SYSTEM_WORKER,
        outcome: '0',
        patientBsn: bsn,
        inboxId: `${label}-${n}`,
        municipality: MUNICIPALITY,
        destination: 'gm0226',
        purpose: 'referral',
        resources: ['Patient/p', `ServiceRequest/sr-${n}`],
      }),
    );
  }
  await app.rt.ctx.audit.flush();
}
