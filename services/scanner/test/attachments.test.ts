import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';

import { checkAttachments } from '../src/attachments.js';
import type { MailPart } from '../src/mime.js';
import { groupPolicy } from './group-policy.js';
import { FAKE_ELF, FAKE_PE, SHELL_SCRIPT, docx, markEncrypted, zip } from './helpers/corpus.js';

const policy = groupPolicy().attachments!;

function part(
  filename: string,
  content: Buffer,
  contentType = 'application/octet-stream',
): MailPart {
  return {
    filename,
    contentType,
    charset: '',
    content,
    size: content.length,
    truncated: false,
    depth: 0,
  };
}

const rules = async (parts: MailPart[], p = policy) =>
  (await checkAttachments(parts, p)).map((f) => [f.rule, f.path]);

describe('checkAttachments', () => {
  it('blocks by decoded extension, not by harmless ones', async () => {
    expect(
      await rules([
        part('report.pdf.exe', Buffer.from('x')),
        part('report.pdf', Buffer.from('%PDF-1.4')),
      ]),
    ).toEqual([['blocked-extension', 'report.pdf.exe']]);
  });

  it('finds renamed executables by content', async () => {
    expect(
      await rules([
        part('holiday.jpg', FAKE_PE),
        part('notes.txt', FAKE_ELF),
        part('run.dat', SHELL_SCRIPT),
      ]),
    ).toEqual([
      ['executable-content', 'holiday.jpg'],
      ['executable-content', 'notes.txt'],
      ['executable-content', 'run.dat'],
    ]);
  });

  it('looks into nested zips', async () => {
    const inner = await zip([
      { name: 'tools/setup.scr', content: Buffer.from('x') },
      { name: 'photo.png', content: FAKE_PE },
    ]);
    const outer = await zip([
      { name: 'inner.zip', content: inner },
      { name: 'readme.txt', content: Buffer.from('hi') },
    ]);
    expect(await rules([part('bundle.zip', outer)])).toEqual([
      ['blocked-extension', 'bundle.zip/inner.zip/setup.scr'],
      ['executable-content', 'bundle.zip/inner.zip/photo.png'],
    ]);
  });

  it('decodes GBK member names of Chinese Windows zips', async () => {
    // yazl writes UTF-8 names with the UTF-8 flag; rewrite the name in place as GBK
    // without the flag, the way Chinese Windows writes it: "工资表" is 9 bytes in
    // UTF-8 and 6 in GBK, so three spaces keep the length.
    const z = await zip([{ name: '工资表.exe', content: Buffer.from('x') }]);
    const utf8Name = Buffer.from('工资表.exe');
    const gbkName = Buffer.concat([iconv.encode('工资表', 'gbk'), Buffer.from('   .exe')]);
    expect(gbkName.length).toBe(utf8Name.length);
    const patched = Buffer.from(z);
    for (let i = 0; i + 4 <= patched.length; i++) {
      const sig = patched.readUInt32LE(i);
      const nameAt = sig === 0x04034b50 ? i + 30 : sig === 0x02014b50 ? i + 46 : -1;
      const flagAt = sig === 0x04034b50 ? i + 6 : i + 8;
      if (nameAt < 0 || !patched.subarray(nameAt, nameAt + utf8Name.length).equals(utf8Name))
        continue;
      patched.writeUInt16LE(patched.readUInt16LE(flagAt) & ~0x800, flagAt);
      gbkName.copy(patched, nameAt);
    }
    expect(await rules([part('pay.zip', patched)])).toEqual([
      ['blocked-extension', 'pay.zip/工资表   .exe'],
    ]);
  });

  it('blocks encrypted members by default, allows them when the policy says so', async () => {
    const z = markEncrypted(
      await zip([{ name: 'secret.docx', content: Buffer.from('x'.repeat(100)) }]),
    );
    expect(await rules([part('locked.zip', z)])).toEqual([
      ['encrypted-archive', 'locked.zip/secret.docx'],
    ]);
    expect(await rules([part('locked.zip', z)], { ...policy, encryptedArchives: 'allow' })).toEqual(
      [],
    );
  });

  it('stops zip bombs by expansion ratio without inflating them', async () => {
    const bomb = await zip([{ name: 'zeros.bin', content: Buffer.alloc(20 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(100_000);
    expect(await rules([part('bomb.zip', bomb)], { ...policy, maxSizeBytes: 0 })).toEqual([
      ['zip-bomb', 'bomb.zip/zeros.bin'],
    ]);
  });

  it('stops archives nested deeper than the limit', async () => {
    let z = await zip([{ name: 'core.txt', content: Buffer.from('x') }]);
    for (let i = 0; i < 4; i++) z = await zip([{ name: `level${i}.zip`, content: z }]);
    const found = await rules([part('deep.zip', z)]);
    expect(found).toEqual([['archive-too-deep', 'deep.zip/level3.zip/level2.zip/level1.zip']]);
  });

  it('reports an unreadable archive and oversize parts', async () => {
    const z = await zip([{ name: 'a.txt', content: Buffer.from('hello world'.repeat(100)) }]);
    expect(await rules([part('broken.zip', z.subarray(0, z.length - 30))])).toEqual([
      ['archive-unreadable', 'broken.zip'],
    ]);
    expect(await rules([part('big.bin', Buffer.alloc(2 * 1024 * 1024))])).toEqual([
      ['max-size', 'big.bin'],
    ]);
  });

  it('finds nothing in an Office document', async () => {
    expect(await rules([part('合同.docx', await docx(['普通内容']))])).toEqual([]);
  });
});
