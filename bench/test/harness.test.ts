import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  smtpSource,
  startPostfix,
  startSmtpSink,
  type PostfixPeer,
  type SmtpSink,
} from '../src/index.js';

// The benchmark harness itself must be right before its figures mean anything:
// a small, bounded load through each peer, asserting what arrived.
describe('bench harness peers', () => {
  let sink: SmtpSink;
  let relay: PostfixPeer;
  let accept: PostfixPeer;

  beforeAll(async () => {
    sink = await startSmtpSink();
    relay = await startPostfix({ mode: 'relay', sinkPort: sink.port });
    accept = await startPostfix({ mode: 'accept' });
  });
  afterAll(async () => {
    await relay?.stop();
    await accept?.stop();
    await sink?.stop();
  });

  it('smtp-source into smtp-sink counts every message', async () => {
    const before = sink.messages();
    await smtpSource({ port: sink.port, sessions: 5, messages: 50 });
    await sink.waitForMessages(before + 50, 10_000);
    expect(sink.messages()).toBe(before + 50);
  });

  it('a temp-dir Postfix relays every message to the sink and empties its queue', async () => {
    const before = sink.messages();
    await smtpSource({ port: relay.port, sessions: 5, messages: 40 });
    await sink.waitForMessages(before + 40, 30_000);
    expect(sink.messages()).toBe(before + 40);
    expect(await relay.queueEmpty()).toBe(true);
  });

  it('accept mode keeps mail queued without delivering it', async () => {
    await smtpSource({ port: accept.port, sessions: 2, messages: 10 });
    expect(await accept.queueEmpty()).toBe(false);
    await accept.purge();
    expect(await accept.queueEmpty()).toBe(true);
  });
});
