import path from 'node:path';
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import { TestEnvironment } from 'jest-environment-node';
import { assertNoKeysLeft, startTrackingQueuePrefixes } from './queue-prefixes';

/**
 * Jest's node environment, plus one check when a test file ends (after its last afterAll): every queue prefix the file
 * made (`trackQueuePrefix`) holds no key in the shared Redis. A key left there is a test that did not clean up, or a
 * process it started that wrote on after its cleanup; either way it stays in the machine's Redis for good, and the
 * Redis-wide scans of other tests (no-personal-data) read it. The file fails, naming itself and the keys.
 */
export default class QueueKeysEnvironment extends TestEnvironment {
  private readonly testFile: string;
  private readonly prefixes: Set<string>;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    this.testFile = path.relative(config.projectConfig.rootDir, context.testPath);
    this.prefixes = startTrackingQueuePrefixes(this.global);
  }

  override async teardown(): Promise<void> {
    try {
      if (this.prefixes.size > 0) {
        await assertNoKeysLeft(this.testFile, this.prefixes);
      }
    } finally {
      await super.teardown();
    }
  }
}
