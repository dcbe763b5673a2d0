import { eventually } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, call } from './testing/http.js';
import { type StreamingSystem, startStreaming } from './testing/system.js';

const MATRIX = 'tt0133093';
const INTERSTELLAR = 'tt0816692';

interface Play {
  userId: string;
  license: { licenseId: string; keyId: string; drm: string; deviceType: string; expiresAt: string };
  manifest: {
    codec: string;
    cdnHost: string;
    streams: { height: number; bitrateKbps: number; url: string }[];
  };
  resume: { positionSeconds: number; from: string };
  title: { name: string; from: string } | null;
  code?: string;
  errors?: { field: string }[];
}

let system: StreamingSystem;
beforeAll(async () => {
  system = await startStreaming([
    'subscriber',
    'device-license',
    'catalog',
    'playback',
    'bookmarks',
    'play-api',
  ]);
});
afterAll(async () => {
  await system?.close();
});

const play = (user: string | undefined, body: Record<string, unknown>) =>
  call<Play>(`${system.url('play-api')}/play`, {
    method: 'POST',
    headers: user === undefined ? {} : as(user),
    body: { device: 'tv', network: 'wifi', ...body },
  });

describe('the play flow', () => {
  it('gives alice a license, a manifest, her resume position and the title', async () => {
    const saved = await call(`${system.url('bookmarks')}/bookmarks/alice/${MATRIX}`, {
      method: 'PUT',
      body: { positionSeconds: 1234 },
    });
    expect(saved.status).toBe(200);

    const { status, body } = await play('alice', { titleId: MATRIX });
    expect(status).toBe(200);
    expect(body.userId).toBe('alice');
    expect(body.license).toMatchObject({
      drm: 'playready',
      deviceType: 'tv',
      licenseId: expect.stringMatching(/^lic-/),
    });
    // Premium on a TV over wifi: 4K, HEVC, from one of the configured edges.
    expect(body.manifest.codec).toBe('hevc');
    expect(body.manifest.streams[0]?.height).toBe(2160);
    expect(['cdn-a.streaming.example', 'cdn-b.streaming.example']).toContain(body.manifest.cdnHost);
    expect(body.manifest.streams[0]?.url).toMatch(
      new RegExp(`^https://${body.manifest.cdnHost}/titles/${MATRIX}/`),
    );
    expect(body.resume).toEqual({ positionSeconds: 1234, from: 'bookmark' });
    expect(body.title).toMatchObject({ name: 'The Matrix', from: 'catalog' });

    // Asked again within the hour: the same license, not a new one.
    const again = await play('alice', { titleId: MATRIX });
    expect(again.body.license.licenseId).toBe(body.license.licenseId);
  });

  it("caps bob's basic plan at standard definition and starts him at 0 without a bookmark", async () => {
    const { status, body } = await play('bob', {
      titleId: INTERSTELLAR,
      device: 'mobile',
      network: 'cellular',
    });
    expect(status).toBe(200);
    expect(body.manifest.streams.map((s) => s.height)).toEqual([480, 360]);
    expect(body.license.drm).toBe('widevine');
    expect(body.resume).toEqual({ positionSeconds: 0, from: 'start' });
  });

  it('refuses a cancelled or unknown account with 403 and a request without a principal with 401', async () => {
    const carol = await play('carol', { titleId: MATRIX });
    expect(carol.status).toBe(403);
    expect(carol.body.code).toBe('NOT_ENTITLED');
    const stranger = await play('mallory', { titleId: MATRIX });
    expect(stranger.status).toBe(403);
    const anonymous = await play(undefined, { titleId: MATRIX });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('UNAUTHENTICATED');
  });

  it('answers an unknown device type with a 400 naming the field', async () => {
    const { status, body } = await play('alice', { titleId: MATRIX, device: 'toaster' });
    expect(status).toBe(400);
    expect(body.errors?.map((e) => e.field)).toContain('/body/device');
  });

  it('applies a CDN host change from config to the next manifests, without a restart', async () => {
    await system.writeConfig(
      'playback.yaml',
      'cdn:\n  hosts: [cdn-z.streaming.example]\nfeatures:\n  av1: true\n',
    );
    await eventually(async () => {
      const { body } = await play('alice', { titleId: MATRIX });
      expect(body.manifest.cdnHost).toBe('cdn-z.streaming.example');
      expect(body.manifest.codec).toBe('av1');
      expect(body.manifest.streams.every((s) => s.url.startsWith('https://cdn-z.streaming.example/'))).toBe(
        true,
      );
    });
  });

  it('still plays, from position 0, while bookmarks is down', async () => {
    await system.stop('bookmarks');
    const { status, body } = await play('alice', { titleId: MATRIX });
    expect(status).toBe(200);
    expect(body.resume).toEqual({ positionSeconds: 0, from: 'start' });
  });

  it('answers with the cached title while catalog is down, and with none for a title it never saw', async () => {
    await system.stop('catalog');
    const seen = await play('alice', { titleId: MATRIX });
    expect(seen.status).toBe(200);
    expect(seen.body.title).toMatchObject({ name: 'The Matrix', from: 'cache' });
    const unseen = await play('alice', { titleId: 'tt1375666' });
    expect(unseen.status).toBe(200);
    expect(unseen.body.title).toBeNull();
  });
});
