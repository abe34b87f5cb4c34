// The client SDK's entry point: everything an app (in a browser or on Node) needs. Nothing
// reachable from here may import a Node built-in or a server package (test/client/browserSafe
// checks the whole import graph); Node apps may add `usePlatform(NodePlatform)` from
// src/platform/NodePlatform.ts for node:crypto speed.
export { MimiClient, MimiClientError, MimiGroup, MimiUser, type LeafIdentity, type MimiClientOptions, type MimiEvent, type ProviderLink, type ProviderResolver } from "./MimiClient.js";
export { ObliviousHttpTransport, TransportError, fetchKeyConfigs, type SimpleResponse, type TransportOptions } from "./ObliviousHttpTransport.js";
export { DsHttpClient, DsHttpError, type FetchLike } from "./DsHttpClient.js";
export { QueueClient, QueueClientError, type ReceivedMessage } from "./QueueClient.js";
export { fetchMimiDirectory, queryIdentifier, claimConnectionKeyPackages, DiscoveryError, type DiscoveredUser } from "./discovery.js";
export { ConnectionOfferError } from "./connectionOffer.js";
export { deriveUserAuthKey } from "./userAuthKey.js";
export { PortablePlatform, platform, usePlatform, type Platform } from "../platform/index.js";
