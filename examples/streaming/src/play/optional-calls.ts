import { type Logger, NotFoundError } from '@flotilla/core';
import type { TypedClient } from '@flotilla/service';
import type { Static } from '@sinclair/typebox';
import type { bookmarks } from '../contracts/bookmarks.js';
import type { catalog, Title } from '../contracts/catalog.js';
import { isRemoteNotFound } from './errors.js';
import type { LastGood } from './last-good.js';

/**
 * The calls a play can do without. Each gets a short budget of its own (`timeoutMs`, retries
 * included), well inside the play's deadline: a slow bookmarks or catalog costs the user that
 * budget at most, then the fallback answers.
 */

/** Where to resume: the bookmark, else the start (no bookmark, or bookmarks down or slow). */
export async function resumePosition(
  client: TypedClient<typeof bookmarks>,
  key: { userId: string; titleId: string },
  timeoutMs: number,
  log: Logger,
): Promise<{ positionSeconds: number; from: 'bookmark' | 'start' }> {
  try {
    const bookmark = await client.get({ params: key }, { timeoutMs });
    return { positionSeconds: bookmark.positionSeconds, from: 'bookmark' };
  } catch (error) {
    if (!isRemoteNotFound(error)) log.warn({ err: error }, 'bookmarks unavailable; starting at 0');
    return { positionSeconds: 0, from: 'start' };
  }
}

type TitleInfo = Static<typeof Title>;

/**
 * The title's metadata from the catalog, else the last good answer this instance saw (stale
 * metadata beats none: names and ratings rarely change), else null. A 404 is passed on: the
 * title does not exist.
 */
export async function titleInfo(
  client: TypedClient<typeof catalog>,
  titleId: string,
  cache: LastGood<TitleInfo>,
  timeoutMs: number,
  log: Logger,
): Promise<(TitleInfo & { from: 'catalog' | 'cache' }) | null> {
  try {
    const title = await client.title({ params: { titleId } }, { timeoutMs });
    cache.set(titleId, title);
    return { ...title, from: 'catalog' };
  } catch (error) {
    if (isRemoteNotFound(error)) throw new NotFoundError(`No title ${titleId}`, { data: { titleId } });
    const cached = cache.get(titleId);
    log.warn(
      { err: error, titleId, cached: cached !== undefined },
      'catalog unavailable; answering from cache',
    );
    return cached ? { ...cached, from: 'cache' } : null;
  }
}
