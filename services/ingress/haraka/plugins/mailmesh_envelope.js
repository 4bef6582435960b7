'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- Haraka loads plugins as CommonJS */
// MAIL FROM (sender identity, size) and RCPT TO (recipients, relay, limits).
const mm = require('./_mailmesh.js');

exports.register = function () {
  this.register_hook('mail', 'mailmesh');
  this.register_hook('rcpt', 'mailmesh');
};

exports.mailmesh = function (next, connection, params) {
  mm.run(this, connection.hook, next, connection, params);
};
