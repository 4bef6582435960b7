/**
 * The corpus with its expected outcome under `groupPolicy()`: each message, the
 * verdict, and every reason as `check rule action`. Used by the pure corpus test
 * and, with antivirus and spam added, by the integration test.
 */
import iconv from 'iconv-lite';

import { FAKE_PE, corpusFile, docx, mimeMessage, pdf, zip } from './corpus.js';

export interface CorpusCase {
  readonly name: string;
  readonly message: () => Promise<Buffer> | Buffer;
  readonly verdict: 'pass' | 'tag' | 'quarantine' | 'reject';
  /** `check rule action`, in evaluation order. */
  readonly reasons: readonly string[];
}

export const contentCases: readonly CorpusCase[] = [
  { name: 'clean', message: () => corpusFile('clean.eml'), verdict: 'pass', reasons: [] },
  {
    name: 'dlp-utf8-hit',
    message: () => corpusFile('dlp-utf8-hit.eml'),
    verdict: 'quarantine',
    reasons: ['dlp group-dlp/contract-terms quarantine'],
  },
  {
    name: 'dlp-utf8-near-miss',
    message: () => corpusFile('dlp-utf8-near-miss.eml'),
    verdict: 'pass',
    reasons: [],
  },
  {
    name: 'dlp-gbk-hit',
    message: () => corpusFile('dlp-gbk-hit.eml'),
    verdict: 'quarantine',
    reasons: ['dlp group-dlp/contract-terms quarantine'],
  },
  {
    name: 'dlp-gbk-near-miss',
    message: () => corpusFile('dlp-gbk-near-miss.eml'),
    verdict: 'pass',
    reasons: [],
  },
  {
    name: 'dlp-big5-hit',
    message: () => corpusFile('dlp-big5-hit.eml'),
    verdict: 'quarantine',
    reasons: ['dlp group-dlp/contract-terms quarantine'],
  },
  {
    name: 'dlp-big5-near-miss',
    message: () => corpusFile('dlp-big5-near-miss.eml'),
    verdict: 'pass',
    reasons: [],
  },
  {
    name: 'dlp-detectors-hit',
    message: () => corpusFile('dlp-detectors-hit.eml'),
    verdict: 'quarantine',
    reasons: ['dlp group-dlp/personal-data quarantine'],
  },
  {
    name: 'dlp-detectors-near-miss',
    message: () => corpusFile('dlp-detectors-near-miss.eml'),
    verdict: 'pass',
    reasons: [],
  },
  {
    name: 'dlp-mobiles-tag',
    message: () => corpusFile('dlp-mobiles-tag.eml'),
    verdict: 'tag',
    reasons: ['dlp group-dlp/mobile-numbers tag'],
  },
  {
    name: 'dlp-subject-reject',
    message: () => corpusFile('dlp-subject-reject.eml'),
    verdict: 'reject',
    reasons: ['dlp group-dlp/top-secret reject'],
  },
  {
    name: 'attach-rfc2231-double-ext',
    message: () => corpusFile('attach-rfc2231-double-ext.eml'),
    verdict: 'reject',
    reasons: ['attachment group-dlp/blocked-extension reject'],
  },
  {
    name: 'torture-nested',
    message: () => corpusFile('torture-nested.eml'),
    verdict: 'reject',
    reasons: ['attachment group-dlp/blocked-extension reject'],
  },
  {
    name: 'torture-truncated',
    message: () => corpusFile('torture-truncated.eml'),
    verdict: 'pass',
    reasons: [],
  },
  {
    name: 'torture-broken',
    message: () => corpusFile('torture-broken.eml'),
    verdict: 'pass',
    reasons: [],
  },
  {
    name: 'renamed-exe',
    message: () =>
      mimeMessage({
        attachments: [{ filename: 'holiday.jpg', content: FAKE_PE, contentType: 'image/jpeg' }],
      }),
    verdict: 'reject',
    reasons: ['attachment group-dlp/executable-content reject'],
  },
  {
    name: 'zipped-exe',
    message: async () =>
      mimeMessage({
        attachments: [
          {
            filename: 'docs.zip',
            content: await zip([{ name: 'invoice.pdf.exe', content: FAKE_PE }]),
            contentType: 'application/zip',
          },
        ],
      }),
    verdict: 'reject',
    reasons: [
      'attachment group-dlp/blocked-extension reject',
      'attachment group-dlp/executable-content reject',
    ],
  },
  {
    name: 'docx-dlp-hit',
    message: async () =>
      mimeMessage({
        attachments: [
          {
            filename: '合同.docx',
            content: await docx(['普通段落', '这份机密合同不得外传']),
            contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
          },
        ],
      }),
    verdict: 'quarantine',
    reasons: ['dlp group-dlp/contract-terms quarantine'],
  },
  {
    name: 'pdf-dlp-hit',
    message: () =>
      mimeMessage({
        attachments: [
          {
            filename: 'plan.pdf',
            content: pdf('Roadmap of PROJECT-PHOENIX, do not share'),
            contentType: 'application/pdf',
          },
        ],
      }),
    verdict: 'quarantine',
    reasons: ['dlp group-dlp/contract-terms quarantine'],
  },
  {
    name: 'pdf-near-miss',
    message: () =>
      mimeMessage({
        attachments: [
          {
            filename: 'plan.pdf',
            content: pdf('Roadmap of project phoenician pottery'),
            contentType: 'application/pdf',
          },
        ],
      }),
    verdict: 'pass',
    reasons: [],
  },
  {
    name: 'csv-gbk-detectors',
    message: () =>
      mimeMessage({
        attachments: [
          {
            filename: '客户.csv',
            content: iconv.encode('姓名,身份证\n张三,310115199003071239\n', 'gbk'),
            contentType: 'text/csv',
          },
        ],
      }),
    verdict: 'quarantine',
    reasons: ['dlp group-dlp/personal-data quarantine'],
  },
];
