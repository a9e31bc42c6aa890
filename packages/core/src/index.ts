import "reflect-metadata";

export { NatsApp } from "./app/nats-app.js";
export type { AppSubscription } from "./app/nats-app.js";
export type { NatsAppOptions } from "./app/options.js";
export { defineRouter } from "./app/router.js";
export type { Router, RouterOptions, RouterSubscription } from "./app/router.js";
export type { BeforeShutdown, OnReady, OnShutdown, OnStartup } from "./app/lifespan.js";
export { loadSettings } from "./app/settings.js";
export type { SettingsOptions } from "./app/settings.js";
export type { Environment } from "./app/connection-options.js";
export { DEFAULT_CONCURRENCY, DEFAULT_MAX_PENDING } from "./metadata/explorer.js";
export type { AppSubscribeOptions } from "./kinds/subscribe/subscribe.js";
export type { ServiceOptions } from "./service/micro.js";
export type { AsyncApiDocument, AsyncApiInfo } from "./asyncapi/document.js";

export { Controller } from "./decorators/controller.js";
export type { ControllerOptions } from "./decorators/controller.js";
export { Subscribe } from "./kinds/subscribe/subscribe.js";
export type { SubscribeOptions } from "./kinds/subscribe/subscribe.js";
export { Publish } from "./decorators/publish.js";
export { Use } from "./decorators/use.js";
export { Catch } from "./decorators/catch.js";
export { Payload } from "./decorators/payload.js";
export { Headers } from "./decorators/headers.js";
export { Subject } from "./decorators/subject.js";
export { Param } from "./decorators/param.js";
export { Msg } from "./decorators/msg.js";
export { Ctx } from "./decorators/ctx.js";
export { Consume } from "./kinds/consume/consume.js";
export { Delivery } from "./kinds/consume/delivery.js";
export { WatchKv } from "./kinds/watch/watch-kv.js";
export { WatchObjects } from "./kinds/watch/watch-objects.js";
export { KvEntry } from "./kinds/watch/kv-entry.js";
export { InjectKv } from "./decorators/inject-kv.js";
export { InjectObjectStore } from "./decorators/inject-object-store.js";
export { InjectPublisher } from "./decorators/inject-publisher.js";

export { defineStream } from "./resources/stream.js";
export type { StreamDeclaration, StreamOptions } from "./resources/stream.js";
export type { AckMode, BatchOptions, ConsumeOptions, DurableConsumeOptions, EphemeralConsumeOptions, OrderedConsumeOptions, RetryOptions, ServerConsumerOptions } from "./kinds/consume/options.js";
export { JetStreamBatch, JetStreamDelivery } from "./kinds/consume/jetstream-delivery.js";
export type { BatchItem, Settlement } from "./kinds/consume/jetstream-delivery.js";
export type { BatchOutcome } from "./kinds/consume/batch.js";
export type { Duration } from "./duration.js";
export { defineKv, KvHandle, kvToken } from "./resources/kv.js";
export type { KvChange, KvDeclaration, KvOperation, KvOptions, KvValue } from "./resources/kv.js";
export type { KvEntryInfo, WatchKvOptions } from "./kinds/watch/kv-watch.js";
export { defineObjectStore, ObjectStoreHandle, objectStoreToken } from "./resources/object-store.js";
export type { ObjectStoreDeclaration, ObjectStoreOptions } from "./resources/object-store.js";
export type { ObjectChangeInfo, WatchObjectsOptions } from "./kinds/watch/object-watch.js";
export {
  DEAD_LETTER_CONSUMER_HEADER,
  DEAD_LETTER_DELIVERIES_HEADER,
  DEAD_LETTER_ERROR_HEADER,
  DEAD_LETTER_SEQUENCE_HEADER,
  DEAD_LETTER_STREAM_HEADER,
  DEAD_LETTER_SUBJECT_HEADER,
} from "./kinds/consume/dead-letter.js";

