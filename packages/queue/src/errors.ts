/** A compare-and-set update of a KV key kept losing to concurrent writers. */
export class KvContentionError extends Error {
  override readonly name = 'KvContentionError';
  readonly retryable = true;
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(`KV ${bucket}/${key}: update lost ${attempts} compare-and-set races in a row`, options);
  }
}

/** A KV value is not the JSON document it should be. */
export class KvDocumentError extends Error {
  override readonly name = 'KvDocumentError';
  readonly retryable = false;
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`KV ${bucket}/${key}: ${reason}`, options);
  }
}

/** The original message could not be read to build a DSN or check its headers. */
export class MessageReadError extends Error {
  override readonly name = 'MessageReadError';
  readonly retryable = true;
  constructor(
    readonly bucket: string,
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`cannot read ${bucket}/${key}`, options);
  }
}
