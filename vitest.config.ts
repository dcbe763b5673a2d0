import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources in tests, so a test never runs
  // against a stale build of a sibling package.
  resolve: { conditions: ['flotilla-source'] },
  ssr: { resolve: { conditions: ['flotilla-source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
    globalSetup: ['packages/testkit/src/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: two workers keep the machine responsive for the servers under test.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
