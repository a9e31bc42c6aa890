import "reflect-metadata";

export { NatsApp } from "./app/nats-app.js";
export type { NatsAppOptions } from "./app/options.js";

export { Broker, Reply, encodePayload } from "./broker/broker.js";
export type { BrokerPublishOptions, BrokerRequestOptions, Payload } from "./broker/broker.js";

export type { Constructor, Provider } from "./di/providers.js";
export { LOGGER } from "./di/tokens.js";

export { MessageContext, createContextKey } from "./dispatch/context.js";
export type { ContextKey, HandlerInfo, OutboundReply } from "./dispatch/context.js";

export {
  ConnectionError,
  HandlerError,
  NatsflowError,
  NoRespondersError,
  RequestTimeoutError,
  SetupError,
} from "./errors.js";

export { createLogger, REDACTED_PATHS } from "./logging/logger.js";
export type { Logger } from "./logging/logger.js";

export { addHandler, defineController, getControllerMetadata, getHandlers } from "./metadata/handler-metadata.js";
export type { ControllerMetadata, HandlerMetadata, HandlerOptions } from "./metadata/handler-metadata.js";

export { compose } from "./middleware/compose.js";
export type { Middleware, MiddlewareClass, MiddlewareSpec, NatsMiddleware, Next } from "./middleware/middleware.js";

export { isValidSubject, isValidSubjectFilter } from "./subjects.js";

export type {
  ConnectionOptions,
  HeadersInit,
  InboundMessage,
  MessageHeaders,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
  Transport,
  TransportFactory,
  TransportStatus,
  TransportSubscription,
} from "./transport/transport.js";

export { inject, injectable, singleton } from "tsyringe";
export type { DependencyContainer, InjectionToken } from "tsyringe";
