/**
 * `mailmesh apply -f FILE|DIR [--nats URL]`: validate + compile + publish config
 * without Kubernetes. Any invalid input publishes nothing.
 */
import {
  connectBus,
  NatsAuthError,
  NatsUnavailableError,
  JetStreamUnavailableError,
} from '@mailmesh/runtime';

import { applyConfig, type ApplyOutcome } from '../apply/apply.js';
import { compileSources } from '../apply/compile.js';
import { readSources } from '../apply/files.js';
import { summarize } from '../apply/plan.js';
import { openConfigBucket } from '../apply/publish.js';
import { BusUnavailableError } from '../errors.js';
import type { Output } from '../output.js';
import { resolveNatsUrl } from './nats-url.js';

export interface ApplyCommandOptions {
  readonly files: readonly string[];
  readonly nats?: string;
  readonly prune: boolean;
  readonly dryRun: boolean;
  readonly json: boolean;
  readonly out: Output;
}

function jsonOf(url: string, dryRun: boolean, r: ApplyOutcome): unknown {
  return {
    ok: true,
    nats: url,
    dryRun,
    ...(r.revision !== undefined ? { revision: r.revision } : {}),
    changes: r.changes.map((c) => ({ key: c.key, action: c.action })),
    resources: r.compiled.resources,
  };
}

/** Runs the command; throws CliError subclasses for the caller to print. */
export async function runApply(o: ApplyCommandOptions): Promise<void> {
  const { url } = resolveNatsUrl(o.nats);
  const sources = await readSources(o.files);
  let bus;
  try {
    bus = await connectBus({ servers: url, name: 'mailmesh-apply', timeoutMs: 5_000 });
  } catch (err) {
    // An unreachable server should not hide what is wrong with the files.
    await compileSources(sources, { prune: o.prune });
    if (
      err instanceof NatsUnavailableError ||
      err instanceof NatsAuthError ||
      err instanceof JetStreamUnavailableError
    ) {
      throw new BusUnavailableError(url, err.message, { cause: err });
    }
    throw err;
  }
  try {
    const { kv } = await openConfigBucket(bus);
    const r = await applyConfig(kv, { files: sources, prune: o.prune, dryRun: o.dryRun });
    if (o.json) {
      o.out.line(JSON.stringify(jsonOf(url, o.dryRun, r)));
      return;
    }
    for (const c of r.changes) {
      const note = c.action === 'kept' ? '   (live, not in the input; --prune deletes it)' : '';
      o.out.line(`${c.action.padEnd(10)} ${c.key}${note}`);
    }
    o.out.line(
      o.dryRun
        ? `dry run against ${url}: ${summarize(r.changes)}; nothing was published`
        : `applied to ${url}: ${summarize(r.changes)}${r.revision !== undefined ? ` (KV revision ${r.revision})` : ''}`,
    );
  } finally {
    await bus.close();
  }
}
