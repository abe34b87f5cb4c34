// Locating the repository and the CLI from a test, whether it runs under tsx (test/*.ts) or
// compiled (dist/test/*.js).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, "package.json")) && existsSync(join(d, ".ci"))) return d;
    const up = dirname(d);
    if (up === d) throw new Error("repository root not found");
    d = up;
  }
}

export function vectorPath(...parts: string[]): string {
  return join(repoRoot(), "test", "vectors", ...parts);
}

/** argv to run `mimi-ds` from a test: compiled CLI when the tests are compiled, tsx otherwise. */
export function cliArgv(): string[] {
  const compiled = !fileURLToPath(import.meta.url).endsWith(".ts");
  return compiled ? [join(repoRoot(), "dist", "src", "cli", "main.js")] : ["--import", "tsx", join(repoRoot(), "src", "cli", "main.ts")];
}
