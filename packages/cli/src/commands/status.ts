import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CommandDefinition } from '@flotilla/core';

interface State {
  pid: number;
  startedAt: string;
  manifest?: string;
  registryUrl: string;
  components: { name: string; url: string; pid?: number; status: string }[];
}

interface RegistryInstance {
  instanceId: string;
  host: string;
  port: number;
  status: string;
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function registryView(url: string): Promise<Map<string, RegistryInstance[]> | undefined> {
  try {
    const services = (await (
      await fetch(`${url}/v1/services`, { signal: AbortSignal.timeout(2_000) })
    ).json()) as string[] | { name: string }[];
    const names = services.map((s) => (typeof s === 'string' ? s : s.name));
    const out = new Map<string, RegistryInstance[]>();
    for (const name of names) {
      const body = (await (
        await fetch(`${url}/v1/services/${encodeURIComponent(name)}/instances`)
      ).json()) as {
        instances: RegistryInstance[];
      };
      out.set(name, body.instances);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** `flotilla status`: what the `flotilla up` of this directory runs, and what the registry lists. */
export const statusCommand: CommandDefinition = {
  name: 'status',
  summary: 'Show what `flotilla up` runs here and where, and the registry’s view of the services',
  async run(_args, io) {
    let state: State;
    try {
      state = JSON.parse(await readFile(resolve(io.cwd, '.flotilla', 'up.json'), 'utf8')) as State;
    } catch {
      io.stdout.write('No system is running here (no .flotilla/up.json); start one with `flotilla up`.\n');
      return 1;
    }
    if (!alive(state.pid)) {
      io.stdout.write(`flotilla up (pid ${state.pid}) is not running any more.\n`);
      return 1;
    }
    io.stdout.write(
      `flotilla up     pid ${state.pid}, since ${state.startedAt}${state.manifest ? `, ${state.manifest}` : ''}\n\n`,
    );
    io.stdout.write('PROCESS                  PID      STATE     URL\n');
    for (const c of state.components) {
      const running = alive(c.pid) ? 'running' : 'gone';
      io.stdout.write(
        `${c.name.padEnd(24)} ${String(c.pid ?? '-').padEnd(8)} ${running.padEnd(9)} ${c.url}\n`,
      );
    }
    const registry = await registryView(state.registryUrl);
    if (!registry) {
      io.stdout.write(`\nThe registry at ${state.registryUrl} does not answer.\n`);
      return 0;
    }
    io.stdout.write(`\nREGISTRY ${state.registryUrl}\n`);
    for (const [service, instances] of registry) {
      const up = instances.filter((i) => i.status === 'UP').length;
      io.stdout.write(`${service.padEnd(24)} ${up}/${instances.length} UP   `);
      io.stdout.write(`${instances.map((i) => `${i.host}:${i.port} ${i.status}`).join(', ')}\n`);
    }
    return 0;
  },
};
