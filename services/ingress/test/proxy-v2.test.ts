/** The PROXY v2 parser and its v1 translation: pure, byte-exact, without peers. */
import { describe, expect, it } from 'vitest';
import { parseProxyV2, proxyV1Line, PROXY_V2_SIGNATURE, type ProxyV2Header } from '../src/index.js';
import { SAMPLE_TLVS, V2_SIGNATURE, v2Header, v4Addresses, v6Addresses } from './helpers.js';

const header = (buf: Buffer): ProxyV2Header => {
  const r = parseProxyV2(buf);
  if (r.kind !== 'header') throw new Error(`expected a header, got ${JSON.stringify(r)}`);
  return r.header;
};

const socket = {
  remote: { ip: '127.0.0.9', port: 51000 },
  local: { ip: '127.0.0.1', port: 2525 },
};

describe('parseProxyV2', () => {
  it('knows the signature of the specification', () => {
    expect(Buffer.from(PROXY_V2_SIGNATURE)).toEqual(V2_SIGNATURE);
  });

  it('reads PROXY over TCP/IPv4 and skips TLVs, leaving the stream after the header', () => {
    const h = v2Header({
      addresses: v4Addresses('192.0.2.10', '198.51.100.1', 40000, 25),
      tlvs: SAMPLE_TLVS,
    });
    const buf = Buffer.concat([h, Buffer.from('EHLO client\r\n')]);
    expect(parseProxyV2(buf)).toEqual({
      kind: 'header',
      header: {
        command: 'proxy',
        length: 16 + 12 + SAMPLE_TLVS.length,
        family: 'tcp4',
        source: { ip: '192.0.2.10', port: 40000 },
        destination: { ip: '198.51.100.1', port: 25 },
      },
    });
    expect(buf.subarray(h.length).toString()).toBe('EHLO client\r\n');
  });

  it('reads PROXY over TCP/IPv6 in RFC 5952 text form', () => {
    const h = header(
      v2Header({
        family: 2,
        addresses: v6Addresses(
          [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1],
          [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x25],
          65535,
          587,
        ),
      }),
    );
    expect(h).toMatchObject({
      family: 'tcp6',
      source: { ip: '2001:db8::1:0:0:1', port: 65535 },
      destination: { ip: '2001:db8::25', port: 587 },
    });
  });

  it('writes IPv4-mapped and zero-free IPv6 addresses correctly', () => {
    const h = header(
      v2Header({
        family: 2,
        addresses: v6Addresses(
          [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x020a],
          [1, 2, 3, 4, 5, 6, 7, 8],
          1,
          2,
        ),
      }),
    );
    expect(h).toMatchObject({
      source: { ip: '::ffff:192.0.2.10' },
      destination: { ip: '1:2:3:4:5:6:7:8' },
    });
  });

  it('reads LOCAL (a health check) whatever its address block says', () => {
    expect(parseProxyV2(v2Header({ command: 0, family: 0, transport: 0 }))).toEqual({
      kind: 'header',
      header: { command: 'local', length: 16 },
    });
    const withAddrs = v2Header({ command: 0, addresses: v4Addresses('1.2.3.4', '5.6.7.8', 1, 2) });
    expect(header(withAddrs)).toEqual({ command: 'local', length: 28 });
  });

  it('asks for more bytes until the whole header is there', () => {
    const h = v2Header({ addresses: v4Addresses('192.0.2.10', '198.51.100.1', 1, 25) });
    for (const n of [0, 1, 11, 12, 15, 16, h.length - 1]) {
      expect(parseProxyV2(h.subarray(0, n))).toEqual({ kind: 'incomplete' });
    }
    expect(parseProxyV2(h).kind).toBe('header');
  });

  it('leaves v1 lines and plain SMTP alone', () => {
    expect(parseProxyV2(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'))).toEqual({
      kind: 'not-v2',
    });
    expect(parseProxyV2(Buffer.from('EHLO x\r\n'))).toEqual({ kind: 'not-v2' });
    // Shares the first bytes with the signature, then differs.
    expect(parseProxyV2(Buffer.from('\r\n\r\nQUIT\r\n'))).toEqual({ kind: 'not-v2' });
  });

  it('refuses other versions and commands, datagrams and unknown families', () => {
    const addrs = v4Addresses('192.0.2.10', '198.51.100.1', 1, 25);
    expect(parseProxyV2(v2Header({ version: 1, addresses: addrs }))).toEqual({
      kind: 'invalid',
      reason: 'unsupported version 1',
    });
    expect(parseProxyV2(v2Header({ command: 2, addresses: addrs }))).toEqual({
      kind: 'invalid',
      reason: 'unsupported command 2',
    });
    expect(parseProxyV2(v2Header({ transport: 2, addresses: addrs }))).toEqual({
      kind: 'invalid',
      reason: 'unsupported transport 2 (not STREAM)',
    });
    expect(parseProxyV2(v2Header({ family: 3, addresses: Buffer.alloc(216) }))).toEqual({
      kind: 'invalid',
      reason: 'unsupported address family 3',
    });
    expect(parseProxyV2(v2Header({ family: 0, transport: 1 }))).toEqual({
      kind: 'invalid',
      reason: 'unsupported address family 0',
    });
  });

  it('refuses an address block shorter than its family needs', () => {
    expect(parseProxyV2(v2Header({ addresses: Buffer.alloc(11) }))).toEqual({
      kind: 'invalid',
      reason: 'address block too short for TCP over IPv4',
    });
    expect(parseProxyV2(v2Header({ family: 2, addresses: Buffer.alloc(12) }))).toEqual({
      kind: 'invalid',
      reason: 'address block too short for TCP over IPv6',
    });
  });
});

describe('proxyV1Line', () => {
  it('says the same as the v2 header', () => {
    const v4 = header(
      v2Header({ addresses: v4Addresses('192.0.2.10', '198.51.100.1', 40000, 25) }),
    );
    expect(proxyV1Line(v4, socket)).toBe('PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\n');
    const v6 = header(
      v2Header({
        family: 2,
        addresses: v6Addresses([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1], 5, 25),
      }),
    );
    expect(proxyV1Line(v6, socket)).toBe('PROXY TCP6 2001:db8::1 ::1 5 25\r\n');
  });

  it('names the socket endpoints for LOCAL', () => {
    const local = header(v2Header({ command: 0, family: 0, transport: 0 }));
    expect(proxyV1Line(local, socket)).toBe('PROXY TCP4 127.0.0.9 127.0.0.1 51000 2525\r\n');
    expect(
      proxyV1Line(local, {
        remote: { ip: '::ffff:10.0.0.5', port: 1 },
        local: { ip: '::1', port: 25 },
      }),
    ).toBe('PROXY TCP6 ::ffff:10.0.0.5 ::1 1 25\r\n');
  });
});
