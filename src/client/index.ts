// The package's public API: the client library (src/client/hunt-client.ts) and its types.
export { HuntClient, HuntError, jwtExpiryMs } from './hunt-client.js';
export type { ClientEvent, HuntClientOptions, PublishResult, TokenProvider, Update, WebSocketConstructor, WebSocketLike } from './hunt-client.js';
export { ReplayStream } from './replay-stream.js';
export type { ReplayOptions, ReplayedEvent } from './replay-stream.js';
export type { MetaRecord } from '../shared/metadata.js';
