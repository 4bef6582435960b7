/**
 * What the command prints. Progress and data go to stdout; problems to stderr, and a
 * failure ends with exactly one `mailmesh <command>: <reason>` line there.
 */
export interface Output {
  /** A plain line on stdout. */
  line(text: string): void;
  /** A heading line on stdout. */
  step(text: string): void;
  ok(text: string): void;
  /** Something not done, and why (a service not built yet). */
  skip(text: string): void;
  info(text: string): void;
  /** A problem that does not end the command, on stderr. */
  warn(text: string): void;
  /** A detail line on stderr (an issue, a log line). */
  error(text: string): void;
  /** The one-line reason of a failure, on stderr: `mailmesh <text>`. */
  fail(text: string): void;
}

export interface Streams {
  readonly stdout: { write(s: string): unknown; isTTY?: boolean };
  readonly stderr: { write(s: string): unknown; isTTY?: boolean };
}

export function consoleOutput(
  streams: Streams = process,
  env: NodeJS.ProcessEnv = process.env,
): Output {
  const color = (stream: Streams['stdout']): boolean =>
    stream.isTTY === true &&
    (env['NO_COLOR'] === undefined || env['NO_COLOR'] === '') &&
    env['TERM'] !== 'dumb';
  const paint = (stream: Streams['stdout'], code: string, s: string): string =>
    color(stream) ? `\u001b[${code}m${s}\u001b[0m` : s;
  const out = (s: string): void => void streams.stdout.write(`${s}\n`);
  const err = (s: string): void => void streams.stderr.write(`${s}\n`);
  return {
    line: out,
    step: (s) => out(paint(streams.stdout, '1', `==> ${s}`)),
    ok: (s) => out(`    ${paint(streams.stdout, '32', 'ok')} ${s}`),
    skip: (s) => out(`    ${paint(streams.stdout, '33', '--')} ${s}`),
    info: (s) => out(`    ${s}`),
    warn: (s) => err(`${paint(streams.stderr, '33', 'warning:')} ${s}`),
    error: err,
    fail: (s) => err(`${paint(streams.stderr, '31', 'mailmesh')} ${s}`),
  };
}
