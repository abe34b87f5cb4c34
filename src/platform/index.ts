export type { Ed25519KeyPair, Platform } from "./Platform.js";
export { PortablePlatform } from "./PortablePlatform.js";
export { platform, usePlatform } from "./current.js";
export { signWithLabel } from "./signWithLabel.js";
