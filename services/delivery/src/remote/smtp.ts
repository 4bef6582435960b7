/**
 * One remote delivery attempt: find the hosts (MX or the next hop itself), connect
 * through the pool, send to the pending recipients, and turn every reply into a
 * per-recipient outcome. RFC 5321 §5.1: a host that cannot be reached, or greets
 * with an error, is skipped for the next one; replies within the transaction
 * (MAIL, RCPT, DATA) are final for this attempt.
 */
import type { NodemailerError, SMTPPoolSentMessageInfo } from 'nodemailer';
import { type MailResolver, resolveMailHosts } from '@mailmesh/queue';

import {
  type DeliveryOutcome,
  enhancedFromReply,
  type ErrorKind,
  type FailureDetail,
} from '../outcome.js';
import type { Credentials } from '../secrets.js';
import type { Destination, TlsMode, TransportPool } from './pool.js';

export interface AttemptInput {
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly message: Buffer;
  /** Domain whose MX records to use, or the host to connect to. */
  readonly nextHop: string;
  readonly mx: boolean;
  readonly port: number;
  readonly tls: TlsMode;
  readonly auth?: Credentials;
}

export interface AttemptDeps {
  readonly resolver: MailResolver;
  readonly pool: TransportPool;
  /** MX hosts tried per attempt; default 5. */
  readonly maxHosts?: number;
  /** Addresses tried per host; default 2. */
  readonly maxAddressesPerHost?: number;
}

const CERT_CODES =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME_MISMATCH|ERR_TLS_CERT/i;

function clean(s: string | undefined): string {
  return (s ?? '').replace(/\s+/g, ' ').trim();
}

/** Per-recipient outcomes when the whole transaction got one reply. */
function all(
  recipients: readonly string[],
  permanent: boolean,
  error: FailureDetail,
): DeliveryOutcome[] {
  return recipients.map((recipient) =>
    permanent ? { kind: 'permfail', recipient, error } : { kind: 'tempfail', recipient, error },
  );
}

function replyFailure(kind: ErrorKind, err: NodemailerError, host: string): FailureDetail {
  const response = clean(err.response);
  const enhanced = response ? enhancedFromReply(response) : undefined;
  return {
    kind,
    ...(err.responseCode ? { code: err.responseCode } : {}),
    ...(enhanced ? { enhanced } : {}),
    message: response || clean(err.message),
    host,
  };
}

type Classified =
  /** The host could not take the mail at all: try the next address or host. */
  | { readonly kind: 'next'; readonly error: FailureDetail }
  /** The attempt is over with these outcomes. */
  | { readonly kind: 'final'; readonly outcomes: DeliveryOutcome[] };

/** Maps a nodemailer error to outcomes (pure). */
export function classifyError(
  err: NodemailerError,
  recipients: readonly string[],
  host: string,
): Classified {
  const code = err.code ?? '';
  const original = err.originalCode ?? '';
  const command = (err.command ?? '').toUpperCase();
  const permanent = err.responseCode !== undefined && err.responseCode >= 500;
  if (code === 'EAUTH' || code === 'ENOAUTH') {
    // A refused login is a configuration problem to fix, not a reason to bounce mail.
    return {
      kind: 'final',
      outcomes: all(recipients, false, {
        ...replyFailure('auth', err, host),
        message: `AUTH failed: ${clean(err.response) || clean(err.message)}`,
      }),
    };
  }
  if (code === 'EENVELOPE') {
    if (command.startsWith('MAIL')) {
      return {
        kind: 'final',
        outcomes: all(recipients, permanent, replyFailure('sender-refused', err, host)),
      };
    }
    const byRecipient = new Map((err.rejectedErrors ?? []).map((e) => [e.recipient ?? '', e]));
    return {
      kind: 'final',
      outcomes: recipients.map((r): DeliveryOutcome => {
        const e = byRecipient.get(r) ?? err;
        const error = replyFailure('recipient-refused', e, host);
        return (e.responseCode ?? 0) >= 500
          ? { kind: 'permfail', recipient: r, error }
          : { kind: 'tempfail', recipient: r, error };
      }),
    };
  }
  if (code === 'EMESSAGE' || command === 'DATA' || command.startsWith('DATA')) {
    return {
      kind: 'final',
      outcomes: all(recipients, permanent, replyFailure('message-refused', err, host)),
    };
  }
  if (CERT_CODES.test(original) || (code === 'ETLS' && CERT_CODES.test(err.message))) {
    return {
      kind: 'next',
      error: {
        kind: 'tls-cert',
        message: `TLS certificate of ${host} rejected: ${clean(err.message)}`,
        host,
      },
    };
  }
  if (
    code === 'ETLS' ||
    code === 'EREQUIRETLS' ||
    /STARTTLS/i.test(err.message) ||
    command === 'STARTTLS'
  ) {
    return {
      kind: 'next',
      error: {
        kind: 'tls-unavailable',
        message: `TLS required but not available at ${host}: ${clean(err.response) || clean(err.message)}`,
        host,
      },
    };
  }
  if (code === 'ETIMEDOUT') {
    return {
      kind: 'next',
      error: { kind: 'timeout', message: `${host}: ${clean(err.message)}`, host },
    };
  }
  if (
    err.responseCode !== undefined &&
    (command === 'CONN' ||
      command.startsWith('EHLO') ||
      command.startsWith('HELO') ||
      command === '')
  ) {
    return { kind: 'next', error: replyFailure('greeting', err, host) };
  }
  if (code === 'EPROTOCOL') {
    return {
      kind: 'next',
      error: { kind: 'protocol', message: `${host}: ${clean(err.message)}`, host },
    };
  }
  return {
    kind: 'next',
    error: {
      kind: 'connect',
      message: `cannot deliver to ${host}: ${original ? `${original} ` : ''}${clean(err.message)}`,
      host,
    },
  };
}

