import { describe, expect, it } from 'vitest';
import { busOptionsFromEnv, objectStoreOptionsFromEnv } from '../src/index.js';

describe('connection settings from the environment', () => {
  it('defaults to loopback NATS and MinIO without credentials', () => {
    expect(busOptionsFromEnv('router-a', {})).toEqual({
      servers: ['nats://127.0.0.1:4222'],
      name: 'router-a',
    });
    expect(objectStoreOptionsFromEnv({})).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      accessKey: '',
      secretKey: '',
    });
  });

  it('reads every MAILMESH_NATS_* and MAILMESH_S3_* variable', () => {
    const env = {
      MAILMESH_NATS_URL: 'nats://a:4222, nats://b:4222',
      MAILMESH_NATS_USER: 'scanner',
      MAILMESH_NATS_PASS: 'pw',
      MAILMESH_NATS_TOKEN: 't0k',
      MAILMESH_S3_ENDPOINT: 'https://s3.mail.local',
      MAILMESH_S3_ACCESS_KEY: 'ak',
      MAILMESH_S3_SECRET_KEY: 'sk',
      MAILMESH_S3_REGION: 'cn-north-1',
    };
    expect(busOptionsFromEnv('scanner-0', env)).toEqual({
      servers: ['nats://a:4222', 'nats://b:4222'],
      name: 'scanner-0',
      user: 'scanner',
      pass: 'pw',
      token: 't0k',
    });
    expect(objectStoreOptionsFromEnv(env)).toEqual({
      endpoint: 'https://s3.mail.local',
      accessKey: 'ak',
      secretKey: 'sk',
      region: 'cn-north-1',
    });
  });
});
