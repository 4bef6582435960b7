/**
 * The Haraka configuration directory, generated from the PlatformConfig. Pure:
 * returns file name -> content; boot.ts writes them. Stock behaviours that would
 * reach the network are turned off here: no reverse DNS (our lookup_rdns hook
 * answers locally), `public_ip` set (no STUN query), no outbound queue use.
 */
import type { PlatformConfig } from '@mailmesh/config';

/** RFC 7919 ffdhe2048 group: public parameters, shipped so Haraka never runs `openssl dhparam`. */
export const FFDHE2048 = `-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
`;

/** Mailmesh plugins in hook order; `tls` is Haraka's own STARTTLS plugin. */
export const pluginList = [
  'mailmesh_log',
  'mailmesh_session',
  'tls',
  'mailmesh_auth',
  'mailmesh_envelope',
  'mailmesh_data',
] as const;

export class ListenerConfigError extends Error {
  override readonly name = 'ListenerConfigError';
  constructor(readonly problem: string) {
    super(`cannot run these listeners on Haraka: ${problem}`);
  }
}

const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const hostOf = (hostPort: string): string =>
  hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[|\]$/g, '');

export interface HarakaFilesOptions {
  readonly spoolDir: string;
  /** Message bytes kept in memory before Haraka's message stream spools to spoolDir. */
  readonly spoolAfterBytes: number;
  readonly logLevel: string;
  /** Random key so that INTERNALCMD from loopback neighbours is refused. */
  readonly internalCmdKey: string;
}

export function harakaFiles(
  platform: PlatformConfig,
  opts: HarakaFilesOptions,
): Map<string, string> {
  const addresses = platform.listeners.flatMap((l) => l.addresses);
  // Haraka runs implicit TLS on every address of one port (smtp.ini smtps_port).
  const smtpsPorts = [
    ...new Set(
      platform.listeners.filter((l) => l.kind === 'smtps').flatMap((l) => l.addresses.map(portOf)),
    ),
  ];
  if (smtpsPorts.length > 1)
    throw new ListenerConfigError(
      `smtps listeners must share one port, got ${smtpsPorts.join(', ')}`,
    );
  const smtpsPort = smtpsPorts[0] ?? 0;
  for (const l of platform.listeners) {
    for (const a of l.addresses) {
      if (l.kind !== 'smtps' && portOf(a) === smtpsPort) {
        throw new ListenerConfigError(
          `${l.name} listens on ${a}, the implicit-TLS port of the smtps listener`,
        );
      }
    }
  }
  const firstIp = addresses.map(hostOf).find((h) => h !== '0.0.0.0' && h !== '::') ?? '127.0.0.1';
  const proxyHosts = [...new Set(platform.listeners.flatMap((l) => l.proxyProtocolFrom))];
  const backstopSeconds =
    Math.ceil(Math.max(platform.limits.commandTimeoutMs, platform.limits.dataTimeoutMs) / 1000) +
    60;
  const dataPluginSeconds = Math.ceil(platform.acceptanceDeadlineMs / 1000) + 30;

  const files = new Map<string, string>();
  files.set(
    'smtp.ini',
    [
      `listen=${addresses.join(',')}`,
      `public_ip=${firstIp}`,
      // One process per pod: the cluster master would only hand connections to a worker.
      'nodes=0',
      `smtps_port=${smtpsPort}`,
      // Our own command/data timers answer first; this is the socket backstop.
      `inactivity_timeout=${backstopSeconds}`,
      'graceful_shutdown=false',
      '',
    ].join('\n'),
  );
  files.set('me', `${platform.hostname}\n`);
  // Read for every connection and transaction (haraka-results): a missing file
  // would be looked up on disk each time.
  files.set('results.ini', '[main]\n');
  files.set('plugins', `${pluginList.join('\n')}\n`);
  files.set('internalcmd_key', `${opts.internalCmdKey}\n`);
  files.set('dhparams.pem', FFDHE2048);
  files.set(
    'tls.ini',
    [
      '[main]',
      `key=${platform.tls.keyFile}`,
      `cert=${platform.tls.certFile}`,
      'dhparam=dhparams.pem',
      'minVersion=TLSv1.2',
      'honorCipherOrder=true',
      'requestCert=false',
      'rejectUnauthorized=false',
      '',
    ].join('\n'),
  );
  files.set(
    'connection.ini',
    [
      '[main]',
      `spool_dir=${opts.spoolDir}`,
      `spool_after=${opts.spoolAfterBytes}`,
      'smtputf8=true',
      '[haproxy]',
      ...proxyHosts.map((h) => `hosts[]=${h}`),
      '[headers]',
      // Mailmesh writes its own Received field carrying the mail id.
      'add_received=false',
      'show_version=false',
      'clean_auth_results=false',
      'max_lines=1000',
      'max_received=100',
      '[max]',
      // 0: Haraka's own size check answers 550; mailmesh_data answers 552 5.3.4 instead.
      'bytes=0',
      'mime_parts=1000',
      'line_length=512',
      'data_line_length=992',
      '[message]',
      'helo=at your service',
      'close=closing connection',
      '[uuid]',
      'banner_chars=0',
      'deny_chars=0',
      '',
    ].join('\n'),
  );
  files.set(
    'log.ini',
    ['[main]', `level=${opts.logLevel}`, 'timestamps=false', 'format=default', ''].join('\n'),
  );
  files.set('mailmesh_data.timeout', `${dataPluginSeconds}\n`);
  files.set('mailmesh_auth.timeout', '60\n');
  files.set('plugin_timeout', '30\n');
  return files;
}
