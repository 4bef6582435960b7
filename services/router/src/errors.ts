/** A MailPolicy section the router reads is malformed; the previous configuration stays live. */
export class TransportRuleError extends Error {
  override readonly name = 'TransportRuleError';
  readonly retryable = false;
  constructor(
    readonly policy: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`MailPolicy ${policy} ${path}: ${problem}`);
  }
}
