export { freePort, median, run, sleep, treeCpuMs } from './proc.js';
export { smtpSource, type SourceOptions } from './source.js';
export { startSmtpSink, type SmtpSink } from './peers/sink.js';
export { startPostfix, type PostfixPeer } from './peers/postfix.js';
export { measure, type Measurement, type Trial } from './measure.js';
