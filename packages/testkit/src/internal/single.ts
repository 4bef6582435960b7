import type { ProcessPeer } from '../types.js';
import type { PeerProcesses } from './peer.js';

/** ProcessPeer over a PeerProcesses whose last process is the one kill()/restart() act on. */
export class SingleProcessPeer implements ProcessPeer {
  protected readonly peer: PeerProcesses;

  constructor(peer: PeerProcesses) {
    this.peer = peer;
  }

  get dir(): string {
    return this.peer.dir;
  }

  get logFile(): string {
    return this.peer.main.logFile;
  }

  get pid(): number | undefined {
    return this.peer.main.pid;
  }

  kill(signal?: NodeJS.Signals): Promise<void> {
    return this.peer.main.kill(signal);
  }

  restart(): Promise<void> {
    return this.peer.main.restart();
  }

  stop(): Promise<void> {
    return this.peer.stop();
  }
}
