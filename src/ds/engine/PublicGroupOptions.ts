// Policy knobs of the engine. Defaults mirror what ts-mls 1.6.4 members do, so that the DS
// accepts exactly the commits its members accept (a stricter DS only refuses; a laxer one forks).
import {
  defaultClientConfig,
  defaultKeyPackageEqualityConfig,
  encodeCredential,
  constantTimeEqual,
  type AuthenticationService,
  type ClientConfig,
  type KeyPackageEqualityConfig,
  type LeafNode,
} from "../../mls/adapter.js";

export interface PublicGroupOptions {
  /** Validates credentials of leaves and external senders. Default: ts-mls's accept-all. */
  authService?: AuthenticationService;
  /** Check KeyPackage lifetimes of added members (members do not by default). */
  validateLifetimes?: boolean;
  /** Seconds since the epoch, for lifetime checks. */
  now?: () => bigint;
  /**
   * RFC 9420 s12.4 requires an UpdatePath for a commit with a GroupContextExtensions proposal;
   * ts-mls 1.6.4 members neither send nor require one. Default false (mirror the members).
   */
  requirePathForGroupContextExtensions?: boolean;
  /**
   * External-commit resync (RFC 9420 s12.4.3.2): the removed leaf and the joiner must be the same
   * client. Default: byte-identical credentials.
   */
  sameClient?: (removed: LeafNode, joiner: LeafNode) => boolean;
  /** How two KeyPackages / a KeyPackage and a leaf are "the same client" (s12.2). */
  keyPackageEquality?: KeyPackageEqualityConfig;
}

export interface ResolvedOptions {
  authService: AuthenticationService;
  validateLifetimes: boolean;
  now: () => bigint;
  requirePathForGroupContextExtensions: boolean;
  sameClient: (removed: LeafNode, joiner: LeafNode) => boolean;
  clientConfig: ClientConfig;
}

export function sameCredential(a: LeafNode, b: LeafNode): boolean {
  const x = encodeCredential(a.credential);
  const y = encodeCredential(b.credential);
  return x.length === y.length && constantTimeEqual(x, y);
}

export function resolveOptions(o: PublicGroupOptions = {}): ResolvedOptions {
  const authService = o.authService ?? defaultClientConfig.authService;
  const validateLifetimes = o.validateLifetimes ?? false;
  return {
    authService,
    validateLifetimes,
    now: o.now ?? (() => BigInt(Math.floor(Date.now() / 1000))),
    requirePathForGroupContextExtensions: o.requirePathForGroupContextExtensions ?? false,
    sameClient: o.sameClient ?? sameCredential,
    // the ClientConfig handed to ts-mls's applyProposals: our AS and equality, members' defaults else
    clientConfig: {
      ...defaultClientConfig,
      authService,
      keyPackageEqualityConfig: o.keyPackageEquality ?? defaultKeyPackageEqualityConfig,
      lifetimeConfig: { ...defaultClientConfig.lifetimeConfig, validateLifetimeOnReceive: validateLifetimes },
    },
  };
}