/** Per-recipient outcomes of a transaction the server accepted (some RCPTs may have been refused). */
export function outcomesOfInfo(
  info: SMTPPoolSentMessageInfo,
  recipients: readonly string[],
  host: string,
): DeliveryOutcome[] {
  const accepted = new Set(info.accepted.map((a) => String(a).toLowerCase()));
  const rejected = new Map(
    (info.rejectedErrors ?? []).map((e) => [(e.recipient ?? '').toLowerCase(), e]),
  );
  return recipients.map((r): DeliveryOutcome => {
    const key = r.toLowerCase();
    if (accepted.has(key))
      return { kind: 'delivered', recipient: r, host, reply: clean(info.response) };
    const e = rejected.get(key);
    const error: FailureDetail = e
      ? replyFailure('recipient-refused', e, host)
      : { kind: 'recipient-refused', message: 'recipient not accepted by the server', host };
    return (e?.responseCode ?? 0) >= 500
      ? { kind: 'permfail', recipient: r, error }
      : { kind: 'tempfail', recipient: r, error };
  });
}

/** Runs one attempt; never throws for a remote failure (only for bugs). */
export async function attemptDelivery(
  deps: AttemptDeps,
  input: AttemptInput,
): Promise<DeliveryOutcome[]> {
  const rcpts = input.recipients;
  let hosts: readonly string[];
  if (input.mx) {
    const answer = await resolveMailHosts(deps.resolver, input.nextHop);
    switch (answer.kind) {
      case 'nxdomain':
        return all(rcpts, true, {
          kind: 'no-such-domain',
          code: 550,
          enhanced: '5.1.2',
          message: answer.detail,
        });
      case 'null-mx':
        return all(rcpts, true, {
          kind: 'null-mx',
          code: 556,
          enhanced: '5.1.10',
          message: `${input.nextHop} accepts no mail (null MX, RFC 7505)`,
        });
      case 'temp':
        return all(rcpts, false, { kind: 'dns', enhanced: '4.4.3', message: answer.detail });
      case 'hosts':
        hosts = answer.hosts;
    }
  } else {
    hosts = [input.nextHop];
  }

  const errors: FailureDetail[] = [];
  for (const host of hosts.slice(0, deps.maxHosts ?? 5)) {
    let addresses: readonly string[];
    try {
      addresses = await deps.resolver.resolveHost(host);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      errors.push({
        kind: 'dns',
        message: `cannot resolve ${host}: ${typeof code === 'string' ? code : String(err)}`,
        host,
      });
      continue;
    }
    for (const address of addresses.slice(0, deps.maxAddressesPerHost ?? 2)) {
      const dest: Destination = {
        address,
        port: input.port,
        servername: host,
        tls: input.tls,
        ...(input.auth ? { auth: input.auth } : {}),
      };
      const label =
        address === host ? `${host}:${input.port}` : `${host}[${address}]:${input.port}`;
      try {
        const info = await deps.pool.get(dest).sendMail({
          envelope: { from: input.mailFrom, to: [...rcpts] },
          raw: input.message,
        });
        return outcomesOfInfo(info, rcpts, label);
      } catch (err) {
        const c = classifyError(err as NodemailerError, rcpts, label);
        if (c.kind === 'final') return c.outcomes;
        errors.push(c.error);
      }
    }
  }
  const last = errors[errors.length - 1] ?? {
    kind: 'connect' as const,
    message: `no host to deliver to for ${input.nextHop}`,
  };
  const summary =
    errors.length > 1
      ? `${last.message} (and ${errors.length - 1} more host(s) failed)`
      : last.message;
  return all(rcpts, false, { ...last, message: summary });
}
