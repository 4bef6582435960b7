import { describe, expect, it } from 'vitest';

import { KeywordMatcher } from '../src/dlp/aho-corasick.js';
import { detect, isValidCnIdCard, luhnValid } from '../src/dlp/detectors.js';
import { decodeText, xmlText } from '../src/dlp/extract.js';
import { DlpEngine } from '../src/dlp/index.js';
import { foldText, redact, squeezeText } from '../src/dlp/normalize.js';
import { parseScanPolicy } from '../src/policy.js';
import iconv from 'iconv-lite';
import { generatedKeywords } from './group-policy.js';

function engine(dlp: unknown[]): DlpEngine {
  return new DlpEngine(parseScanPolicy({ name: 'p', direction: 'any', spec: { dlp } }).dlp);
}
const body = (text: string) => DlpEngine.prepare([{ scope: 'body', source: 'body', text }]);

describe('normalisation', () => {
  it('folds full-width, case and traditional characters', () => {
    expect(foldText('ＡＢＣ１２３')).toBe('abc123');
    expect(foldText('機密合同')).toBe('机密合同');
    expect(foldText('臺灣資訊')).toBe('台湾资讯');
  });
  it('squeezes separators and invisible characters out', () => {
    expect(squeezeText('机 密\u200b-合。同')).toBe('机密合同');
    expect(squeezeText('技　术·专　利')).toBe('技术专利');
  });
  it('redacts evidence to half of the hit', () => {
    expect(redact('机密合同')).toBe('机密**');
    expect(redact('310115199003071239')).toBe('3101**************');
    expect(redact('ab')).toBe('a**');
  });
});

describe('detectors', () => {
  it('checks resident id numbers by date and check digit', () => {
    expect(isValidCnIdCard('310115199003071239')).toBe(true);
    expect(isValidCnIdCard('11010519491231002X')).toBe(true);
    expect(isValidCnIdCard('310115199003071238')).toBe(false);
    expect(isValidCnIdCard('310115199002301234')).toBe(false); // 30 February
  });
  it('checks cards with Luhn', () => {
    expect(luhnValid('6222021234567890128')).toBe(true);
    expect(luhnValid('6222021234567890127')).toBe(false);
  });
  it('finds grouped cards, full-width ids and mobiles in folded text', () => {
    const t = foldText(
      '卡 6222 0212 3456 7890 128，证 ３１０１１５１９９００３０７１２３９，手机 +86 138-1234-5678',
    );
    expect(detect('bank-card', t).map((h) => h.text)).toEqual(['6222 0212 3456 7890 128']);
    expect(detect('cn-id-card', t).map((h) => h.text)).toEqual(['310115199003071239']);
    expect(detect('cn-mobile', t).map((h) => h.text)).toEqual(['+86 138-1234-5678']);
  });
  it('ignores digits inside longer numbers', () => {
    const t = '订单 2310115199003071239 与 113812345678';
    expect(detect('cn-id-card', t)).toEqual([]);
    expect(detect('cn-mobile', t)).toEqual([]);
  });
});

describe('DlpEngine', () => {
  it('matches thousands of keywords at once, exactly', () => {
    const kws = generatedKeywords(5000);
    const e = engine([{ name: 'many', keywords: kws, action: 'quarantine' }]);
    const target = kws[4321] ?? '';
    const [f] = e.scan(body(`前文 ${[...target].join(' ')} 后文`));
    expect(f?.count).toBe(1);
    expect(f?.evidence).toEqual([`body: ${redact(target)} (keyword)`]);
    expect(e.scan(body('项目甲乙代号'))).toEqual([]);
  });

  it('counts hits over scopes against minMatches', () => {
    const e = engine([
      { name: 'r', keywords: ['机密'], minMatches: 2, scope: ['subject', 'body'] },
    ]);
    const one = DlpEngine.prepare([{ scope: 'subject', source: 'subject', text: '机密' }]);
    expect(e.scan(one)).toEqual([]);
    const two = DlpEngine.prepare([
      { scope: 'subject', source: 'subject', text: '机密' },
      { scope: 'body', source: 'body', text: '機 密' },
      { scope: 'attachments', source: 'a.txt', text: '机密' },
    ]);
    expect(e.scan(two)[0]?.count).toBe(2);
  });

  it('runs patterns over folded text (full-width colon and yen)', () => {
    const e = engine([{ name: 'amount', patterns: ['合同金额[:：]\\s*[¥￥]?\\d[\\d,]*'] }]);
    const [f] = e.scan(body('合同金額：￥1,200,000 元'));
    expect(f?.evidence).toEqual(['body: 合同金额*********** (pattern)']);
  });
});

describe('attachment text', () => {
  it('decodes undeclared GBK and Big5 by how Chinese they read', () => {
    expect(decodeText(iconv.encode('这是内部的财务报告', 'gbk'))).toBe('这是内部的财务报告');
    expect(decodeText(iconv.encode('這是內部的財務報告', 'big5'))).toBe('這是內部的財務報告');
    expect(decodeText(Buffer.from('plain ascii'))).toBe('plain ascii');
  });
  it('joins Office XML runs', () => {
    expect(
      xmlText('<w:p><w:r><w:t>机密</w:t></w:r><w:r><w:t>合同&amp;条款</w:t></w:r></w:p>'),
    ).toBe('机密合同&条款\n');
  });
});

describe('KeywordMatcher', () => {
  const m = new KeywordMatcher(
    ['he', 'she', 'his', 'hers', '机密', '机密合同'].map((p) => ({ pattern: p, data: p })),
  );
  it('finds every occurrence through failure and dictionary links', () => {
    expect([...m.all('ushers')].map((h) => [h.data, h.start, h.end])).toEqual([
      ['she', 1, 4],
      ['he', 2, 4],
      ['hers', 2, 6],
    ]);
  });
  it('selects leftmost-longest non-overlapping hits', () => {
    expect(m.search('ushers 机密合同 机密').map((h) => h.data)).toEqual([
      'she',
      '机密合同',
      '机密',
    ]);
    expect(m.search('nothing here?').map((h) => h.data)).toEqual(['he']);
    expect(m.size).toBe(6);
  });
  it('handles astral characters as code-unit pairs', () => {
    const e = new KeywordMatcher([{ pattern: '𠀋x', data: 1 }]);
    expect(e.search('a𠀋x𠀋').map((h) => [h.start, h.end])).toEqual([[1, 4]]);
  });
});
