'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- Haraka loads plugins as CommonJS */
// Connection lifecycle: session state and audit, local reverse-DNS answer (no DNS
// traffic), connection policy (allow-lists, limits), EHLO capabilities.
const mm = require('./_mailmesh.js');

exports.register = function () {
  for (const hook of [
    'connect_init',
    'lookup_rdns',
    'connect',
    'capabilities',
    'helo',
    'ehlo',
    'disconnect',
  ]) {
    this.register_hook(hook, 'mailmesh');
  }
};

exports.mailmesh = function (next, connection, params) {
  mm.run(this, connection.hook, next, connection, params);
};
