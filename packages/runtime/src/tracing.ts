import {
  context as otelContext,
  propagation,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanKind,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';

const TRACER_NAME = '@mailmesh/runtime';

export interface TracingOptions {
  /**
   * Where finished spans go. Default: none, or the console when
   * MAILMESH_TRACE_CONSOLE=1. Exported spans are sent one by one (`simple`) when
   * `batch` is false, which tests use to read spans back immediately.
   */
  readonly exporter?: SpanExporter;
  readonly batch?: boolean;
  readonly instance?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface Tracing {
  readonly provider: NodeTracerProvider;
  /** Flushes pending spans and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Registers a global tracer provider with the W3C Trace Context propagator and the
 * async-hooks context manager, so `traceparent` travels through NATS headers and
 * the active span follows `await`. Call once per process, before anything else.
 */
export function initTracing(service: string, options: TracingOptions = {}): Tracing {
  const env = options.env ?? process.env;
  const processors: SpanProcessor[] = [];
  const exporter =
    options.exporter ??
    (env['MAILMESH_TRACE_CONSOLE'] === '1' ? new ConsoleSpanExporter() : undefined);
  if (exporter) {
    processors.push(
      options.batch === true ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter),
    );
  }
  const attrs: Attributes = { 'service.name': service };
  if (options.instance) attrs['service.instance.id'] = options.instance;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(attrs),
    spanProcessors: processors,
    // With nowhere to send spans, record none: spans still get ids and the
    // traceparent still travels (DESIGN rule 5), but no span objects are built.
    ...(exporter ? {} : { sampler: new AlwaysOffSampler() }),
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    provider,
    shutdown: () => provider.shutdown(),
  };
}

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** OpenTelemetry carrier accessors over NATS message headers. */
export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys(carrier) {
    return carrier ? carrier.keys() : [];
  },
  get(carrier, key) {
    if (!carrier?.has(key)) return undefined;
    return carrier.get(key);
  },
};

/** Writes the context's `traceparent`/`tracestate` into `headers` (created if absent). */
export function injectTrace(headers?: MsgHdrs, ctx: Context = otelContext.active()): MsgHdrs {
  const h = headers ?? natsHeaders();
  propagation.inject(ctx, h, natsHeaderSetter);
  return h;
}

/** The remote context carried by `headers`, on top of `base` (default: the active context). */
export function extractTrace(
  headers: MsgHdrs | undefined,
  base: Context = otelContext.active(),
): Context {
  return propagation.extract(base, headers, natsHeaderGetter);
}

export interface SpanOptions {
  readonly kind?: SpanKind;
  /** Parent context; default the active one. */
  readonly context?: Context;
}

/**
 * Runs `fn` inside a new active span; an exception is recorded, marks the span as
 * an error and is rethrown. The span always ends.
 */
export async function withSpan<R>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<R> | R,
  options: SpanOptions = {},
): Promise<R> {
  const parent = options.context ?? otelContext.active();
  const spanOpts = options.kind === undefined ? { attributes } : { attributes, kind: options.kind };
  const span = tracer().startSpan(name, spanOpts, parent);
  try {
    return await otelContext.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: err instanceof Error ? err.message : String(err),
    });
    throw err;
  } finally {
    span.end();
  }
}

/** The trace id of the active span, for log lines; undefined outside a sampled span. */
export function activeTraceId(ctx: Context = otelContext.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  return sc && trace.isSpanContextValid(sc) ? sc.traceId : undefined;
}
