export { AuthCallout, AUTH_CALLOUT_SUBJECT, DEFAULT_AUTH_CONCURRENCY, DEFAULT_AUTH_MAX_PENDING, DEFAULT_AUTH_QUEUE } from "./decorators/auth-callout.js";
export type { AuthCalloutDecoratorOptions, Authorizer } from "./decorators/auth-callout.js";

export { AuthCalloutConfig, authCalloutConfig } from "./config/callout-config.js";
export type { AccountSigner, AuthCalloutOptions, CalloutMode, OperatorAccountOptions, OperatorModeOptions, RequestSignatureCheck } from "./config/callout-config.js";
export { canonicalUsername, DEFAULT_FAILURE_BUCKET } from "./config/brute-force.js";
export type { BruteForceOptions, BruteForceSettings, FailureBudget, FailureBudgetOptions } from "./config/brute-force.js";
export { BruteForceGuard } from "./pipeline/brute-force.js";
export type { CountedLogin } from "./pipeline/brute-force.js";
export { addressKey } from "./pipeline/client-address.js";
export { KvFailureStore, MemoryFailureStore } from "./pipeline/failure-store.js";
export type { Change, Clock, FailureStore, KvFailureStoreOptions, OnLockout } from "./pipeline/failure-store.js";
export { isLocked, retryAt, withFailure } from "./pipeline/failure-policy.js";
export type { FailureRecord, Timing } from "./pipeline/failure-policy.js";
export { issueUserJwt, signUserJwt } from "./grant/user-claims.js";
export type { IssuedUser, UserIssuer } from "./grant/user-claims.js";
export { issueUserCredentials, parseCreds } from "./creds/creds.js";
export type { IssueUserCredentialsOptions, ParsedCredentials, UserCredentials } from "./creds/creds.js";

export { AuthError, AuthorizerTimeoutError, CalloutRequestError, GrantExpiredError, InvalidGrantError, KeyError, LoginLockedError } from "./errors.js";

export type { ConnectionType, Grant, Permissions, ResponsePermission, SubjectPermission, TimeRange, UserLimits } from "./grant/grant.js";
export { validateGrant, validatePermissions } from "./grant/grant.js";

export { AuthRequest } from "./request/auth-request.js";
export type {
  AuthorizationRequest,
  AuthorizationRequestClaims,
  ClientInfo,
  ClientTls,
  ConnectOpts,
  ServerId,
} from "./request/auth-request.js";

export { decodeJwt, encodeJwt, verifyJwt, JWT_ALGORITHM } from "./jwt/jwt.js";
export type { DecodedJwt, JwtClaims } from "./jwt/jwt.js";
export { Ed25519Signer, verifyEd25519 } from "./keys/ed25519.js";
export { isPublicKey } from "./keys/nkeys.js";
export type { PublicKeyKind } from "./keys/nkeys.js";
export { XKey } from "./keys/xkey.js";

export { REQUEST_AUDIENCE, REQUEST_TYPE } from "./pipeline/verify-request.js";
export { RESPONSE_TYPE } from "./pipeline/respond.js";
export type { CalloutDecision, ReasonKind } from "./pipeline/respond.js";
export { SERVER_XKEY_HEADER } from "./pipeline/open-xkey.js";

export { clientCertificate } from "./credentials/tls.js";
export type { ClientCertificate } from "./credentials/tls.js";
export { configurePasswordHashing, hashPassword, verifyPassword } from "./credentials/password.js";
export type { PasswordHashingOptions, VerifyPasswordOptions } from "./credentials/password.js";
export { verifyNkey } from "./credentials/nkey.js";
export { verifyNonceSignature } from "./credentials/nonce-signature.js";
export { verifyPresentedJwt } from "./credentials/user-jwt.js";
export type { PresentedJwtOptions, PresentedUserClaims } from "./credentials/user-jwt.js";

export { grantTemplate } from "./grant/template.js";
export type { TemplateValues } from "./grant/template.js";
export { BearerTokenVerifier, claimValues, grantFromClaims } from "./identity/bearer-token.js";
export type { BearerTokenOptions, TokenClaims } from "./identity/bearer-token.js";
