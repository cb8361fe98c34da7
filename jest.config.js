/** Jest: TypeScript through SWC (no type-check here; `npm run typecheck` does that). */
module.exports = {
  // Node's, plus a check at each file's end that it left no key under its queue prefixes in the shared Redis.
  testEnvironment: '<rootDir>/tests/helpers/queue-keys-environment.ts',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60000,
  // Integration tests share one PostgreSQL and Redis; each uses its own schema and queue prefix.
  maxWorkers: 2,
};
