/**
 * Failures the `mailmesh` command reports. Each one becomes a single line on stderr
 * (`message`) and exit code 1; the typed fields let tests and `--json` callers tell
 * them apart without parsing text.
 */

/** Base class: anything the command line prints as `mailmesh: <message>` and exits 1 for. */
export abstract class CliError extends Error {
  readonly exitCode: number = 1;
}

/** A flag or argument the command cannot use. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
}

/** One problem with one input document, located as precisely as the input allows. */
export interface ConfigIssue {
  /** File the document came from (absent for documents given in memory). */
  readonly file?: string;
  /** 1-based line of the offending node in `file`, when known. */
  readonly line?: number;
  /** 1-based column, when known. */
  readonly col?: number;
  /** `MailDomain mail/sh` (kind/name) or `document 3` when the document has no name. */
  readonly resource?: string;
  /** Field path inside the resource: `spec.mailboxes[2].name`; `''` for the whole document. */
  readonly path: string;
  /** The compiler's reason word: `Invalid`, `Duplicate`, `SecretMissing`, `PolicyMissing`, `Conflict`. */
  readonly reason?: string;
  readonly message: string;
}

/** Renders an issue as `file:line:col: MailDomain mail/sh spec.mailboxes[1].name: Duplicate ...`. */
export function formatIssue(issue: ConfigIssue): string {
  const pos =
    issue.line === undefined
      ? ''
      : `:${issue.line}${issue.col === undefined ? '' : `:${issue.col}`}`;
  const where = issue.file === undefined ? '' : `${issue.file}${pos}: `;
  const what = [issue.resource, issue.path].filter((s) => s !== undefined && s !== '').join(' ');
  return `${where}${what === '' ? '' : `${what}: `}${issue.message}`;
}

/** The configuration given is invalid; nothing was published. */
export class ConfigInvalidError extends CliError {
  override readonly name = 'ConfigInvalidError';
  constructor(
    readonly issues: readonly ConfigIssue[],
    options?: ErrorOptions,
  ) {
    const first = issues[0];
    super(
      first === undefined
        ? 'invalid configuration'
        : `invalid configuration: ${formatIssue(first)}${
            issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
          }`,
      options,
    );
  }
}

/**
 * A key changed between reading the live configuration and writing it (someone else
 * applied concurrently). Nothing after the conflicting key was written.
 */
export class ApplyConflictError extends CliError {
  override readonly name = 'ApplyConflictError';
  constructor(
    readonly key: string,
    readonly written: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `config key ${key} changed while applying (another writer?); ${
        written.length === 0 ? 'nothing was written' : `already written: ${written.join(', ')}`
      }; run apply again`,
      options,
    );
  }
}

/** The NATS server holding the configuration cannot be used. */
export class BusUnavailableError extends CliError {
  override readonly name = 'BusUnavailableError';
  constructor(
    readonly server: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`cannot use NATS at ${server}: ${reason}`, options);
  }
}

/** A binary `mailmesh dev` needs is not installed, and installing it failed. */
export class PeerMissingError extends CliError {
  override readonly name = 'PeerMissingError';
  constructor(
    readonly binary: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(`${binary} not found: ${hint}`, options);
  }
}

/** A port `mailmesh dev` wants to listen on is taken. */
export class PortInUseError extends CliError {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly purpose: string,
    options?: ErrorOptions,
  ) {
    super(
      `port ${port} (${purpose}) is already in use: stop what holds it or pick other ports with --port-base N`,
      options,
    );
  }
}

/** A child of `mailmesh dev` did not become ready in time. */
export class ChildStartError extends CliError {
  override readonly name = 'ChildStartError';
  constructor(
    readonly child: string,
    readonly reason: string,
    readonly logFile: string,
    options?: ErrorOptions,
  ) {
    super(`${child} did not start: ${reason} (log: ${logFile})`, options);
  }
}

/** A child of `mailmesh dev` exited while it should have been running. */
export class ChildCrashedError extends CliError {
  override readonly name = 'ChildCrashedError';
  constructor(
    readonly child: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly logFile: string,
    options?: ErrorOptions,
  ) {
    super(
      `${child} exited ${signal !== null ? `on ${signal}` : `with code ${code ?? '?'}`} (log: ${logFile}); stopped everything`,
      options,
    );
  }
}

/** An argument that should be a mail id is not one. */
export class InvalidMailIdError extends CliError {
  override readonly name = 'InvalidMailIdError';
  constructor(
    readonly value: string,
    options?: ErrorOptions,
  ) {
    super(
      `${JSON.stringify(value)} is not a mail id: expected a 26-character ULID (Crockford base32, first character 0-7, e.g. 01JABCDEFGHJKMNPQRSTVWXYZ0)`,
      options,
    );
  }
}

/** Nothing is known about a mail id: no lifecycle events, no queue record. */
export class MailNotFoundError extends CliError {
  override readonly name = 'MailNotFoundError';
  constructor(
    readonly mailId: string,
    readonly what: string,
    options?: ErrorOptions,
  ) {
    super(`no ${what} for ${mailId}`, options);
  }
}

/** A command (or form of an argument) that needs something not built yet. */
export class NotSupportedError extends CliError {
  override readonly name = 'NotSupportedError';
  constructor(
    /** What was asked for: `queue retry`, `lookup by Message-ID`. */
    readonly feature: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A stream or bucket the command reads does not exist on the server (nothing provisioned it). */
export class NotProvisionedError extends CliError {
  override readonly name = 'NotProvisionedError';
  constructor(
    readonly kind: 'stream' | 'KV bucket',
    readonly resource: string,
    readonly server: string,
    options?: ErrorOptions,
  ) {
    super(
      `${kind} ${resource} does not exist on ${server}: nothing has been provisioned there (is \`mailmesh dev\` running, or --nats pointing at the platform?)`,
      options,
    );
  }
}
