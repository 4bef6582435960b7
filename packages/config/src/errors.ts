/**
 * A configuration document in the `mailmesh-config` bucket is invalid. `key` is the
 * KV key (`domain.sh.company.local`), `path` the JSON path inside the document
 * (`mailboxes[2].sendAs[0]`, `''` for the document itself). Nothing of the snapshot
 * being built is used: the previous snapshot stays live.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    readonly path: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`config ${key}${path ? ` at ${path}` : ''}: ${problem}`, options);
  }
}
