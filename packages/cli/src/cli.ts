/**
 * The `mailmesh` command line (INTERFACES.md, `mailmesh` command). Every command has
 * `--help`, exits 0 on success and 1 on failure with a one-line reason on stderr, and
 * takes `--json` where it prints data.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { runApply } from './commands/apply.js';
import { runDns } from './commands/dns.js';
import { runQueueDelete, runQueueLs, runQueueRetry, runQueueShow } from './commands/queue.js';
import { runTrace } from './commands/trace.js';
import { runDev } from './dev/dev.js';
import { CliError, ConfigInvalidError, formatIssue } from './errors.js';
import { consoleOutput, type Output, type Streams } from './output.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

function portBase(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n))
    throw new InvalidArgumentError('must be a whole number');
  return n;
}

function report(out: Output, command: string, err: unknown, json: boolean): void {
  if (err instanceof ConfigInvalidError) {
    if (json) out.line(JSON.stringify({ ok: false, issues: err.issues }));
    for (const i of err.issues) out.error(formatIssue(i));
    const n = err.issues.length;
    out.fail(
      `${command}: invalid configuration (${n} issue${n === 1 ? '' : 's'}); nothing was published`,
    );
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (json)
    out.line(
      JSON.stringify({
        ok: false,
        error: { code: err instanceof Error ? err.name : 'Error', message },
      }),
    );
  out.fail(`${command}: ${message.split('\n')[0] ?? message}`);
  if (
    !(err instanceof CliError) &&
    process.env['MAILMESH_DEBUG'] &&
    err instanceof Error &&
    err.stack
  ) {
    out.error(err.stack);
  }
}

/** Parses `argv` (without `node` and the script) and runs the command; resolves with the exit code. */
export async function runCli(argv: readonly string[], streams: Streams = process): Promise<number> {
  const out = consoleOutput(streams);
  let code = 0;
  const program = new Command('mailmesh')
    .description('Mailmesh: a mail platform for enterprise intranets, native on Kubernetes')
    .version(version(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void streams.stdout.write(s),
      writeErr: (s) => void streams.stderr.write(s),
    });

  const guarded =
    <A extends unknown[]>(
      name: string,
      json: (...a: A) => boolean,
      fn: (...a: A) => Promise<number | void>,
    ) =>
    async (...a: A): Promise<void> => {
      try {
        code = (await fn(...a)) ?? 0;
      } catch (err) {
        report(out, name, err, json(...a));
        code = 1;
      }
    };

  program
    .command('dev')
    .description(
      'run the whole platform on this machine: nats-server, MinIO and one process of every built service; ' +
        'prints the endpoints, then "mailmesh ready"; Ctrl-C stops everything',
    )
    .addOption(
      new Option(
        '-c, --config <path>',
        'MailDomain/MailPolicy/Secret YAML file or directory (repeatable; default examples/company)',
      )
        .argParser(collect)
        .default([]),
    )
    .option('-d, --data <dir>', 'where NATS, MinIO, TLS files and logs live', '.mailmesh')
    .addOption(
      new Option(
        '-p, --port-base <n>',
        'listen on N+25 (SMTP), N+587, N+465, N+143, N+993, N+110, N+80 (API), internals within N..N+999 (default: 2525, 2587, 2465, 2143, 2993, 2110, 8025)',
      ).argParser(portBase),
    )
    .option('--no-setup', 'do not run scripts/setup.sh when nats-server or minio is missing')
    .option('--no-watch', 'do not re-apply the config when its files change')
    .action(
      guarded(
        'dev',
        (_o: unknown) => false,
        (opts: {
          config: string[];
          data: string;
          portBase?: number;
          setup: boolean;
          watch: boolean;
        }) =>
          runDev({
            configs: opts.config,
            dataDir: opts.data,
            ...(opts.portBase !== undefined ? { portBase: opts.portBase } : {}),
            setup: opts.setup,
            watch: opts.watch,
            out,
          }),
      ),
    );

  program
    .command('apply')
    .description(
      "validate + compile MailDomain/MailPolicy YAML with the operator's schemas and publish it to the config bucket " +
        '(no Kubernetes); any invalid input publishes nothing',
    )
    .addOption(
      new Option('-f, --filename <path>', 'YAML file or directory, `-` for stdin (repeatable)')
        .argParser(collect)
        .makeOptionMandatory(),
    )
    .option(
      '--nats <url>',
      'NATS server (default: $MAILMESH_NATS_URL, else the `mailmesh dev` of ./.mailmesh, else nats://127.0.0.1:4222)',
    )
    .option(
      '--prune',
      'the input is the whole configuration: delete live domains and policies it does not have',
      false,
    )
    .option('--dry-run', 'validate and show the changes without publishing', false)
    .option('--json', 'print the result as JSON', false)
    .action(
      guarded(
        'apply',
        (o: { json: boolean }) => o.json,
        (o: {
          filename: string[];
          nats?: string;
          prune: boolean;
          dryRun: boolean;
          json: boolean;
        }) =>
          runApply({
            files: o.filename,
            ...(o.nats !== undefined ? { nats: o.nats } : {}),
            prune: o.prune,
            dryRun: o.dryRun,
            json: o.json,
            out,
          }),
      ),
    );

  program
    .command('dns')
    .description(
      'the DNS records DOMAIN needs (MX, SPF, DMARC, DKIM when its key is in the files), in zone-file format',
    )
    .argument('<domain>', 'mail domain, e.g. sh.company.local')
    .addOption(
      new Option('-f, --filename <path>', 'YAML file or directory defining the domain (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .option('--mx <host>', 'MX host (default mx.<domain>)')
    .option('--json', 'print the records as JSON', false)
    .action(
      guarded(
        'dns',
        (_d: string, o: { json: boolean }) => o.json,
        (domain: string, o: { filename: string[]; mx?: string; json: boolean }) =>
          runDns({
            domain,
            files: o.filename,
            ...(o.mx !== undefined ? { mx: o.mx } : {}),
            json: o.json,
            out,
          }),
      ),
    );

  const natsHelp =
    'NATS server (default: $MAILMESH_NATS_URL, else the `mailmesh dev` of ./.mailmesh, else nats://127.0.0.1:4222)';

  program
    .command('trace')
    .description(
      'every lifecycle event of one mail (accepted, scanned, routed, delivered, deferred, bounced...) in order, then its queue record',
    )
    .argument(
      '<mailId>',
      'the mail id (26-character ULID) printed by ingress, queue ls and the API',
    )
    .option('--nats <url>', natsHelp)
    .option('--json', 'print the events and the queue record as JSON', false)
    .action(
      guarded(
        'trace',
        (_id: string, o: { json: boolean }) => o.json,
        (id: string, o: { nats?: string; json: boolean }) =>
          runTrace({ id, ...(o.nats !== undefined ? { nats: o.nats } : {}), json: o.json, out }),
      ),
    );

  const queue = program
    .command('queue')
    .description('mail in flight: list pending mail, show one, retry or delete it');
  queue
    .command('ls')
    .description('pending mail (queued or deferred), oldest first')
    .option('--all', 'also list finished mail still kept in the queue bucket', false)
    .option('--nats <url>', natsHelp)
    .option('--json', 'print the queue records as JSON', false)
    .action(
      guarded(
        'queue ls',
        (o: { json: boolean }) => o.json,
        (o: { all: boolean; nats?: string; json: boolean }) =>
          runQueueLs({
            all: o.all,
            ...(o.nats !== undefined ? { nats: o.nats } : {}),
            json: o.json,
            out,
          }),
      ),
    );
  queue
    .command('show')
    .description('stage, destinations, attempts, next attempt and last error of one mail')
    .argument('<mailId>', 'the mail id (26-character ULID)')
    .option('--nats <url>', natsHelp)
    .option('--json', 'print the queue record as JSON', false)
    .action(
      guarded(
        'queue show',
        (_id: string, o: { json: boolean }) => o.json,
        (id: string, o: { nats?: string; json: boolean }) =>
          runQueueShow({
            id,
            ...(o.nats !== undefined ? { nats: o.nats } : {}),
            json: o.json,
            out,
          }),
      ),
    );
  const control = {
    retry: {
      description:
        'attempt every deferred job of a mail now, instead of at its next scheduled attempt',
      run: runQueueRetry,
    },
    delete: {
      description: 'remove a pending mail from the queue: no further attempt, no DSN',
      run: runQueueDelete,
    },
  } as const;
  for (const action of ['retry', 'delete'] as const) {
    queue
      .command(action)
      .description(control[action].description)
      .argument('<mailId>', 'the mail id (26-character ULID)')
      .option('--nats <url>', natsHelp)
      .option('--json', 'print the result as JSON', false)
      .action(
        guarded(
          `queue ${action}`,
          (_id: string, o: { json: boolean }) => o.json,
          (id: string, o: { nats?: string; json: boolean }) =>
            control[action].run({
              id,
              ...(o.nats !== undefined ? { nats: o.nats } : {}),
              json: o.json,
              out,
            }),
        ),
      );
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 1;
    report(out, 'error', err, false);
    return 1;
  }
  return code;
}
