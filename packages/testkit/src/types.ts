/** A running test peer living in its own temp dir. */
export interface Peer {
  /** Private temp dir holding config, data and logs. */
  readonly dir: string;
  /** The main process's log (stdout + stderr), `<dir>/<peer>.log`. */
  readonly logFile: string;
  /**
   * SIGTERM, wait for exit (SIGKILL after a grace period), remove `dir` unless
   * MAILMESH_KEEP_PEERS=1 or the peer crashed (then it stays and its path is printed). Idempotent.
   */
  stop(): Promise<void>;
}

export interface ProcessPeer extends Peer {
  /** PID of the running process; undefined while it is down (after kill(), a crash or stop()). */
  readonly pid: number | undefined;
  /** Simulates a crash or outage: kill -9 by default, waits for the exit, keeps the data dir. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts again (stopping gracefully first if it runs) on the same port with the same data; resolves when ready. */
  restart(): Promise<void>;
}

export interface TcpServicePeer extends ProcessPeer {
  readonly host: string;
  readonly port: number;
}
