'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- Haraka loads plugins as CommonJS */
// DATA: size limit, data timeout, From: identity, SPF, durable acceptance
// (S3 spool + JetStream ack) and the queue reply.
const mm = require('./_mailmesh.js');

exports.register = function () {
  for (const hook of ['data', 'data_post', 'queue', 'queue_outbound']) {
    this.register_hook(hook, 'mailmesh');
  }
};

exports.mailmesh = function (next, connection, params) {
  mm.run(this, connection.hook, next, connection, params);
};
