import { parseScanPolicy, type ScanPolicy } from '../src/policy.js';

/** Many keywords at once, as a group DLP list has: the automaton must stay fast and exact. */
export function generatedKeywords(n: number): string[] {
  const chars = '甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥';
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const a = chars[i % chars.length] ?? '';
    const b = chars[Math.floor(i / chars.length) % chars.length] ?? '';
    out.push(`项目${a}${b}代号${i}`);
  }
  return out;
}

/** The group policy the corpus is judged by. */
export function groupPolicySpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dlp: [
      {
        name: 'contract-terms',
        keywords: ['机密合同', '技术专利', 'Project Phoenix', ...generatedKeywords(3000)],
        patterns: ['合同金额[:：]\\s*[¥￥]?\\d[\\d,]*'],
        scope: ['subject', 'body', 'attachments'],
        action: 'quarantine',
      },
      { name: 'personal-data', detectors: ['cn-id-card', 'bank-card'], action: 'quarantine' },
      { name: 'mobile-numbers', detectors: ['cn-mobile'], minMatches: 3, action: 'tag' },
      { name: 'top-secret', keywords: ['绝密'], scope: ['subject'], action: 'reject' },
    ],
    attachments: {
      blockExtensions: ['exe', 'bat', 'scr', 'com', 'pif', 'js', 'vbs'],
      inspectArchives: true,
      blockExecutableContent: true,
      maxSize: '1Mi',
      action: 'reject',
    },
    ...overrides,
  };
}

export function groupPolicy(overrides: Record<string, unknown> = {}): ScanPolicy {
  return parseScanPolicy({ name: 'group-dlp', direction: 'any', spec: groupPolicySpec(overrides) });
}
