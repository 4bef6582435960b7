/**
 * PROXY protocol version 2 (HAProxy's proxy-protocol.txt §2.2): the binary header
 * a load balancer sends before the first byte of the client's stream. Pure: bytes
 * in, a verdict out. Haraka 3.3.4 reads only the text header of version 1, so the
 * listener shim (haraka/proxy-shim.ts) turns a parsed v2 header into the v1 line
 * Haraka already trusts from configured load balancers.
 */

/** `\r\n\r\n\0\r\nQUIT\n`: chosen so a server that does not expect it stops at "QUIT". */
export const PROXY_V2_SIGNATURE = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

/** Signature, version/command, family/transport and the 16-bit length. */
export const PROXY_V2_FIXED_BYTES = 16;
/** The largest header: the length field is 16 bits. */
export const PROXY_V2_MAX_BYTES = PROXY_V2_FIXED_BYTES + 0xffff;

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
}

export type ProxyV2Header =
  /** LOCAL: the balancer's own connection (a health check); use the socket's endpoints. */
  | { readonly command: 'local'; readonly length: number }
  | {
      readonly command: 'proxy';
      /** Bytes of the whole header, TLVs included (they are skipped). */
      readonly length: number;
      readonly family: 'tcp4' | 'tcp6';
      readonly source: Endpoint;
      readonly destination: Endpoint;
    };

export type ProxyV2Parse =
  /** The bytes so far are a prefix of a v2 header: read more. */
  | { readonly kind: 'incomplete' }
  /** Not a v2 header (e.g. a v1 `PROXY ` line): leave the bytes alone. */
  | { readonly kind: 'not-v2' }
  /** A v2 header that must not be accepted; the connection is refused. */
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'header'; readonly header: ProxyV2Header };

/** Address block sizes per family (§2.2: `proxy_hdr_v2.addr`). */
const INET_BYTES = 12;
const INET6_BYTES = 36;

/** Parses the start of a stream. Never throws; never reads past the header. */
export function parseProxyV2(buf: Uint8Array): ProxyV2Parse {
  const sigBytes = Math.min(buf.length, PROXY_V2_SIGNATURE.length);
  for (let i = 0; i < sigBytes; i++) {
    if (buf[i] !== PROXY_V2_SIGNATURE[i]) return { kind: 'not-v2' };
  }
  if (buf.length < PROXY_V2_FIXED_BYTES) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  const famProto = buf[13]!;
  const length = PROXY_V2_FIXED_BYTES + ((buf[14]! << 8) | buf[15]!);
  // §2.2: the version nibble must be 2; other versions and commands must be refused.
  if (verCmd >> 4 !== 2) return invalid(`unsupported version ${verCmd >> 4}`);
  const command = verCmd & 0x0f;
  if (command !== 0 && command !== 1) return invalid(`unsupported command ${command}`);
  if (buf.length < length) return { kind: 'incomplete' };
  // §2.2: with LOCAL the receiver must accept the connection and ignore the addresses.
  if (command === 0) return { kind: 'header', header: { command: 'local', length } };

  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  // SMTP runs over TCP only: a datagram or unspecified transport has no client to name.
  if (transport !== 1) return invalid(`unsupported transport ${transport} (not STREAM)`);
  const body = buf.subarray(PROXY_V2_FIXED_BYTES, length);
  if (family === 1) {
    if (body.length < INET_BYTES) return invalid('address block too short for TCP over IPv4');
    return {
      kind: 'header',
      header: {
        command: 'proxy',
        length,
        family: 'tcp4',
        source: { ip: ipv4(body.subarray(0, 4)), port: u16(body, 8) },
        destination: { ip: ipv4(body.subarray(4, 8)), port: u16(body, 10) },
      },
    };
  }
  if (family === 2) {
    if (body.length < INET6_BYTES) return invalid('address block too short for TCP over IPv6');
    return {
      kind: 'header',
      header: {
        command: 'proxy',
        length,
        family: 'tcp6',
        source: { ip: ipv6(body.subarray(0, 16)), port: u16(body, 32) },
        destination: { ip: ipv6(body.subarray(16, 32)), port: u16(body, 34) },
      },
    };
  }
  // AF_UNSPEC or AF_UNIX with PROXY: §2.2 lets the receiver refuse, and a relay
  // decision must not fall back to the balancer's own address.
  return invalid(`unsupported address family ${family}`);
}

const invalid = (reason: string): ProxyV2Parse => ({ kind: 'invalid', reason });

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

function ipv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text form: lowercase, no leading zeros, the longest run of 2+ zero groups as `::`. */
function ipv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(u16(b, i));
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${ipv4(b.subarray(12, 16))}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/**
 * The PROXY v1 line (§2.1) that says the same as a v2 header. For LOCAL, `socket`
 * gives the connection's own endpoints: the session's client is then the
 * balancer itself, as §2.2 asks.
 */
export function proxyV1Line(
  header: ProxyV2Header,
  socket: { readonly remote: Endpoint; readonly local: Endpoint },
): string {
  if (header.command === 'proxy') {
    const proto = header.family === 'tcp4' ? 'TCP4' : 'TCP6';
    const { source: s, destination: d } = header;
    return `PROXY ${proto} ${s.ip} ${d.ip} ${s.port} ${d.port}\r\n`;
  }
  const remote = unmapped(socket.remote.ip);
  const local = unmapped(socket.local.ip);
  if (isIpv4(remote) && isIpv4(local)) {
    return `PROXY TCP4 ${remote} ${local} ${socket.remote.port} ${socket.local.port}\r\n`;
  }
  const v6 = (ip: string): string => (isIpv4(ip) ? `::ffff:${ip}` : ip);
  return `PROXY TCP6 ${v6(remote)} ${v6(local)} ${socket.remote.port} ${socket.local.port}\r\n`;
}

const unmapped = (ip: string): string => ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
const isIpv4 = (ip: string): boolean => /^\d+\.\d+\.\d+\.\d+$/.test(ip);
