/** A peer binary could not be found in $MAILMESH_BIN, on PATH or in /usr/sbin. */
export class BinaryNotFoundError extends Error {
  override readonly name = 'BinaryNotFoundError';
  readonly binary: string;
  readonly searched: readonly string[];

  constructor(binary: string, binDir: string, searched: readonly string[]) {
    super(
      `${binary} not found in $MAILMESH_BIN (${binDir}), PATH or /usr/sbin: run \`npm run setup\``,
    );
    this.binary = binary;
    this.searched = searched;
  }
}

/** A peer did not become ready: it exited, or its readiness check kept failing until the timeout. */
export class PeerStartError extends Error {
  override readonly name = 'PeerStartError';
  readonly peer: string;
  readonly commandLine: string;
  readonly logFile: string;
  readonly logTail: string;
  /** Exit code or signal when the process exited during startup; undefined when it timed out. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    fields: {
      peer: string;
      reason: string;
      commandLine: string;
      logFile: string;
      logTail: string;
      exit?: { code: number | null; signal: NodeJS.Signals | null };
    },
    options?: ErrorOptions,
  ) {
    super(
      `${fields.peer} did not become ready: ${fields.reason}\n` +
        `command: ${fields.commandLine}\n` +
        `log ${fields.logFile} (last lines):\n${fields.logTail}`,
      options,
    );
    this.peer = fields.peer;
    this.commandLine = fields.commandLine;
    this.logFile = fields.logFile;
    this.logTail = fields.logTail;
    this.exit = fields.exit;
  }
}

/** A peer method was called in a state that does not allow it (e.g. restart() after stop()). */
export class PeerStateError extends Error {
  override readonly name = 'PeerStateError';
  readonly peer: string;

  constructor(peer: string, message: string) {
    super(`${peer}: ${message}`);
    this.peer = peer;
  }
}