export { Broker, encodePayload, JetStreamPublisher } from "./broker/broker.js";
export { definePublisher, Publisher, publisherToken } from "./broker/publisher.js";
export type { AnyPublisherDeclaration, PublisherDeclaration, PublisherOptions, PublisherSendOptions } from "./broker/publisher.js";
export type { NatsOutgoingMiddleware, OutgoingMessage, OutgoingMiddleware, OutgoingMiddlewareSpec } from "./broker/outgoing.js";
export type { BrokerPublishOptions, BrokerRequestOptions, JetStreamBrokerPublishOptions, Payload as PublishPayload } from "./broker/broker.js";
export type { ConsumeLoopOptions, FetchOptions, PulledMessage, PulledMessages, PullOptions } from "./broker/pull.js";

export { bytesCodec, jsonCodec, stringCodec } from "./codec/codec.js";
export type { Codec, CodecOption } from "./codec/codec.js";
export { validate } from "./validation/standard-schema.js";
export type { StandardSchemaV1 } from "./validation/standard-schema.js";

export type { Constructor, Provider, ProviderScope } from "./di/providers.js";
export type { CreateOptions, Override } from "./di/overrides.js";
export { HEADERS, LOGGER, MESSAGE } from "./di/tokens.js";

export { MessageContext, createContextKey, reply, Reply } from "./dispatch/context.js";
export type { ContextKey, HandlerInfo, OutboundReply } from "./dispatch/context.js";
export { SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER } from "./dispatch/error-reply.js";
export { catchErrors, HandledError } from "./dispatch/exceptions.js";
export type { ErrorClass, ErrorOutcome, ExceptionHandler, ReplyOutcome, SettleOutcome } from "./dispatch/exceptions.js";

export {
  ConnectionError,
  HandlerError,
  InvalidHeaderError,
  InvalidSubjectError,
  NatsflowError,
  NoMatchError,
  NoRespondersError,
  OutgoingValidationError,
  OverloadedError,
  PubAckError,
  RequestTimeoutError,
  RevisionMismatchError,
  ServiceError,
  SetupError,
  SubscriptionError,
  ValidationError,
} from "./errors.js";
export type { ValidationIssue } from "./errors.js";

export { createLogger, REDACTED_KEYS } from "./logging/logger.js";
export { Metrics } from "./observability/metrics.js";
export type { Counter, Gauge, Histogram } from "./observability/metrics.js";
export type { HttpOptions } from "./observability/http-server.js";
export type { Logger } from "./logging/logger.js";

export { addHandler, defineController, getControllerMetadata, getHandlers } from "./metadata/handler-metadata.js";
export type { ControllerMetadata, ControllerScope, HandlerMetadata, HandlerOptions, HandlerSite, MessageFilter } from "./metadata/handler-metadata.js";

export { compose } from "./middleware/compose.js";
export type { Middleware, MiddlewareClass, MiddlewareSpec, NatsMiddleware, Next } from "./middleware/middleware.js";

export {
  checkBucketName,
  checkHeaders,
  checkJetStreamName,
  checkJetStreamSend,
  checkKvKey,
  checkSend,
  checkSubject,
  checkSubscription,
  compileSubject,
  filterCovers,
  isValidSubject,
  isValidSubjectFilter,
  MAX_SUBJECT_BYTES,
} from "./subjects.js";

export type {
  ConnectionOptions,
  ConsumerConfig,
  HeadersInit,
  InboundMessage,
  JetStream,
  JetStreamMessage,
  JetStreamPublishOptions,
  JetStreamPull,
  KvBucket,
  KvBucketOptions,
  KvWatchOptions,
  MessageHeaders,
  ObjectChange,
  ObjectInfo,
  ObjectStoreBucket,
  ObjectStoreBucketOptions,
  PubAck,
  PublishOptions,
  PullConsumer,
  RequestOptions,
  StreamConfig,
  StartAt,
  SubscribeOptions as TransportSubscribeOptions,
  TlsOptions,
  Transport,
  TransportFactory,
  TransportStatus,
  TransportSubscription,
} from "./transport/transport.js";

export { connectNats } from "./transport/nats-transport.js";

export { inject, injectable, singleton } from "tsyringe";
export type { DependencyContainer, InjectionToken } from "tsyringe";
