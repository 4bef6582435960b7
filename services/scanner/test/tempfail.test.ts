/**
 * clamd down under `onError: tempfail`: the envelope is redelivered, nothing is
 * published, and once clamd is back the mail gets its verdict — one output only.
 */
import { connect } from 'node:net';
import { fromBinary } from '@bufbuild/protobuf';
import { DeliveryEventSchema, Outcome, streams, subjects } from '@mailmesh/proto';
import { silentLogger, watchConfig, type Bus, type ObjectStore } from '@mailmesh/runtime';
import {
  EICAR,
  EICAR_SIGNATURE,
  freePort,
  startClamd,
  startMinio,
  startNats,
  type MinioPeer,
  type NatsPeer,
  type TcpServicePeer,
} from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClamdClient } from '../src/clamd.js';
import { buildScannerConfig, type ScannerConfig } from '../src/config.js';
import { tableResolver } from '../src/dns.js';
import { dsnMailId } from '../src/dsn.js';
import { startScanner, type Scanner } from '../src/service.js';
import { groupPolicySpec } from './group-policy.js';
import { mimeMessage } from './helpers/corpus.js';
import { mailOutputs, setup, submit, waitFor, writeConfig } from './helpers/pipeline.js';

let nats: NatsPeer;
let minio: MinioPeer;
let clamd: TcpServicePeer;
let bus: Bus;
let store: ObjectStore;
let scanner: Scanner | undefined;
let stopConfig: (() => Promise<void>) | undefined;
let clamdPort = 0;

beforeAll(async () => {
  [nats, minio, clamd] = await Promise.all([startNats(), startMinio(), startClamd()]);
  ({ bus, store } = await setup(nats, minio, 30_000));
  await writeConfig(bus, groupPolicySpec({ antivirus: { action: 'reject', onError: 'tempfail' } }));
  const config = watchConfig<ScannerConfig>(bus, buildScannerConfig);
  stopConfig = () => config.stop();
  await config.ready;
  clamdPort = await freePort(); // nothing listens here: clamd is "down"
  scanner = await startScanner({
    bus,
    store,
    log: silentLogger(),
    config: () => config.current().value,
    deps: {
      // The dialer reads the port at each scan, so the test can bring clamd "back".
      clamd: createClamdClient({
        host: '127.0.0.1',
        port: 0,
        timeoutMs: 5_000,
        dial: (host) => connect({ host, port: clamdPort }),
      }),
      resolver: tableResolver({}),
    },
    instance: 'scanner-tempfail',
    hostname: 'mx.sh.company.local',
    retryDelayMs: () => 300,
  });
});

afterAll(async () => {
  await scanner?.stop();
  await stopConfig?.();
  await bus?.close();
  await store?.close();
  await Promise.all([nats?.stop(), minio?.stop(), clamd?.stop()]);
});

describe('antivirus unavailable with onError: tempfail', () => {
  it('redelivers until clamd answers, then rejects once', async () => {
    const eicar = Buffer.from(EICAR, 'latin1');
    const { mailId } = await submit(
      bus,
      store,
      mimeMessage({ attachments: [{ filename: 'e.txt', content: eicar }] }),
    );

    await waitFor('two redeliveries', async () => {
      const info = await bus.jsm.consumers.info(streams.mail.name, 'scanner');
      return info.num_redelivered >= 1 && info.delivered.consumer_seq >= 3 ? info : undefined;
    });
    expect((await mailOutputs(bus)).map((o) => o.subject)).toEqual([subjects.accepted]);

    clamdPort = clamd.port;
    const dsn = await waitFor('the DSN', async () => {
      const out = await mailOutputs(bus);
      const accepted = out.some((o) => o.mailId === mailId);
      const d = out.filter((o) => o.mailId === dsnMailId(mailId));
      return !accepted && d.length > 0 ? d : undefined;
    });
    expect(dsn.map((o) => o.subject)).toEqual([subjects.scanned]);
    const m = await bus.jsm.streams.getMessage(streams.events.name, {
      last_by_subj: subjects.event('scanner', mailId),
    });
    const ev = fromBinary(DeliveryEventSchema, m!.data);
    expect([ev.outcome, ev.message, ev.detail]).toEqual([
      Outcome.REJECTED,
      `rejected by policy group-dlp rule ${EICAR_SIGNATURE}`,
      `antivirus:group-dlp/${EICAR_SIGNATURE}`,
    ]);
  });
});
