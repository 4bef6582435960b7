import { rm } from 'node:fs/promises';

import {
  cleanupDir,
  isPortClash,
  makePeerDir,
  ManagedProcess,
  type ProcessSpec,
} from './process-peer.js';

/**
 * A peer made of one or more processes sharing one dir; processes start in order, stop in
 * reverse. The dir goes on stop unless a process crashed or MAILMESH_KEEP_PEERS=1.
 */
export class PeerProcesses {
  readonly name: string;
  readonly dir: string;
  readonly processes: readonly ManagedProcess[];
  private stopping: Promise<void> | undefined;

  constructor(name: string, dir: string, specs: readonly ProcessSpec[]) {
    this.name = name;
    this.dir = dir;
    this.processes = specs.map((spec) => new ManagedProcess(dir, spec));
  }

  get main(): ManagedProcess {
    const last = this.processes.at(-1);
    if (last === undefined) throw new Error(`${this.name}: no processes`);
    return last;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const p of [...this.processes].reverse()) await p.stop();
      const crashed = this.processes.some((p) => p.crashed !== undefined);
      await cleanupDir(this.name, this.dir, crashed);
    })();
    return this.stopping;
  }
}

/**
 * Makes a dir, lets `build` write config and return process specs, starts them in order.
 * A failed start stops what did start; the dir stays for its logs (path in the error), unless
 * the failure was a lost port race, in which case everything is retried with fresh ports.
 */
export async function launch(
  name: string,
  build: (dir: string) => Promise<readonly ProcessSpec[]>,
  tries = 3,
): Promise<PeerProcesses> {
  for (let attempt = 1; ; attempt++) {
    const dir = await makePeerDir(name);
    const peer = new PeerProcesses(name, dir, await build(dir));
    try {
      for (const p of peer.processes) await p.start();
      return peer;
    } catch (error) {
      for (const p of [...peer.processes].reverse()) await p.stop();
      if (attempt < tries && isPortClash(error)) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      throw error;
    }
  }
}
