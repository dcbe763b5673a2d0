/**
 * vitest global setup: decides once per run which PostgreSQL the tests use and tells the
 * workers through `provide`; starts an embedded PostgreSQL when no server answers.
 */
import type { TestProject } from 'vitest/node';
import { POSTGRES_KEY } from './provided.js';
import { choosePostgresForRun } from './servers/postgres-setup.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const postgres = await choosePostgresForRun();
  project.provide(POSTGRES_KEY, postgres.provided);
  return postgres.teardown;
}
