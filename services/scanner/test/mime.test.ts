import { describe, expect, it } from 'vitest';

import { extensionOf, executableKind, normalizeFilename } from '../src/magic.js';
import { parseMail } from '../src/mime.js';
import { corpusFile } from './helpers/corpus.js';

describe('parseMail', () => {
  it('decodes GBK bodies and RFC 2047 subjects', async () => {
    const m = await parseMail(corpusFile('dlp-gbk-hit.eml'));
    expect(m.subject).toBe('内部通知');
    expect(m.text).toContain('技　术·专　利');
  });

  it('decodes Big5 base64 bodies', async () => {
    const m = await parseMail(corpusFile('dlp-big5-hit.eml'));
    expect(m.subject).toBe('會議紀要');
    expect(m.text).toContain('機密合同');
  });

  it('decodes RFC 2231 continued, percent-encoded filenames', async () => {
    const m = await parseMail(corpusFile('attach-rfc2231-double-ext.eml'));
    expect(m.attachments.map((a) => a.filename)).toEqual(['发票.pdf.EXE. ']);
    expect(m.attachments[0]?.content.toString()).toBe('Hello world\n');
  });

  it('walks nested multiparts and attached messages', async () => {
    const m = await parseMail(corpusFile('torture-nested.eml'));
    expect(m.subject).toBe('nested 测试');
    expect(m.innerSubjects).toEqual(['forwarded']);
    expect(m.text).toContain('café au lait');
    expect(m.text).toContain('inner body');
    expect(m.html).toContain('<i>world</i>');
    expect(m.attachments.map((a) => [a.filename, a.depth])).toEqual([
      ['dot.png', 0],
      ['', 0],
      ['说明.js', 1],
    ]);
  });

  it('survives truncated and broken MIME', async () => {
    const t = await parseMail(corpusFile('torture-truncated.eml'));
    expect(t.text).toContain('body before the cut');
    expect(t.attachments[0]?.filename).toBe('report.pdf');
    const b = await parseMail(corpusFile('torture-broken.eml'));
    expect(b.text).toContain('break and bad');
    const garbage = await parseMail(
      Buffer.from('\0\xff\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n'),
    );
    expect(garbage.attachments).toEqual([]);
  });

  it('limits the bytes kept of a part and says so', async () => {
    const big = Buffer.alloc(200_000, 0x41).toString('base64');
    const raw = Buffer.from(
      `Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n${big}\r\n--b--\r\n`,
    );
    const m = await parseMail(raw, { maxPartBytes: 1000 });
    expect(m.attachments[0]).toMatchObject({ size: 200_000, truncated: true });
    expect(m.attachments[0]?.content.length).toBe(1000);
  });
});

describe('file names and magic', () => {
  it.each([
    ['report.pdf.exe', 'exe'],
    ['REPORT.PDF.EXE', 'exe'],
    ['evil.exe.  . ', 'exe'],
    ['evil.ｅｘｅ', 'exe'],
    ['photo\u202egpj.exe', 'exe'],
    ['C:\\temp\\run.bat', 'bat'],
    ['README', ''],
  ])('%j has extension %j', (name, ext) => {
    expect(extensionOf(name)).toBe(ext);
  });
  it('strips what Windows strips', () => {
    expect(normalizeFilename(' Invoice.PDF.exe... ')).toBe('invoice.pdf.exe');
  });
  it('recognises executables by content', () => {
    expect(executableKind(Buffer.from('MZ\x90\0'))).toBe('pe');
    expect(executableKind(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2]))).toBe('elf');
    expect(executableKind(Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 7]))).toBe('mach-o');
    expect(executableKind(Buffer.from('\ufeff#!/usr/bin/env python\n'))).toBe('script');
    expect(executableKind(Buffer.from('%PDF-1.7'))).toBeUndefined();
  });
});
