import { buildReferralEvent } from './builders';
import { TestReceiver } from './receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from './test-runtime';

/** A test app whose stages a test calls itself, with the receiver it delivers to and a way to receive referrals. */
export interface StageApp {
  readonly app: TestApp;
  readonly receiver: TestReceiver;
  /** POSTs `count` referrals in one request; their inbox ids. */
  readonly receive: (count: number) => Promise<string[]>;
}

/**
 * Starts, for the tests of a describe block, an app with ROLE=api (no worker takes the jobs, so a test calls the map
 * and deliver stages itself and knows every job that runs) delivering to a stand-in receiver; stops both after.
 */
export function useStageApp(): StageApp {
  let app: TestApp | undefined;
  let receiver: TestReceiver | undefined;
  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url, env: { ROLE: 'api' } });
  });
  afterAll(async () => {
    await app?.close();
    await receiver?.stop();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });
  const started = <T>(value: T | undefined): T => {
    if (!value) {
      throw new Error('the stage app is started in beforeAll');
    }
    return value;
  };
  return {
    get app() {
      return started(app);
    },
    get receiver() {
      return started(receiver);
    },
    receive: async (count) => {
      const res = await started(app).request('/his/v1/events', {
        json: Array.from({ length: count }, () => buildReferralEvent()),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
    },
  };
}
