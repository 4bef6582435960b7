/**
 * One class per failure kind of the scanner. Checks of outside facts (clamd, spamd,
 * DKIM/DMARC) never throw for a verdict — they return a result word — so these are
 * only for configuration and for the service's own I/O.
 */

/** A MailPolicy spec cannot be compiled into a ScanPolicy; nothing of it is used. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    /** The MailPolicy name. */
    readonly policy: string,
    /** JSON path inside `spec`, e.g. `dlp[0].patterns[1]`; `''` for the spec itself. */
    readonly path: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`policy ${policy}${path ? ` at ${path}` : ''}: ${problem}`, options);
  }
}

/** An environment variable of `mailmesh-scanner` is missing or malformed. */
export class ScannerConfigError extends Error {
  override readonly name = 'ScannerConfigError';
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}
