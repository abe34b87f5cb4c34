// The platform client-side code uses. Portable by default, so nothing Node-only is needed to
// run the SDK; Node programs may switch to NodePlatform for speed (same bytes on the wire).
import type { Platform } from "./Platform.js";
import { PortablePlatform } from "./PortablePlatform.js";

let active: Platform = PortablePlatform;

export function platform(): Platform {
  return active;
}

export function usePlatform(p: Platform): void {
  active = p;
}
