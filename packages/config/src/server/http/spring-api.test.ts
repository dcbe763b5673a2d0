import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { TEST_KEYS, TOKENS } from '../../test-support.js';
import { TokenAuth } from '../auth.js';
import { ConfigServer } from '../config-server.js';
import { KeyRing, parseKey } from '../secrets.js';
import { DirectorySource } from '../sources/directory-source.js';
import { SPRING_V2_JSON } from '../spring.js';

/**
 * The shapes Spring Cloud Config clients parse (`org.springframework.cloud.config.environment.
 * Environment`): property sources most specific first, flattened keys, profiles as a list,
 * label as sent, `{value, origin}` pairs for the v2 media type, `invalid.<key>` markers.
 */
describe('Spring Cloud Config API', () => {
  let temp: TempDir;
  let server: ConfigServer;
  const keys = new KeyRing([parseKey('k1', TEST_KEYS.k1, 't')]);
  const secret = keys.encrypt('spring-secret-value');
  const tampered = `${secret.slice(0, -6)}AAAAAA`;
  const basic = `Basic ${Buffer.from(`foo:${TOKENS.orders}`).toString('base64')}`;

  const get = (url: string, headers: Record<string, string> = {}) =>
    server.app.inject({ method: 'GET', url, headers });

  beforeAll(async () => {
    temp = await makeTempDir('config-spring');
    const files: Record<string, string> = {
      'application.yml': 'info:\n  description: shared\nmanagement.endpoints: [health, info]\n',
      'application-dev.yml': 'logging:\n  level:\n    root: DEBUG\n',
      'foo.yml': 'foo: from foo\nbar:\n  baz: 1\n  list:\n    - a\n    - name: b\n',
      'foo-dev.yml': 'foo: from foo development\n',
      'foo-db.yml': `db:\n  password: '${secret}'\n  broken: '${tampered}'\n`,
      'foo@^2.yml': 'foo: from foo 2.x\n',
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(temp.dir, name), text);
    server = new ConfigServer({
      sources: [new DirectorySource({ dir: temp.dir, displayDir: 'config' })],
      keys,
      auth: TokenAuth.fromEnv({ FLOTILLA_CONFIG_TOKENS: `foo=${TOKENS.orders}` }),
    });
    await server.start();
  });

  afterAll(async () => {
    await server.close();
    await temp.remove();
  });

  it('GET /{application}/{profile} returns the Environment JSON exactly as Spring clients read it', async () => {
    const res = await get('/foo/dev,db', { accept: 'application/json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['name', 'profiles', 'label', 'version', 'state', 'propertySources']);
    expect(body).toEqual({
      name: 'foo',
      profiles: ['dev', 'db'],
      label: null,
      version: expect.stringMatching(/^[0-9a-f]{16}$/),
      state: null,
      propertySources: [
        { name: 'file:config/foo-db.yml', source: { 'db.password': secret, 'db.broken': tampered } },
        { name: 'file:config/foo-dev.yml', source: { foo: 'from foo development' } },
        {
          name: 'file:config/foo.yml',
          source: { foo: 'from foo', 'bar.baz': 1, 'bar.list[0]': 'a', 'bar.list[1].name': 'b' },
        },
        { name: 'file:config/application-dev.yml', source: { 'logging.level.root': 'DEBUG' } },
        {
          name: 'file:config/application.yml',
          source: {
            'info.description': 'shared',
            'management.endpoints[0]': 'health',
            'management.endpoints[1]': 'info',
          },
        },
      ],
    });
  });

  it('decrypts for an authenticated client (Basic, token as password) and marks what fails as invalid.<key>', async () => {
    const body = (await get('/foo/db', { authorization: basic })).json();
    expect(body.propertySources[0]).toEqual({
      name: 'file:config/foo-db.yml',
      source: { 'db.password': 'spring-secret-value', 'invalid.db.broken': '<n/a>' },
    });
  });

  it('answers the v2 media type with {value, origin} pairs', async () => {
    const res = await get('/foo/dev', { accept: SPRING_V2_JSON });
    expect(res.headers['content-type']).toMatch(/^application\/vnd\.spring-cloud\.config-server\.v2\+json/);
    const body = res.json();
    expect(body.propertySources[0]).toEqual({
      name: 'file:config/foo-dev.yml',
      source: { foo: { value: 'from foo development', origin: 'line 1' } },
    });
    expect(body.propertySources[1].source['bar.list[1].name']).toEqual({ value: 'b', origin: 'line 4' });
  });

  it('echoes the label (with Spring’s (_) for /) and uses a semver label as the version', async () => {
    const branch = (await get('/foo/dev/feature(_)x')).json();
    expect(branch.label).toBe('feature/x');
    expect(branch.propertySources.map((p: { name: string }) => p.name)).not.toContain(
      'file:config/foo@^2.yml',
    );
    const versioned = (await get('/foo/dev/2.1.0')).json();
    expect(versioned.label).toBe('2.1.0');
    expect(versioned.propertySources[0]).toEqual({
      name: 'file:config/foo@^2.yml',
      source: { foo: 'from foo 2.x' },
    });
  });

  it('serves /{application}-{profile}.yml and .properties, merged, with or without a label', async () => {
    const yml = await get('/foo-dev.yml');
    expect(yml.headers['content-type']).toMatch(/^text\/plain/);
    expect(parse(yml.body)).toEqual({
      info: { description: 'shared' },
      management: { endpoints: ['health', 'info'] },
      logging: { level: { root: 'DEBUG' } },
      foo: 'from foo development',
      bar: { baz: 1, list: ['a', { name: 'b' }] },
    });
    const props = await get('/main/foo-dev.properties');
    expect(props.body).toBe(
      [
        'bar.baz: 1',
        'bar.list[0]: a',
        'bar.list[1].name: b',
        'foo: from foo development',
        'info.description: shared',
        'logging.level.root: DEBUG',
        'management.endpoints[0]: health',
        'management.endpoints[1]: info',
        '',
      ].join('\n'),
    );
    const json = await get('/order-service-dev.json');
    expect(json.json()).toEqual({
      info: { description: 'shared' },
      management: { endpoints: ['health', 'info'] },
      logging: { level: { root: 'DEBUG' } },
    });
  });

  it('gives an unknown application the shared layers and refuses bad names with 400', async () => {
    const body = (await get('/nobody/default')).json();
    expect(body.propertySources.map((p: { name: string }) => p.name)).toEqual([
      'file:config/application.yml',
    ]);
    const bad = await get('/fo%20o/default');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('/params/application');
    expect((await get('/not-a-document.txt')).statusCode).toBe(404);
  });
});
